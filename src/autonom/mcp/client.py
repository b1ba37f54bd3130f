"""Connections to the MCP servers named in ``[mcp.servers.NAME]`` (official ``mcp`` SDK).

A server is either a command started as a child process (stdio) or a streamable-HTTP URL.
The child gets the SDK's minimal environment plus the configured ``env``; an HTTP server
gets the configured headers. Nothing of the caller's own request (its API key, its
headers) is ever sent to a server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import Client, StdioServerParameters
from mcp import types as mcp_types

from autonom.config import McpServerSettings
from autonom.errors import ToolServerError


@dataclass(frozen=True)
class RemoteTool:
    """A tool as one server describes it, with the hash that pins that description."""

    server: str
    name: str
    description: str
    parameters: dict[str, Any]
    read_only: bool
    definition: dict[str, Any]
    sha256: str


def describe(server: str, tool: mcp_types.Tool) -> RemoteTool:
    """Everything the model is told about a tool goes into the hash: a server that later
    changes a description, a schema or an annotation changes the hash."""
    definition = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description or "",
        "input_schema": tool.input_schema,
        "annotations": None if tool.annotations is None
        else tool.annotations.model_dump(mode="json", exclude_none=True),
    }
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    read_only = bool(tool.annotations and tool.annotations.read_only_hint)
    return RemoteTool(server=server, name=tool.name, description=tool.description or "",
                      parameters=dict(tool.input_schema), read_only=read_only,
                      definition=definition,
                      sha256=hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class ToolOutput:
    text: str
    is_error: bool


class ServerConnection:
    def __init__(self, name: str, settings: McpServerSettings, client: Client) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    async def tools(self) -> list[RemoteTool]:
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                listed = await self.client.list_tools()
        except Exception as exc:
            raise ToolServerError(f"MCP server {self.name!r}: cannot list tools: "
                                  f"{reason(exc)}") from exc
        return [describe(self.name, t) for t in listed.tools]

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolOutput:
        """One tool call; raises TimeoutError past the server's timeout."""
        async with asyncio.timeout(self.settings.timeout_s):
            result = await self.client.call_tool(tool, arguments)
        return ToolOutput(text=result_text(result), is_error=result.is_error)


def result_text(result: mcp_types.CallToolResult) -> str:
    if result.structured_content is not None and not result.is_error:
        return json.dumps(result.structured_content, ensure_ascii=False)
    parts = [item.text if isinstance(item, mcp_types.TextContent)
             else f"[{item.type} content left out]" for item in result.content]
    return "\n".join(parts)


def target(settings: McpServerSettings) -> StdioServerParameters | Any:
    """What the SDK client connects to. A command starting with ``autonom`` runs this
    installation's autonom (the same Python), whatever is on PATH."""
    if settings.command:
        command, *args = settings.command
        if command == "autonom":
            command, args = sys.executable, ["-m", "autonom", *args]
        return StdioServerParameters(command=command, args=args, env=dict(settings.env) or None,
                                     cwd=settings.cwd)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {name: value.get_secret_value() for name, value in settings.headers.items()}
    http = httpx2.AsyncClient(headers=headers, timeout=max(settings.timeout_s,
                                                           settings.connect_timeout_s))
    assert settings.url is not None
    return streamable_http_client(settings.url, http_client=http)


@asynccontextmanager
async def connect(name: str, settings: McpServerSettings) -> AsyncIterator[ServerConnection]:
    """A live session with one server, closed (and its process ended) on exit."""
    async with AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                client = await stack.enter_async_context(
                    Client(target(settings), read_timeout_seconds=settings.timeout_s))
        except Exception as exc:
            raise ToolServerError(f"MCP server {name!r} could not be reached: "
                                  f"{reason(exc)}") from exc
        yield ServerConnection(name, settings, client)


def reason(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) exception, on one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None and response is not None:
        detail = ""
        try:
            body = response.json()
            detail = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        except Exception:  # not JSON
            detail = ""
        return f"HTTP {status}" + (f": {detail}" if detail else "")
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
