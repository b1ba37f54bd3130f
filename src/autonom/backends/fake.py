"""A deterministic backend for tests of autonom's own logic (no model, no engine)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncGenerator, Callable

from autonom.backends.base import Capabilities
from autonom.backends.pool import PoolSnapshot
from autonom.errors import ModelNotFoundError
from autonom.types import ChatChunk, ChatRequest, ChatResponse, Message, Usage

Reply = str | Callable[[ChatRequest], str]


class FakeBackend:
    """Answers with a fixed text or ``reply(request)``; records every request it saw.

    With a JSON schema in the options it answers ``{}``-shaped JSON built from the schema's
    required properties, so structured-output code paths can be exercised.
    """

    name = "fake"
    capabilities = Capabilities(embeddings=True, json_schema=True)

    def __init__(self, reply: Reply = "Hallo! Ich bin ein Testmodell.",
                 models: tuple[str, ...] = ("fake",), dim: int = 8) -> None:
        self.reply = reply
        self.models = models
        self.dim = dim
        self.requests: list[ChatRequest] = []

    def _text(self, request: ChatRequest) -> str:
        if request.model not in self.models:
            raise ModelNotFoundError(f"model {request.model!r} not found")
        self.requests.append(request)
        schema = request.options.json_schema
        if schema is not None:
            return json.dumps({k: _example(v) for k, v in schema.get("properties", {}).items()})
        text = self.reply(request) if callable(self.reply) else self.reply
        if request.options.max_tokens is not None:
            text = " ".join(text.split(" ")[: request.options.max_tokens])
        return text

    async def chat(self, request: ChatRequest) -> ChatResponse:
        text = self._text(request)
        return ChatResponse(
            model=request.model,
            message=Message(role="assistant", content=text),
            finish_reason="stop",
            usage=_usage(request, text),
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        text = self._text(request)
        words = text.split(" ")
        for i, word in enumerate(words):
            yield ChatChunk(model=request.model, delta=word if i == 0 else " " + word)
        yield ChatChunk(model=request.model, finish_reason="stop", usage=_usage(request, text))

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            raw = [b - 127.5 for b in digest[: self.dim]]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            vectors.append([x / norm for x in raw])
        return vectors

    def loaded(self) -> list[PoolSnapshot]:
        return []

    def unload(self, model: str) -> bool:
        return False

    def close(self) -> None:
        pass


def _usage(request: ChatRequest, text: str) -> Usage:
    prompt = sum(len(m.content.split()) for m in request.messages)
    prompt += len((request.prompt or "").split())
    return Usage(prompt_tokens=prompt, completion_tokens=len(text.split()))


def _example(schema: dict) -> object:
    kind = schema.get("type")
    return {"integer": 0, "number": 0.0, "boolean": False, "array": [],
            "object": {}}.get(kind, "") if isinstance(kind, str) else ""
