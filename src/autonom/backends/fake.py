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
    required properties, so structured-output code paths can be exercised. ``errors`` are
    raised first, one per call (a backend that fails, then recovers); ``calls`` counts every
    call, failed ones included.
    """

    name = "fake"
    capabilities = Capabilities(embeddings=True, json_schema=True)

    def __init__(self, reply: Reply = "Hallo! Ich bin ein Testmodell.",
                 models: tuple[str, ...] = ("fake",), dim: int = 8, *,
                 name: str | None = None, errors: list[BaseException] | None = None) -> None:
        self.reply = reply
        self.known = models
        self.dim = dim
        self.requests: list[ChatRequest] = []
        self.errors = list(errors or [])
        self.calls = 0
        if name is not None:
            self.name = name

    def _text(self, request: ChatRequest) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if request.model not in self.known:
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


class FakeRemote(FakeBackend):
    """A fake model server on another machine, as the router sees Ollama or vLLM: besides
    answering, it lists its models (``listed``) and answers health checks; with ``down``
    set, both fail with that error."""

    def __init__(self, name: str, errors: list[BaseException] | None = None,
                 models: tuple[str, ...] = ("m",), listed: tuple[str, ...] = (),
                 reply: Reply | None = None, down: BaseException | None = None) -> None:
        super().__init__(f"von {name}" if reply is None else reply, models, name=name,
                         errors=errors)
        self.listed = listed
        self.down = down

    async def models(self) -> list[str]:
        if self.down is not None:
            raise self.down
        return list(self.listed)

    async def health(self) -> None:
        if self.down is not None:
            raise self.down
