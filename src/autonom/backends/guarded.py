"""A backend that asks a check before it lets a model answer (the licence policy on serve)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from autonom.backends.base import Backend, BackendWrapper
from autonom.types import ChatChunk, ChatRequest, ChatResponse


class GuardedBackend(BackendWrapper):
    """Delegates to ``inner`` after ``check(model)``, which raises to refuse the model."""

    def __init__(self, inner: Backend, check: Callable[[str], None]) -> None:
        super().__init__(inner)
        self.check = check

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
