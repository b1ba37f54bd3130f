"""The ASGI application: built from explicit objects, no module-level state."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autonom import __version__, logs
from autonom.errors import AutonomError
from autonom.mcp import http as mcp_http
from autonom.mcp import server as mcp_knowledge
from autonom.metrics import Metrics
from autonom.server import errors, openapi
from autonom.server.auth import require
from autonom.server.knowledge_api import router as knowledge_router
from autonom.server.ollama_api import router as ollama_router
from autonom.server.openai_api import router as openai_router
from autonom.server.state import ServerState
from autonom.services import Services
from autonom.services.gateway import CallContext
from autonom.store.keys import ApiKey
from autonom.ui import admin as ui_admin
from autonom.ui import documents as ui_documents
from autonom.ui import evals as ui_evals
from autonom.ui import pages as ui_pages

ACCESS = logging.getLogger("autonom.access")
"""One line per request (method, path, status, time to the response head)."""


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, in the route family's error shape."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(errors.error_body(
            scope["path"], 413, f"request body larger than {self.limit} bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class JsonBodies:
    """Treats every request body as JSON, as Ollama does (``curl -d '{...}'`` sends a form
    content type)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in ("POST", "DELETE")
                and not scope["path"].startswith("/ui")):  # the web UI posts forms
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def create_app(services: Services, metrics: Metrics | None = None) -> FastAPI:
    settings = services.settings
    build = services.engine_build.build
    metrics = metrics or Metrics(loaded_models=lambda: len(services.router.loaded()),
                                 engine=(build.kind, build.version))
    gateway = services.gateway(metrics)

    async def mcp_access(tool: str, key: ApiKey | None, arguments: dict[str, Any],
                         work: Callable[[], Awaitable[Any]]) -> Any:
        ctx = CallContext(route=f"/mcp {tool}", key=key, body=arguments)
        return await gateway.documents(ctx, arguments.get("collection"), work)

    mcp_server = mcp_knowledge.build(services.knowledge, auth=settings.server.auth,
                                     access=mcp_access)
    mcp_sessions = mcp_http.session_manager(mcp_server)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp_sessions.run():
            yield

    app = FastAPI(title="autonom", version=__version__, lifespan=lifespan,
                  description="OpenAI- and Ollama-compatible API of autonom")
    openapi.install(app)
    app.state.autonom = ServerState(
        settings=settings, services=services, access=services.access,
        conversations=services.conversations, sessions=services.sessions,
        metrics=metrics, gateway=gateway)

    app.add_exception_handler(AutonomError, errors.on_autonom_error)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    app.add_exception_handler(HTTPException, errors.on_http_error)
    app.add_exception_handler(Exception, errors.on_unexpected)

    # inside the access log and metrics below, so that its refusals are counted too
    app.add_middleware(ui_pages.SecurityHeaders, settings=settings.server)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        fields = logs.begin()  # the gateway notes the request's id and model in there
        response = await call_next(request)
        route = request.scope.get("route")
        label = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        metrics.requests.labels(label, str(response.status_code)).inc()
        metrics.latency.labels(label).observe(elapsed)
        ACCESS.info("", extra={"fields": {
            "method": request.method, "route": request.url.path,
            "status": response.status_code, "model": fields.get("model", "-"),
            "ms": round(elapsed * 1000)}})
        return response

    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(JsonBodies)
    app.add_middleware(BodyLimit, limit=settings.server.max_body_bytes)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["operations"], dependencies=[Depends(require("admin"))])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    async def root() -> JSONResponse:
        return JSONResponse({"name": "autonom", "version": __version__})

    app.include_router(openai_router)
    app.include_router(ollama_router)
    app.include_router(knowledge_router)
    app.include_router(ui_pages.router)
    app.include_router(ui_documents.router)
    app.include_router(ui_admin.router)
    app.include_router(ui_evals.router)
    app.mount("/ui/static", StaticFiles(directory=ui_pages.STATIC), name="ui-static")
    guard = mcp_http.Guard(mcp_sessions, settings.server, services.access)
    app.router.routes.append(Route("/mcp", guard, methods=["GET", "POST", "DELETE"]))
    return app
