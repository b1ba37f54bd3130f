"""The tools of configured MCP servers, as ``autonom mcp list|approve|calls`` and ``autonom
run --tools`` see them: which tools exist and whether the model may use each, approving
(pinning) their definitions, and the log of calls."""

from __future__ import annotations

from typing import Any

from autonom.errors import InvalidRequestError
from autonom.mcp.client import RemoteTool, connect
from autonom.mcp.policy import judge
from autonom.services.assembly import Services
from autonom.store.tool_calls import ToolCallRecord, ToolLedger


async def inventory(services: Services) -> list[dict[str, Any]]:
    """Each configured server with its tools and their state (an unreachable server is
    listed with its error, not hiding the others)."""
    ledger = ToolLedger(services.db)
    listing = []
    for name, server in services.settings.mcp.servers.items():
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


async def approve(services: Services, server: str,
                  tool_names: list[str] | None = None) -> list[RemoteTool]:
    """Pins these tools (default: all) as the server describes them now; a tool whose
    definition changes later is blocked until approved again."""
    settings = services.settings.mcp
    if server not in settings.servers:
        raise InvalidRequestError(f"no MCP server {server!r} in the configuration")
    async with connect(server, settings.servers[server]) as conn:
        remote = {t.name: t for t in await conn.tools()}
    wanted = tool_names or sorted(remote)
    missing = [t for t in wanted if t not in remote]
    if missing:
        raise InvalidRequestError(f"server {server!r} has no tool {missing[0]!r}")
    ledger = ToolLedger(services.db)
    for name in wanted:
        ledger.pin(server, name, remote[name].sha256, remote[name].definition)
    return [remote[name] for name in wanted]


def calls(services: Services, request_id: str | None = None,
          limit: int = 50) -> list[ToolCallRecord]:
    """The tool-call log, newest first."""
    return ToolLedger(services.db).calls(request_id, limit)
