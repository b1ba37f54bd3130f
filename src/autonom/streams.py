"""Async streams that fail before their first item: an error before any output becomes a
normal error response instead of a broken stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

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
