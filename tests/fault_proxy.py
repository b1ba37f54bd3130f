"""A small HTTP/1.1 proxy on 127.0.0.1 that passes requests to a real upstream server or
breaks them on purpose: delays, error statuses, connection resets, streams cut mid-way, and
connections that never answer.

Faults are queued per request (``proxy.plan("503", "ok")``): each request takes the next
one; with the queue empty, ``default`` applies. Every request is recorded (method, path,
headers) so tests can see what reached the upstream side.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    fault: str


@dataclass
class FaultProxy:
    upstream_port: int
    default: str = "ok"
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _faults: deque[str] = field(default_factory=deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *faults: str) -> None:
        """Faults for the next POST requests, in order (GET requests — health checks,
        model lists — always get ``default``): ``ok``, ``delay:SECONDS`` (then pass),
        ``status:CODE``, ``reset`` (RST before any answer), ``cut:BYTES`` (pass the answer's
        first BYTES of body, then RST), ``hang`` (never answer)."""
        with self._lock:
            self._faults.clear()
            self._faults.extend(faults)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(path)]

    def _next_fault(self) -> str:
        with self._lock:
            return self._faults.popleft() if self._faults else self.default

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        server, loop = self._server, self._loop

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)

    # -- one connection ---------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        fault = self._next_fault() if method == "POST" else self.default
        self.seen.append(Seen(method, path, headers, fault))
        kind, _, arg = fault.partition(":")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if kind == "delay":
                await asyncio.sleep(float(arg))
            if kind == "status":
                await _answer(writer, int(arg))
            elif kind == "reset":
                _reset(writer)
                return
            elif kind == "hang":
                await asyncio.sleep(3600)
            else:
                await self._forward(head, body, writer, cut=int(arg) if kind == "cut" else None)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.in_flight -= 1
            if not writer.is_closing():
                writer.close()

    async def _forward(self, head: bytes, body: bytes, writer: asyncio.StreamWriter,
                       cut: int | None) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(_close_after(head) + body)
        await up_writer.drain()
        response_head = await up_reader.readuntil(b"\r\n\r\n")
        writer.write(_close_after(response_head))
        sent = 0
        while data := await up_reader.read(256):
            if cut is not None and sent + len(data) > cut:
                writer.write(data[:cut - sent])
                await writer.drain()
                await asyncio.sleep(0.05)
                _reset(writer)
                up_writer.close()
                return
            writer.write(data)
            await writer.drain()
            sent += len(data)
        up_writer.close()


def _close_after(head: bytes) -> bytes:
    """The same head, but saying the connection closes after this message."""
    lines = [line for line in head.decode("latin-1").split("\r\n")
             if line and not line.lower().startswith("connection:")]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: int) -> None:
    body = b'{"error": {"message": "injected failure", "type": "server_error"}}'
    writer.write(f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset instead of an orderly shutdown."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
