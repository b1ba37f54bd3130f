"""CLI commands for MCP: serve the documents, list and approve the configured servers'
tools, show the tool-call log, run the example ERP server, and chat with tools.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.errors import InvalidRequestError
from autonom.mcp.client import RemoteTool
from autonom.mcp.policy import Verdict
from autonom.services import Services, mcp_tools
from autonom.services.gateway import CallContext
from autonom.types import ChatRequest, GenerationOptions, Message

mcp_app = typer.Typer(
    rich_markup_mode=None,
    help="MCP: offer the documents to MCP clients, use MCP servers' tools.",
    no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _services() -> Services:
    return Services(load_settings())


@mcp_app.command("serve")
def serve() -> None:
    """Serve the document collections over MCP on stdin/stdout (for desktop assistants);
    over HTTP they are at /mcp of 'autonom serve'."""
    from autonom.mcp.server import build

    services = _services()
    server = build(services.knowledge, auth=False)
    server.run("stdio")


@mcp_app.command("example-erp")
def example_erp(
    db: Annotated[Path, typer.Option(help="SQLite file (created with sample data)")]
    = Path("erp-beispiel.db"),
    variant: Annotated[str, typer.Option(help="normal, or changed (a rug-pulled tool "
                                         "description, for demonstrations)")] = "normal",
) -> None:
    """Run the sample company's ERP (products, stock, orders) as an MCP server on stdio."""
    from autonom.examples.erp import serve as serve_erp

    if variant not in ("normal", "changed"):
        raise InvalidRequestError(f"unknown variant {variant!r}: use normal or changed")
    serve_erp(db, variant)  # type: ignore[arg-type]


@mcp_app.command("list")
def list_servers(as_json: AsJson = False) -> None:
    """The configured MCP servers, their tools, and whether the model may use each."""
    services = _services()
    settings = services.settings.mcp
    if not settings.servers:
        console.out.print("no MCP servers configured: add [mcp.servers.NAME] to autonom.toml",
                          markup=False)
        return
    listing = asyncio.run(mcp_tools.inventory(services))
    if as_json:
        print(json.dumps(listing, ensure_ascii=False, indent=2))
        return
    rows = []
    for server in listing:
        if server["error"]:
            rows.append([server["server"], "-", "-", f"unreachable: {server['error']}"])
        for tool in server["tools"]:
            rows.append([server["server"], tool["name"],
                         "read-only" if tool["read_only"] else "changes data", tool["status"]])
    console.table(["SERVER", "TOOL", "KIND", "STATUS"], rows)


@mcp_app.command("approve")
def approve(
    server: Annotated[str, typer.Argument(help="server name from [mcp.servers]")],
    tool_names: Annotated[list[str] | None, typer.Argument(help="tools (default: all)",
                                                           show_default=False)] = None,
) -> None:
    """Approve tools as the server describes them now (pins their definitions by hash)."""
    for tool in asyncio.run(mcp_tools.approve(_services(), server, tool_names)):
        console.out.print(f"approved {server}.{tool.name} (sha256 {tool.sha256[:12]})")


@mcp_app.command("calls")
def calls(
    request_id: Annotated[str | None, typer.Option("--request", help="one request's calls")]
    = None,
    limit: int = 50,
    as_json: AsJson = False,
) -> None:
    """The tool-call log, newest first: arguments, outcome, result size, duration."""
    records = mcp_tools.calls(_services(), request_id, limit)
    if as_json:
        print(json.dumps([r.__dict__ for r in records], ensure_ascii=False, indent=2))
        return
    rows = [[time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at)),
             f"{r.server}.{r.tool}", "-" if r.arguments is None else _json(r.arguments)[:60],
             r.outcome + (" (flagged)" if r.flagged else ""), str(r.result_chars),
             f"{r.duration_ms:.0f}"] for r in records]
    console.table(["TIME", "TOOL", "ARGUMENTS", "OUTCOME", "CHARS", "MS"], rows)


# -- chatting with tools (autonom run MODEL --tools a,b) ------------------------------------

def run_with_tools(services: Services, model: str, servers: list[str], prompt: str | None,
                   system: str | None, options: GenerationOptions) -> None:
    """Answer PROMPT (or chat interactively) with the tools of the named MCP servers."""
    gateway = services.gateway()

    def shown(verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            if not verdict.usable:
                console.err.print(f"[dim]{verdict.tool.server}.{verdict.tool.name}: "
                                  f"{verdict.explain()}[/]")

    async def session() -> None:
        history: list[Message] = []
        question = prompt
        while True:
            if question is None:
                try:
                    question = (await asyncio.to_thread(input, ">>> ")).strip()
                except (EOFError, KeyboardInterrupt):
                    return
                if question in ("/bye", "/exit", "/quit"):
                    return
                if not question:
                    question = None
                    continue
            history.append(Message(role="user", content=question))
            request = ChatRequest(model=model, messages=list(history), options=options)
            ctx = CallContext(route="autonom run --tools", body={"model": model,
                                                                   "tools": servers})
            result = await gateway.with_tools(request, ctx, servers, _ask_person, system,
                                              on_verdicts=shown if not history[:-1] else None)
            for call in result.calls:
                flagged = " (contains instructions: treated as data)" if call.flagged else ""
                console.err.print(f"[dim]→ {call.server}.{call.call.name} "
                                  f"{_json(call.call.arguments)}: {call.outcome}{flagged}"
                                  f" ({call.duration_ms:.0f} ms)[/]", markup=True)
            text = result.response.message.content
            console.out.print(text, markup=False)
            history.append(Message(role="assistant", content=text))
            if prompt is not None:
                return
            question = None

    asyncio.run(session())


async def _ask_person(tool: RemoteTool, arguments: dict[str, Any]) -> bool:
    """Ask on the terminal before a tool that changes data runs; no terminal means no."""
    if not sys.stdin.isatty():
        console.err.print(f"{tool.server}.{tool.name} changes data; not run (no terminal to "
                          "ask for confirmation)")
        return False
    question = (f"{tool.server}.{tool.name} {_json(arguments)} changes data. Run it? [y/N] ")
    try:
        reply = await asyncio.to_thread(input, question)
    except (EOFError, KeyboardInterrupt):
        return False
    return reply.strip().lower() in ("y", "yes", "j", "ja")


def _json(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, sort_keys=True)


def register(app: typer.Typer) -> None:
    app.add_typer(mcp_app, name="mcp")
