"""The OpenAPI document, with the errors the API really answers.

FastAPI documents 422 for validation errors; autonom answers them with 400, and every route
can also answer 401/403 (keys), 404 (unknown model or collection), 413 (body too large),
429 (rate limit), 500/502/503/504 (engine, upstream, busy, deadline) — in the OpenAI error
shape under ``/v1`` and Ollama's ``{"error": "..."}`` elsewhere. This module writes those
into the schema, so clients and schema-driven tests know them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERRORS = {
    400: "Invalid request (validation, limits, bad text)",
    401: "Missing, invalid or revoked API key",
    403: "The key lacks the scope or the collection grant; refused by policy",
    404: "Unknown model, collection, document or route",
    413: "Request body too large",
    429: "Rate limit reached (see Retry-After)",
    500: "Internal error",
    502: "A model server behind autonom failed",
    503: "Busy: queue full or backend cooling down (see Retry-After)",
    504: "The request passed its deadline",
}
_OPENAI_ERROR = {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]},
                       "code": {"type": ["string", "null"]}}}}}
_OLLAMA_ERROR = {"type": "object", "required": ["error"],
                 "properties": {"error": {"type": "string"}}}
_OPEN_ROUTES = {"/health", "/api/version"}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the schema with documented error responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["OpenAIError"] = _OPENAI_ERROR
    components["OllamaError"] = _OLLAMA_ERROR
    for path, operations in schema.get("paths", {}).items():
        if path in _OPEN_ROUTES:
            continue
        shape = "OpenAIError" if path.startswith("/v1") else "OllamaError"
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in ERRORS.items():
                responses.setdefault(str(status), {
                    "description": description,
                    "content": {"application/json": {
                        "schema": {"$ref": f"#/components/schemas/{shape}"}}}})
