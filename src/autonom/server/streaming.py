"""Helpers for streamed responses: frame SSE and NDJSON (failing before the first byte is
:func:`autonom.streams.primed`, re-exported here for the routes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from autonom.services import Services
from autonom.streams import primed

__all__ = ["ndjson", "primed", "pull_lines", "sse"]


def sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def ndjson(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


async def pull_lines(services: Services, source: str) -> AsyncIterator[str]:
    """A model pull as NDJSON progress lines in Ollama's shape."""
    async for event in services.pull_progress(source):
        yield ndjson(event)
