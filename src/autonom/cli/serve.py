"""``autonom serve``: the HTTP API on a socket bound before anything is printed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from autonom import __version__, logs
from autonom.cli import console
from autonom.config import check_bind, load_settings
from autonom.services import Services


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 11435)")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="no API keys (loopback only)")]
    = False,
) -> None:
    """Serve the OpenAI- and Ollama-compatible HTTP API."""
    import uvicorn

    from autonom.server import connections, create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if no_auth:
        overrides["auth"] = False
    settings = load_settings()
    settings.server = settings.server.model_copy(update=overrides)
    check_bind(settings.server.host, settings.server.auth)
    listening = connections.bind(settings.server.host, settings.server.port)
    logs.configure()  # one logfmt line per request and per event, with its request id
    services = Services(settings)
    if settings.server.auth and not services.access.list_keys():
        console.err.print("no API keys yet: create one with "
                          "'autonom keys create NAME --scopes chat,embed'")
    engine = services.engine_build
    if engine.warning:
        console.warn(engine.warning)
    try:
        console.err.print(f"autonom {__version__} listening on "
                          f"http://{settings.server.host}:{settings.server.port} "
                          f"(engine: {engine.build.kind} build)")
        config = uvicorn.Config(create_app(services), log_level="warning",
                                timeout_graceful_shutdown=5,
                                http=connections.protocol(settings.server.read_timeout_s),
                                limit_concurrency=settings.server.max_connections)
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        services.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
