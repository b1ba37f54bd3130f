"""Helpers for streamed responses: fail before the first byte, frame SSE and NDJSON."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from autonom.errors import AutonomError

T = TypeVar("T")


async def primed(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """Take the first item now, so an error before any output is a normal error response."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return _empty()
    except BaseException:
        await stream.aclose()  # type: ignore[attr-defined]
        raise
    return _chain(first, stream)


async def _empty() -> AsyncIterator[Any]:
    return
    yield


async def _chain(first: T, stream: AsyncIterator[T]) -> AsyncIterator[T]:
    try:
        yield first
        async for item in stream:
            yield item
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def ndjson(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


async def pull_lines(services: Any, source: str) -> AsyncIterator[str]:
    """A model pull as NDJSON progress lines in Ollama's shape (``status``, ``total``,
    ``completed``; ``success`` with the digest, or ``error``), for the API and the web UI."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    class Progress:
        total: int | None = None
        done = 0

        def start(self, description: str, total: int | None) -> None:
            self.total, self.done = total, 0
            loop.call_soon_threadsafe(queue.put_nowait, {"status": description})

        def advance(self, n: int) -> None:
            self.done += n
            loop.call_soon_threadsafe(queue.put_nowait, {
                "status": "downloading", "total": self.total or 0, "completed": self.done})

    def work() -> None:
        try:
            record = services.pull(source, progress=Progress(), remote=True)
            loop.call_soon_threadsafe(queue.put_nowait,
                                      {"status": "success", "digest": record.sha256})
        except AutonomError as exc:
            loop.call_soon_threadsafe(queue.put_nowait, {"error": str(exc)})
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = loop.run_in_executor(None, work)
    last_sent = 0.0
    while (item := await queue.get()) is not None:
        if item.get("status") == "downloading":  # at most ~10 progress lines per second
            if time.monotonic() - last_sent < 0.1 and item["completed"] != item["total"]:
                continue
            last_sent = time.monotonic()
        yield ndjson(item)
    await task
