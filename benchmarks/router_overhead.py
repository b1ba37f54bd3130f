"""What the router adds per streamed chunk: Router over FakeBackend vs FakeBackend alone.

    python benchmarks/router_overhead.py
"""

from __future__ import annotations

import asyncio
import time

from autonom.backends.fake import FakeBackend
from autonom.config import BackendSettings
from autonom.routing.router import Router
from autonom.types import ChatRequest, Message

CHUNKS = 20_000


async def per_chunk_us(backend, request: ChatRequest) -> float:
    started, count = time.perf_counter(), 0
    async for _ in backend.stream(request):
        count += 1
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    fake = FakeBackend(reply=" ".join(["wort"] * CHUNKS), models=("m",))
    embedded = BackendSettings(kind="embedded", retries=0, cooldown_s=0, max_concurrent=4096)
    router = Router({"embedded": fake}, {"embedded": embedded}, {}, is_local=lambda _: True)
    request = ChatRequest(model="m", messages=[Message(role="user", content="x")])
    for _ in range(3):
        direct = asyncio.run(per_chunk_us(fake, request))
        routed = asyncio.run(per_chunk_us(router, request))
        print(f"direct {direct:.2f} µs/chunk, through the router {routed:.2f} µs/chunk, "
              f"added {routed - direct:.2f} µs")


if __name__ == "__main__":
    main()
