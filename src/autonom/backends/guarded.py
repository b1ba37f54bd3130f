"""A backend that asks a check before it lets a model answer (the licence policy on serve)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from autonom.backends.base import Backend
from autonom.backends.pool import PoolSnapshot
from autonom.types import ChatChunk, ChatRequest, ChatResponse


class GuardedBackend:
    """Delegates to ``inner`` after ``check(model)``, which raises to refuse the model."""

    def __init__(self, inner: Backend, check: Callable[[str], None]) -> None:
        self.inner = inner
        self.check = check
        self.name = inner.name
        self.capabilities = inner.capabilities

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.check(request.model)
        return await self.inner.chat(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        self.check(request.model)
        async for chunk in self.inner.stream(request):
            yield chunk

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        self.check(model)
        return await self.inner.embed(model, texts)

    def loaded(self) -> list[PoolSnapshot]:
        return self.inner.loaded()

    def unload(self, model: str) -> bool:
        return self.inner.unload(model)

    def close(self) -> None:
        self.inner.close()
