"""One error shape per API family, chosen by the request path, status chosen by error type."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from autonom.errors import (
    AutonomError,
    InvalidRequestError,
)
from autonom.server.state import state
from autonom.services.gateway import CallContext

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded",
                 413: "request_too_large"}


def openai_error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param,
                      "code": _OPENAI_CODES.get(status)}}


def error_body(path: str, status: int, message: str, param: str | None = None) -> Any:
    if path.startswith("/v1"):
        return openai_error(status, message, param)
    return {"error": message}


def error_response(request: Request, status: int, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request.url.path, status, message, param), status_code=status,
                        headers=headers)


async def on_autonom_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutonomError)
    headers = None
    if exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(request, exc.status, str(exc), headers=headers)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    where = ".".join(loc)
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    if first.get("type") == "json_invalid":  # the location is a byte offset, not a field
        position = f" (at character {where})" if where else ""
        message, where = f"request body is not valid JSON{position}", ""
    _log_refusal(request, InvalidRequestError(message))
    return error_response(request, 400, message, param=where or None)


def _log_refusal(request: Request, error: AutonomError) -> None:
    """The request log row of a body that did not validate, with the caller's key when the
    request names exactly one valid key."""
    shared = state(request)
    try:
        key = shared.access.caller(request.headers.getlist("authorization"), None)
    except AutonomError:
        key = None
    shared.gateway.refused(CallContext(route=request.url.path, key=key), error)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = {404: f"no route {request.method} {request.url.path}",
               405: f"method {request.method} not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, message, headers=headers)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 500, f"internal error: {type(exc).__name__}")
