"""An Ollama server as a backend, through its native API (``/api/chat``, ``/api/generate``,
``/api/embed``, ``/api/tags``).

The configured URL is the server's root, ``http://host:11434``. Streams are NDJSON lines; the
last one says ``done`` with token counts and durations in nanoseconds. Ollama cannot be told
to call a tool, so a forced tool choice goes through autonom's constrained JSON instead.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from autonom.backends.base import Capabilities
from autonom.backends.upstream import RemoteBackend
from autonom.config import BackendSettings
from autonom.errors import UpstreamError
from autonom.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    Timings,
    ToolCall,
    Usage,
)


class OllamaBackend(RemoteBackend):
    """Speaks Ollama's API to one server."""

    def __init__(self, name: str, settings: BackendSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings, transport)
        self.capabilities = Capabilities(embeddings=True, json_schema=True,
                                         tools=settings.native_tools, tool_choice=False)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        path, body = _payload(request, stream=False)
        data = await self.upstream.post_json(path, body)
        message = self._message(data, request)
        return ChatResponse(model=request.model, message=message,
                            finish_reason=_finish(data.get("done_reason"),
                                                  bool(message.tool_calls)),
                            usage=_usage(data), timings=_timings(data),
                            load_ms=(data.get("load_duration") or 0) / 1e6)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        path, body = _payload(request, stream=True)
        calls: list[ToolCall] = []
        async with self.upstream.stream_lines(path, body) as lines:
            async for line in lines:
                data = self.upstream.parse(line)
                message = self._message(data, request)
                calls.extend(message.tool_calls)
                if message.content:
                    yield ChatChunk(model=request.model, delta=message.content)
                if data.get("done"):
                    yield ChatChunk(model=request.model, tool_calls=tuple(calls),
                                    finish_reason=_finish(data.get("done_reason"), bool(calls)),
                                    usage=_usage(data), timings=_timings(data))
                    return
        raise UpstreamError(f"{self.name}: the stream ended before the answer was complete",
                            self.name)

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        data = await self.upstream.post_json("/api/embed", {"model": model, "input": texts})
        vectors = self.upstream.field(data, "embeddings")
        if len(vectors) != len(texts):
            raise UpstreamError(f"{self.name}: {len(vectors)} vectors for {len(texts)} texts",
                                self.name, retryable=False)
        return [[float(x) for x in v] for v in vectors]

    async def models(self) -> list[str]:
        data = await self.upstream.get_json("/api/tags")
        return [str(m["name"]) for m in self.upstream.field(data, "models") if "name" in m]

    async def health(self) -> None:
        await self.upstream.get_json("/api/version")

    def _message(self, data: dict[str, Any], request: ChatRequest) -> Message:
        if request.prompt is not None:
            return Message(role="assistant", content=str(data.get("response") or ""))
        raw = data.get("message") or {}
        calls = []
        for i, call in enumerate(raw.get("tool_calls") or []):
            function = self.upstream.field(call, "function")
            arguments = function.get("arguments") or {}
            if not isinstance(arguments, dict):
                raise UpstreamError(f"{self.name}: tool call arguments are not an object",
                                    self.name, retryable=False)
            calls.append(ToolCall(id=call.get("id") or f"call_{i}",
                                  name=str(self.upstream.field(function, "name")),
                                  arguments=arguments))
        return Message(role="assistant", content=str(raw.get("content") or ""),
                       tool_calls=tuple(calls))


def _payload(request: ChatRequest, stream: bool) -> tuple[str, dict[str, Any]]:
    o = request.options
    options: dict[str, Any] = {key: value for key, value in (
        ("temperature", o.temperature), ("top_p", o.top_p), ("top_k", o.top_k),
        ("seed", o.seed), ("num_predict", o.max_tokens), ("repeat_penalty", o.repeat_penalty),
        ("frequency_penalty", o.frequency_penalty), ("presence_penalty", o.presence_penalty))
        if value is not None}
    if o.stop:
        options["stop"] = o.stop
    body: dict[str, Any] = {"model": request.model, "stream": stream, "options": options}
    if request.keep_alive is not None:
        body["keep_alive"] = -1 if math.isinf(request.keep_alive) else request.keep_alive
    if o.json_schema is not None:
        body["format"] = "json" if o.json_schema == {"type": "object"} else o.json_schema
    if request.prompt is not None:
        return "/api/generate", {**body, "prompt": request.prompt, "raw": True}
    body["messages"] = [_message(m) for m in request.messages]
    if request.tools and request.tool_choice != "none":
        body["tools"] = [{"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools]
    return "/api/chat", body


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}}
                             for c in m.tool_calls]
    if m.role == "tool" and m.name:
        out["tool_name"] = m.name
    return out


def _finish(reason: str | None, called: bool) -> FinishReason:
    if called:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(prompt_tokens=int(data.get("prompt_eval_count") or 0),
                 completion_tokens=int(data.get("eval_count") or 0))


def _timings(data: dict[str, Any]) -> Timings | None:
    if not data.get("done") or "eval_duration" not in data:
        return None
    prompt_ms = (data.get("prompt_eval_duration") or 0) / 1e6
    decode_ms = (data.get("eval_duration") or 0) / 1e6
    usage = _usage(data)
    return Timings(prompt_ms=prompt_ms, decode_ms=decode_ms,
                   prompt_per_second=usage.prompt_tokens / prompt_ms * 1000 if prompt_ms else 0,
                   decode_per_second=(usage.completion_tokens / decode_ms * 1000
                                      if decode_ms else 0))
