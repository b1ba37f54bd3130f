"""Any OpenAI-compatible server as a backend: vLLM, llama.cpp's server, LM Studio, LocalAI,
TGI, a hosted provider, or another autonom.

The configured URL is the API base, as the OpenAI SDK's ``base_url``: ``http://host:8000/v1``.
Chat goes to ``/chat/completions``, raw prompts to ``/completions``, vectors to
``/embeddings``; streams are server-sent events with usage asked for in the last event.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
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


class OpenAIBackend(RemoteBackend):
    """Speaks the OpenAI wire format to one server."""

    def __init__(self, name: str, settings: BackendSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings, transport)
        native = settings.native_tools
        self.capabilities = Capabilities(embeddings=True, json_schema=True, tools=native,
                                         tool_choice=native)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        path, body = _payload(request, stream=False)
        data = await self.upstream.post_json(path, body)
        choice = self.upstream.field(data, "choices", 0)
        if request.prompt is not None:
            message = Message(role="assistant", content=choice.get("text") or "")
        else:
            out = self.upstream.field(choice, "message")
            calls = tuple(self._call(c, i) for i, c in enumerate(out.get("tool_calls") or []))
            message = Message(role="assistant", content=out.get("content") or "",
                              tool_calls=calls)
        return ChatResponse(model=request.model, message=message,
                            finish_reason=_finish(choice.get("finish_reason"),
                                                  bool(message.tool_calls)),
                            usage=_usage(data.get("usage")), timings=_timings(data))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        path, body = _payload(request, stream=True)
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: Usage | None = None
        timings: Timings | None = None
        async with self.upstream.stream_lines(path, body) as lines:
            async for line in lines:
                if not line.startswith("data:"):
                    continue  # SSE comments, event names, keep-alives
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                data = self.upstream.parse(payload)
                usage = _usage(data["usage"]) if data.get("usage") else usage
                timings = _timings(data) or timings
                for choice in data.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content") if "text" not in choice else choice["text"]
                    for part in delta.get("tool_calls") or []:
                        _merge_call(calls, part)
                    finish = choice.get("finish_reason") or finish
                    if text:
                        yield ChatChunk(model=request.model, delta=text)
        if finish is None:
            raise UpstreamError(f"{self.name}: the stream ended before the answer was complete",
                                self.name)
        tool_calls = tuple(self._call(calls[i], i) for i in sorted(calls))
        yield ChatChunk(model=request.model, tool_calls=tool_calls,
                        finish_reason=_finish(finish, bool(tool_calls)),
                        usage=usage or Usage(), timings=timings)

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        data = await self.upstream.post_json("/embeddings", {"model": model, "input": texts})
        items = sorted(self.upstream.field(data, "data"), key=lambda d: d.get("index", 0))
        vectors = [_vector(self.upstream.field(item, "embedding")) for item in items]
        if len(vectors) != len(texts):
            raise UpstreamError(f"{self.name}: {len(vectors)} vectors for {len(texts)} texts",
                                self.name, retryable=False)
        return vectors

    async def models(self) -> list[str]:
        """The model ids the server lists."""
        data = await self.upstream.get_json("/models")
        return [str(m["id"]) for m in self.upstream.field(data, "data") if "id" in m]

    async def health(self) -> None:
        await self.models()

    def _call(self, raw: dict[str, Any], index: int) -> ToolCall:
        function = self.upstream.field(raw, "function")
        arguments = function.get("arguments") or "{}"
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError as exc:
                raise UpstreamError(f"{self.name}: tool call arguments are not JSON",
                                    self.name, retryable=False) from exc
        if not isinstance(arguments, dict):
            raise UpstreamError(f"{self.name}: tool call arguments are not an object",
                                self.name, retryable=False)
        return ToolCall(id=raw.get("id") or f"call_{secrets.token_hex(8)}",
                        name=str(self.upstream.field(function, "name")), arguments=arguments)


def _payload(request: ChatRequest, stream: bool) -> tuple[str, dict[str, Any]]:
    o = request.options
    body: dict[str, Any] = {"model": request.model, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    for key, value in (("temperature", o.temperature), ("top_p", o.top_p), ("seed", o.seed),
                       ("max_tokens", o.max_tokens), ("top_k", o.top_k),
                       ("frequency_penalty", o.frequency_penalty),
                       ("presence_penalty", o.presence_penalty)):
        if value is not None:
            body[key] = value
    if o.stop:
        body["stop"] = o.stop
    if request.prompt is not None:
        return "/completions", {**body, "prompt": request.prompt}
    body["messages"] = [_message(m) for m in request.messages]
    if o.json_schema is not None:
        body["response_format"] = (
            {"type": "json_object"} if o.json_schema == {"type": "object"} else
            {"type": "json_schema", "json_schema": {"name": "response", "schema": o.json_schema}})
    if request.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools]
        choice = request.tool_choice
        body["tool_choice"] = choice if choice in ("auto", "none", "required") else {
            "type": "function", "function": {"name": choice}}
    return "/chat/completions", body


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
            for c in m.tool_calls]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
    if m.name and m.role == "tool":
        out["name"] = m.name
    return out


def _merge_call(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """Streamed tool calls arrive in pieces keyed by index: id and name once, the
    arguments as string fragments."""
    call = calls.setdefault(int(part.get("index", 0)),
                            {"id": "", "function": {"name": "", "arguments": ""}})
    call["id"] = part.get("id") or call["id"]
    function = part.get("function") or {}
    call["function"]["name"] += function.get("name") or ""
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # some servers send the object whole
        arguments = json.dumps(arguments)
    call["function"]["arguments"] += arguments or ""


def _finish(reason: str | None, called: bool) -> FinishReason:
    if called or reason in ("tool_calls", "function_call"):
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0),
                 completion_tokens=int(raw.get("completion_tokens") or 0))


def _timings(data: dict[str, Any]) -> Timings | None:
    """llama.cpp's server adds engine timings to its answers; others do not."""
    raw = data.get("timings")
    if not isinstance(raw, dict):
        return None
    return Timings(prompt_ms=float(raw.get("prompt_ms") or 0.0),
                   prompt_per_second=float(raw.get("prompt_per_second") or 0.0),
                   decode_ms=float(raw.get("predicted_ms") or 0.0),
                   decode_per_second=float(raw.get("predicted_per_second") or 0.0),
                   cached_tokens=int(raw.get("cache_n") or 0))


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 float32, OpenAI's compact format
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(x) for x in value]
