"""Which Host and Origin headers a browser-facing route accepts (DNS-rebinding defence).

A page from another site can make a browser send requests to ``127.0.0.1`` or to a name it
controls that resolves there; such requests carry that name in ``Host`` and the other site
in ``Origin``. ``/mcp`` and the web UI answer only to this server's own names: loopback,
``server.host`` and ``server.allowed_hosts``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from autonom.config import ServerSettings

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def own_hosts(settings: ServerSettings) -> frozenset[str]:
    return LOOPBACK | {settings.host} | set(settings.allowed_hosts)


def refusal(headers: dict[str, str], settings: ServerSettings, *,
            own_origins: bool) -> str | None:
    """Why a request with these (lower-case) headers is refused, or None.

    ``own_origins``: an Origin naming one of this server's own hosts is accepted (the web
    UI's pages talk to the server they came from); otherwise only loopback origins and
    ``server.cors_origins`` are (``/mcp``)."""
    hosts = own_hosts(settings)
    host = urlsplit("//" + headers.get("host", "")).hostname or ""
    if host not in hosts:
        return f"host {host or '(none)'!r} is not allowed (server.allowed_hosts)"
    origin = headers.get("origin")
    if origin is None or origin in settings.cors_origins:
        return None
    origin_host = urlsplit(origin).hostname or ""
    if origin_host in LOOPBACK or (own_origins and origin_host in hosts):
        return None
    return f"origin {origin!r} is not allowed (server.cors_origins)"
