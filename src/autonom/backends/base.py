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
