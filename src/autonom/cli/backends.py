"""CLI commands for the backends behind autonom: ``autonom backends`` and ``autonom route``.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.services import Services
from autonom.types import ChatRequest, Message

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def backends_command(as_json: AsJson = False) -> None:
    """List the configured backends, check that each answers, and show their models."""
    services = Services(load_settings())
    try:
        rows = asyncio.run(services.router.probe())
    finally:
        services.close()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    console.table(["BACKEND", "KIND", "URL", "STATE", "MODELS", "ALIASES"], [
        [r["name"], r["kind"], r["url"] or "-",
         "ok" if r["healthy"] else f"unreachable: {r['error']}",
         ", ".join(r["models"]) or ("(registered models)" if r["kind"] == "embedded" else "-"),
         ", ".join(r["aliases"]) or "-"]
        for r in rows])


def route_command(
    model: Annotated[str, typer.Argument(help="model or alias name")],
    prompt: Annotated[str, typer.Argument(help="the request's text")],
    as_json: AsJson = False,
) -> None:
    """Show where a request would go: the targets in order and, for a complexity alias,
    whether it counts as easy or hard and why. Sends nothing to a model (except a
    classifier model, when the alias uses one)."""
    services = Services(load_settings())
    request = ChatRequest(model=model, messages=[Message(role="user", content=prompt)])
    try:
        route = asyncio.run(services.router.route(request))
    finally:
        services.close()
    targets = [str(t) for t in route.targets]
    sent = route.request.messages[-1].content
    if as_json:
        print(json.dumps({"model": model, "targets": targets, "reason": route.reason,
                          "prompt": sent}, ensure_ascii=False, indent=2))
        return
    console.out.print(f"{model} → {' → '.join(targets)}", markup=False)
    if route.reason:
        console.out.print(f"because: {route.reason}", markup=False)
    if sent != prompt:
        console.out.print(f"sent as: {sent}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("backends")(backends_command)
    app.command("route")(route_command)
