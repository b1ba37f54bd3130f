"""Connections that do not send a whole request in time are closed (slowloris).

uvicorn closes an idle connection only after a response (``timeout_keep_alive``); a client
that connects and sends nothing, or sends headers or a body a byte at a time, would hold its
connection — and a file descriptor and a task — forever. Here every request must arrive
complete, headers and body, within ``server.read_timeout_s`` of its first byte (or of the
connection, for the first request); otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from autonom.errors import ConfigError


def bind(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound before anything says it is listening; a port
    in use or an address that cannot be bound is one clear error."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is in use ({exc.strerror}): stop the other server "
                              "or choose another port with --port") from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def protocol(read_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline for receiving each request."""

    class DeadlineH11Protocol(H11Protocol):
        _read_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.DONE or self.conn.their_state is h11.IDLE:
                self._arm()  # the first bytes of a new request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state is h11.DONE:
                self._disarm()  # the request is complete: the deadline ends here

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._read_deadline is None:
                self._read_deadline = self.loop.call_later(read_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._read_deadline is not None:
                self._read_deadline.cancel()
                self._read_deadline = None

        def _too_slow(self) -> None:
            self._read_deadline = None
            if self.conn.their_state is not h11.DONE and not self.transport.is_closing():
                self.transport.close()  # an app waiting for the body sees a disconnect

    return DeadlineH11Protocol
