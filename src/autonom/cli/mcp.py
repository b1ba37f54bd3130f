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
from autonom.config import McpSettings, load_settings
from autonom.errors import InvalidRequestError
from autonom.mcp import loop
from autonom.mcp.client import RemoteTool, connect
from autonom.mcp.policy import judge
from autonom.mcp.toolbox import Toolbox, dumps
from autonom.services import Services
from autonom.store.tool_calls import ToolLedger
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
    listing = asyncio.run(_inventory(settings, ToolLedger(services.db)))
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


async def _inventory(settings: McpSettings, ledger: ToolLedger) -> list[dict[str, Any]]:
    listing = []
    for name, server in settings.servers.items():
        entry: dict[str, Any] = {"server": name, "transport": "stdio" if server.command
                                 else "http", "error": None, "tools": []}
        try:
            async with connect(name, server) as conn:
                remote = await conn.tools()
        except Exception as exc:  # one bad server must not hide the others
            entry["error"] = str(exc)
            listing.append(entry)
            continue
        pins = ledger.pins(name)
        for tool in remote:
            verdict = judge(tool, server, pins.get(tool.name))
            entry["tools"].append({"name": tool.name, "read_only": tool.read_only,
                                   "state": verdict.state, "asks": verdict.asks,
                                   "status": verdict.explain(), "sha256": tool.sha256,
                                   "description": tool.description})
        listing.append(entry)
    return listing


@mcp_app.command("approve")
def approve(
    server: Annotated[str, typer.Argument(help="server name from [mcp.servers]")],
    tool_names: Annotated[list[str] | None, typer.Argument(help="tools (default: all)",
                                                           show_default=False)] = None,
) -> None:
    """Approve tools as the server describes them now (pins their definitions by hash)."""
    services = _services()
    settings = services.settings.mcp
    if server not in settings.servers:
        raise InvalidRequestError(f"no MCP server {server!r} in the configuration")
    ledger = ToolLedger(services.db)

    async def current() -> list[RemoteTool]:
        async with connect(server, settings.servers[server]) as conn:
            return await conn.tools()

    remote = {t.name: t for t in asyncio.run(current())}
    wanted = tool_names or sorted(remote)
    missing = [t for t in wanted if t not in remote]
    if missing:
        raise InvalidRequestError(f"server {server!r} has no tool {missing[0]!r}")
    for name in wanted:
        tool = remote[name]
        ledger.pin(server, name, tool.sha256, tool.definition)
        console.out.print(f"approved {server}.{name} (sha256 {tool.sha256[:12]})")


@mcp_app.command("calls")
def calls(
    request_id: Annotated[str | None, typer.Option("--request", help="one request's calls")]
    = None,
    limit: int = 50,
    as_json: AsJson = False,
) -> None:
    """The tool-call log, newest first: arguments, outcome, result size, duration."""
    records = ToolLedger(_services().db).calls(request_id, limit)
    if as_json:
        print(json.dumps([r.__dict__ for r in records], ensure_ascii=False, indent=2))
        return
    rows = [[time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at)),
             f"{r.server}.{r.tool}", "-" if r.arguments is None else dumps(r.arguments)[:60],
             r.outcome + (" (flagged)" if r.flagged else ""), str(r.result_chars),
             f"{r.duration_ms:.0f}"] for r in records]
    console.table(["TIME", "TOOL", "ARGUMENTS", "OUTCOME", "CHARS", "MS"], rows)


# -- chatting with tools (autonom run MODEL --tools a,b) ------------------------------------

def run_with_tools(services: Services, model: str, servers: list[str], prompt: str | None,
                   system: str | None, options: GenerationOptions) -> None:
    """Answer PROMPT (or chat interactively) with the tools of the named MCP servers."""
    settings = services.settings
    ledger = ToolLedger(services.db)

    async def session() -> None:
        async with Toolbox.open(servers, settings.mcp, ledger,
                                log_arguments=settings.server.log_content) as box:
            for verdict in box.verdicts:
                if not verdict.usable:
                    console.err.print(f"[dim]{verdict.tool.server}.{verdict.tool.name}: "
                                      f"{verdict.explain()}[/]")
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
                result = await loop.answer(services.router.chat, request,
                                           box, _ask_person, max_steps=settings.mcp.max_steps,
                                           system=system)
                for call in result.calls:
                    flagged = " (contains instructions: treated as data)" if call.flagged else ""
                    console.err.print(f"[dim]→ {call.server}.{call.call.name} "
                                      f"{dumps(call.call.arguments)}: {call.outcome}{flagged}"
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
    question = (f"{tool.server}.{tool.name} {dumps(arguments)} changes data. Run it? [y/N] ")
    try:
        reply = await asyncio.to_thread(input, question)
    except (EOFError, KeyboardInterrupt):
        return False
    return reply.strip().lower() in ("y", "yes", "j", "ja")


def register(app: typer.Typer) -> None:
    app.add_typer(mcp_app, name="mcp")
