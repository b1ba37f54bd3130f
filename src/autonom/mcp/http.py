"""The MCP server over streamable HTTP at ``/mcp`` of ``autonom serve``, behind a guard.

The guard answers before any MCP message is read: a Host header that is not this server
(loopback, ``server.host`` or ``server.allowed_hosts``) or an Origin that is neither loopback
nor in ``server.cors_origins`` gets 403 (DNS rebinding); more than one Authorization header
400; a missing or invalid API key 401; a key without the ``chat`` scope 403 — each as a
JSON-RPC error object. The key it checked is the one the tools see: it travels with the
request (:data:`KEY`), so the tools never read a header again.
"""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from autonom.config import ServerSettings
from autonom.errors import AutonomError
from autonom.services import hosts
from autonom.services.access import Access

SCOPE = "chat"
KEY = "autonom.key"
"""Where the checked API key (or None, with auth off) travels in the ASGI scope."""


def session_manager(server: MCPServer) -> StreamableHTTPSessionManager:
    """The SDK's session manager for ``server`` (Host/Origin are checked by :class:`Guard`)."""
    server.streamable_http_app(streamable_http_path="/mcp", transport_security=(
        TransportSecuritySettings(enable_dns_rebinding_protection=False)))
    return server.session_manager


class Guard:
    def __init__(self, manager: StreamableHTTPSessionManager, settings: ServerSettings,
                 access: Access) -> None:
        self.app: ASGIApp = StreamableHTTPASGIApp(manager)
        self.settings = settings
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pairs = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                 for k, v in scope.get("headers", [])]
        headers = dict(pairs)
        refusal = self._refusal(headers)
        if refusal is None:
            try:
                key = self.access.caller([v for k, v in pairs if k == "authorization"],
                                         SCOPE)
            except AutonomError as exc:
                refusal = exc.status, str(exc)
            else:
                await self.app({**scope, KEY: key}, receive, send)
                return
        status, message = refusal
        body = json.dumps({"jsonrpc": "2.0", "id": None,
                           "error": {"code": -32001, "message": message}}).encode()
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        why = hosts.refusal(headers, self.settings, own_origins=False)
        return None if why is None else (403, why)
