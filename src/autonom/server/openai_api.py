"""OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field

from autonom import __version__
from autonom.errors import AutonomError, InvalidRequestError, http_status
from autonom.server.auth import AnyKey, ChatKey, EmbedKey
from autonom.server.errors import openai_error
from autonom.server.state import state
from autonom.server.streaming import primed, sse
from autonom.server.wire import (
    Open,
    ToolSpec,
    call_context,
    gateway,
    grounding_fields,
)
from autonom.services.offered import listed_models
from autonom.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    GenerationOptions,
    Message,
    Seed,
    ToolCall,
)

router = APIRouter(prefix="/v1", tags=["openai"])
FINGERPRINT = f"autonom-{__version__}"


class ContentPart(Open):
    type: str
    text: str | None = None


class FunctionCall(Open):
    name: str
    arguments: str = "{}"


class ToolCallIn(Open):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class NamedChoice(Open):
    type: Literal["function"] = "function"
    function: FunctionCall


class StreamOptions(Open):
    include_usage: bool = False


class JsonSchemaFormat(Open):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class SamplingFields(Open):
    model: str = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: Seed | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedChoice | None = None


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)


class EmbeddingRequest(Open):
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"


# -- conversions ---------------------------------------------------------------------------


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.type != "text":
            raise InvalidRequestError(f"content parts of type {part.type!r} are not supported")
        texts.append(part.text or "")
    return "".join(texts)


def _options(body: SamplingFields, max_tokens: int | None,
             schema: dict[str, Any] | None = None) -> GenerationOptions:
    if body.n not in (None, 1):
        raise InvalidRequestError("n > 1 is not supported; send separate requests")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return GenerationOptions(temperature=body.temperature, top_p=body.top_p, seed=body.seed,
                             stop=stop, max_tokens=max_tokens, json_schema=schema,
                             frequency_penalty=body.frequency_penalty,
                             presence_penalty=body.presence_penalty)


def _schema(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None or not fmt.json_schema.schema_:
        raise InvalidRequestError("response_format json_schema needs a 'json_schema.schema'")
    return fmt.json_schema.schema_


def _message(m: ChatMessage) -> Message:
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=_arguments(c.function.arguments))
        for c in m.tool_calls or []
    )
    return Message(role="system" if m.role == "developer" else m.role, content=_text(m.content),
                   tool_calls=calls, tool_call_id=m.tool_call_id, name=m.name)


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidRequestError("tool call arguments must be a JSON object string") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object string")
    return value


def chat_request(body: ChatCompletionRequest) -> ChatRequest:
    max_tokens = body.max_completion_tokens or body.max_tokens
    choice = body.tool_choice or "auto"
    return ChatRequest(
        model=body.model, messages=[_message(m) for m in body.messages],
        options=_options(body, max_tokens, _schema(body.response_format)),
        tools=[t.to_tool() for t in body.tools or []],
        tool_choice=choice.function.name if isinstance(choice, NamedChoice) else choice,
    )


def _calls_out(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments,
                                                                  ensure_ascii=False)}}
            for c in calls]


def _usage(usage: Any) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def _envelope(kind: str, model: str, request_id: str) -> dict[str, Any]:
    return {"id": request_id, "object": kind, "created": int(time.time()), "model": model,
            "system_fingerprint": FINGERPRINT}


# -- routes --------------------------------------------------------------------------------


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, key: ChatKey
) -> JSONResponse | StreamingResponse:
    chat = chat_request(body)
    ctx = call_context(request, key, body, "chatcmpl")
    service = gateway(request)
    if not body.stream:
        response = await service.chat(chat, ctx)
        return JSONResponse(_chat_completion(response, ctx.request_id))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = await primed(service.stream(chat, ctx))
    return StreamingResponse(_chat_events(chunks, ctx.request_id, chat.model, include_usage),
                             media_type="text/event-stream")


def _chat_completion(response: ChatResponse, request_id: str) -> dict[str, Any]:
    return {
        **_envelope("chat.completion", response.model, request_id),
        "choices": [{"index": 0, "logprobs": None, "finish_reason": response.finish_reason,
                     "message": _message_out(response.message)}],
        "usage": _usage(response.usage),
        **grounding_fields(response),
    }


def _message_out(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "refusal": None,
                           "content": message.content if not message.tool_calls else None}
    if message.tool_calls:
        out["tool_calls"] = _calls_out(message.tool_calls)
    return out


async def _chat_events(chunks: AsyncIterator[ChatChunk], request_id: str, model: str,
                       include_usage: bool) -> AsyncIterator[str]:
    head = _envelope("chat.completion.chunk", model, request_id)
    if include_usage:
        head["usage"] = None
    yield sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "logprobs": None, "finish_reason": None}]})
    usage = None
    try:
        async for chunk in chunks:
            delta: dict[str, Any] = {"content": chunk.delta} if chunk.delta else {}
            if chunk.tool_calls:
                delta["tool_calls"] = [{"index": i, **call}
                                       for i, call in enumerate(_calls_out(chunk.tool_calls))]
            yield sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                            "finish_reason": chunk.finish_reason}],
                       **grounding_fields(chunk)})
            usage = chunk.usage or usage
    except AutonomError as exc:
        yield sse(openai_error(http_status(exc), str(exc)))
        return
    if include_usage and usage is not None:
        yield sse({**head, "choices": [], "usage": _usage(usage)})
    yield "data: [DONE]\n\n"


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest, request: Request, key: ChatKey
) -> JSONResponse | StreamingResponse:
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise InvalidRequestError("exactly one prompt per request is supported")
    chat = ChatRequest(model=body.model, prompt=prompts[0],
                       options=_options(body, body.max_tokens))
    ctx = call_context(request, key, body, "cmpl")
    service = gateway(request)
    if not body.stream:
        response = await service.chat(chat, ctx)
        return JSONResponse({
            **_envelope("text_completion", response.model, ctx.request_id),
            "choices": [{"index": 0, "text": response.message.content, "logprobs": None,
                         "finish_reason": response.finish_reason}],
            "usage": _usage(response.usage),
            **grounding_fields(response),
        })
    chunks = await primed(service.stream(chat, ctx))
    return StreamingResponse(_completion_events(chunks, ctx.request_id, chat.model),
                             media_type="text/event-stream")


async def _completion_events(chunks: AsyncIterator[ChatChunk], request_id: str,
                             model: str) -> AsyncIterator[str]:
    head = _envelope("text_completion", model, request_id)
    try:
        async for chunk in chunks:
            yield sse({**head, "choices": [{"index": 0, "text": chunk.delta, "logprobs": None,
                                            "finish_reason": chunk.finish_reason}]})
    except AutonomError as exc:
        yield sse(openai_error(http_status(exc), str(exc)))
        return
    yield "data: [DONE]\n\n"


@router.post("/embeddings")
async def embeddings(
    body: EmbeddingRequest, request: Request, key: EmbedKey
) -> dict[str, Any]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidRequestError("input must not be empty")
    ctx = call_context(request, key, body, "embd")
    vectors = await gateway(request).embed(body.model, texts, ctx)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i,
                  "embedding": _b64(v) if body.encoding_format == "base64" else v}
                 for i, v in enumerate(vectors)],
        "model": body.model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def _b64(vector: list[float]) -> str:
    """Little-endian float32, base64-encoded: OpenAI's compact embedding format."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


@router.get("/models")
async def models(request: Request, key: AnyKey) -> dict[str, Any]:
    data = await listed_models(state(request).services, key)
    return {"object": "list", "data": data}
