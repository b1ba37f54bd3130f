"""The one small interface every inference backend implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from autonom.backends.pool import PoolSnapshot
from autonom.types import ChatChunk, ChatRequest, ChatResponse


@dataclass(frozen=True)
class Capabilities:
    chat: bool = True
    stream: bool = True
    embeddings: bool = False
    json_schema: bool = False
    tools: bool = False
    """Understands tool definitions and answers with tool calls itself."""
    tool_choice: bool = False
    """Can be made to call a tool (tool_choice "required" or a tool's name)."""


@runtime_checkable
class Backend(Protocol):
    """chat, streamed chat, embeddings, what is loaded, unloading, and shutdown."""

    name: str
    capabilities: Capabilities

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]: ...

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]: ...

    def loaded(self) -> list[PoolSnapshot]: ...

    def unload(self, model: str) -> bool: ...

    def close(self) -> None: ...


@runtime_checkable
class Remote(Protocol):
    """A backend on another server: it lists its own models and can be asked whether it is
    up."""

    async def models(self) -> list[str]: ...

    async def health(self) -> None: ...


@runtime_checkable
class Wrapper(Protocol):
    """A backend that adds a rule in front of another one (``inner``)."""

    inner: Backend


class BackendWrapper:
    """Base of wrappers: everything goes to ``inner`` unless a subclass adds its rule."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities

    async def chat(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.chat(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        async for chunk in self.inner.stream(request):
            yield chunk

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        return await self.inner.embed(model, texts)

    def loaded(self) -> list[PoolSnapshot]:
        return self.inner.loaded()

    def unload(self, model: str) -> bool:
        return self.inner.unload(model)

    def close(self) -> None:
        self.inner.close()


def as_remote(backend: object) -> Remote | None:
    """The server a backend talks to, through any wrappers; None for one in this process."""
    for _ in range(8):  # wrappers nest at most a few deep
        if isinstance(backend, Remote):
            return backend
        if not isinstance(backend, Wrapper):
            return None
        backend = backend.inner
    return None
