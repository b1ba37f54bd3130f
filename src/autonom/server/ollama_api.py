"""Ollama-compatible routes under /api (chat, generate, embed, tags, ps, show, version, pull,
delete). Streams are NDJSON, durations are nanoseconds, errors are ``{"error": "..."}``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import Field

from autonom import __version__
from autonom.errors import AutonomError, InvalidRequestError
from autonom.models.registry import ModelRecord
from autonom.server.auth import AdminKey, AnyKey, ChatKey, EmbedKey
from autonom.server.state import state
from autonom.server.streaming import ndjson, primed, pull_lines
from autonom.server.wire import (
    Open,
    ToolSpec,
    call_context,
    gateway,
    grounding_fields,
)
from autonom.services.grounding import PREFIX
from autonom.services.offered import (
    embedding_model,
    readable_collections,
    routed_models,
    usable_experts,
)
from autonom.store.keys import ApiKey
from autonom.tuning.experts import PREFIX as EXPERTS
from autonom.types import (
    ChatChunk,
    ChatRequest,
    GenerationOptions,
    Message,
    Seed,
    ToolCall,
    parse_keep_alive,
)

router = APIRouter(prefix="/api", tags=["ollama"])


class Options(Open):
    temperature: float | None = Field(default=None, ge=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    seed: Seed | None = None
    stop: list[str] | None = None
    num_ctx: int | None = Field(default=None, ge=1)
    num_predict: int | None = None
    repeat_penalty: float | None = Field(default=None, ge=0, le=5)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)


class OllamaFunction(Open):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class OllamaToolCall(Open):
    function: OllamaFunction


class OllamaMessage(Open):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None
    tool_name: str | None = None


class _Generation(Open):
    model: str = Field(min_length=1, max_length=200)
    stream: bool = True
    format: Literal["json", ""] | dict[str, Any] | None = None
    options: Options | None = None
    keep_alive: str | float | None = None


class ChatBody(_Generation):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[ToolSpec] | None = None


class GenerateBody(_Generation):
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: list[str] | None = None
    context: list[int] | None = None


class EmbedBody(Open):
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str]
    keep_alive: str | float | None = None


class LegacyEmbedBody(Open):
    model: str = Field(min_length=1, max_length=200)
    prompt: str


class ModelBody(Open):
    model: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)

    @property
    def target(self) -> str:
        target = self.model or self.name
        if not target:
            raise InvalidRequestError("model is required")
        return target


class PullBody(ModelBody):
    stream: bool = True


# -- conversions ---------------------------------------------------------------------------


def _options(body: _Generation) -> GenerationOptions:
    o = body.options or Options()
    # num_ctx is accepted but the context size is a server setting (engine.n_ctx): a prompt
    # that does not fit is refused with 400, never silently truncated.
    max_tokens = o.num_predict if o.num_predict is not None and o.num_predict > 0 else None
    schema: dict[str, Any] | None = None
    if body.format == "json":
        schema = {"type": "object"}
    elif isinstance(body.format, dict):
        schema = body.format
    return GenerationOptions(temperature=o.temperature, top_p=o.top_p, top_k=o.top_k,
                             seed=o.seed, stop=o.stop or [], max_tokens=max_tokens,
                             json_schema=schema, repeat_penalty=o.repeat_penalty,
                             frequency_penalty=o.frequency_penalty,
                             presence_penalty=o.presence_penalty)


def _done_reason(reason: str | None) -> str | None:
    return "stop" if reason == "tool_calls" else reason  # Ollama says "stop" for tool calls


def _no_images(images: list[str] | None) -> None:
    if images:
        raise InvalidRequestError("images are not supported by this model")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _stats(chunk_or_response: Any, started: float) -> dict[str, Any]:
    usage, timings = chunk_or_response.usage, chunk_or_response.timings
    stats: dict[str, Any] = {"total_duration": _ns(time.perf_counter() - started),
                             "load_duration": _ns(getattr(chunk_or_response, "load_ms", 0) / 1000)}
    if usage is not None:
        stats["prompt_eval_count"] = usage.prompt_tokens
        stats["eval_count"] = usage.completion_tokens
    if timings is not None:
        stats["prompt_eval_duration"] = _ns(timings.prompt_ms / 1000)
        stats["eval_duration"] = _ns(timings.decode_ms / 1000)
    return stats


# -- chat and generate ---------------------------------------------------------------------


@router.post("/chat", response_model=None)
async def chat(body: ChatBody, request: Request,
               key: ChatKey) -> Response:
    for message in body.messages:
        _no_images(message.images)
    keep_alive = parse_keep_alive(body.keep_alive)
    if not body.messages:
        return _load_or_unload(request, body.model, keep_alive, "message")
    chat_request = ChatRequest(
        model=body.model, messages=[_message(m) for m in body.messages],
        options=_options(body), keep_alive=keep_alive,
        tools=[t.to_tool() for t in body.tools or []])
    return await _run(request, key, body, chat_request, "message")


def _message(m: OllamaMessage) -> Message:
    calls = tuple(ToolCall(id=f"call_{i}", name=c.function.name, arguments=c.function.arguments)
                  for i, c in enumerate(m.tool_calls or []))
    return Message(role=m.role, content=m.content, tool_calls=calls, name=m.tool_name)


def _message_out(text: str, calls: tuple[ToolCall, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}}
                             for c in calls]
    return out


@router.post("/generate", response_model=None)
async def generate(body: GenerateBody, request: Request,
                   key: ChatKey) -> Response:
    _no_images(body.images)
    keep_alive = parse_keep_alive(body.keep_alive)
    if not body.prompt:
        return _load_or_unload(request, body.model, keep_alive, "response")
    if body.raw:
        chat_request = ChatRequest(model=body.model, prompt=body.prompt, options=_options(body),
                                   keep_alive=keep_alive)
        return await _run(request, key, body, chat_request, "response")
    history = decode_context(body.context)
    messages = [Message(role="system", content=body.system)] if body.system else []
    messages += [*history, Message(role="user", content=body.prompt)]
    chat_request = ChatRequest(model=body.model, messages=messages, options=_options(body),
                               keep_alive=keep_alive)
    turn = [*history, Message(role="user", content=body.prompt)]
    return await _run(request, key, body, chat_request, "response", context=turn)


# Ollama's ``context`` is an opaque list of integers that a client passes back to continue a
# conversation. Here it carries the conversation itself (UTF-8 bytes of a JSON list of
# messages), so it works with every backend and is re-rendered by the model's template.
_MAX_CONTEXT = 1_000_000


def encode_context(messages: list[Message]) -> list[int]:
    data = [{"role": m.role, "content": m.content} for m in messages]
    return list(json.dumps(data, ensure_ascii=False).encode("utf-8"))


def decode_context(context: list[int] | None) -> list[Message]:
    if not context:
        return []
    try:
        if len(context) > _MAX_CONTEXT:
            raise ValueError("too long")
        data = json.loads(bytes(context).decode("utf-8"))
        return [Message(role=m["role"], content=m["content"]) for m in data
                if m["role"] in ("user", "assistant")]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRequestError(
            "invalid context: pass back the context of an earlier /api/generate answer"
        ) from exc


def _load_or_unload(request: Request, model: str, keep_alive: float | None,
                    field: str) -> JSONResponse:
    """An empty prompt: Ollama's way to load a model, or with keep_alive 0 to unload it."""
    services = state(request).services
    routed = model in services.settings.aliases or "@" in model
    if not routed:  # an alias or a remote model loads where it runs
        services.registry.resolve(model)
    reason = "load"
    if keep_alive == 0:
        services.router.unload(model)
        reason = "unload"
    content: Any = {"role": "assistant", "content": ""} if field == "message" else ""
    return JSONResponse({"model": model, "created_at": _now(), field: content, "done": True,
                         "done_reason": reason})


async def _run(request: Request, key: ApiKey | None, body: _Generation,
               chat_request: ChatRequest, field: str,
               context: list[Message] | None = None) -> Response:
    ctx = call_context(request, key, body, "ollama")
    service = gateway(request)
    started = time.perf_counter()

    def piece(text: str, calls: tuple[ToolCall, ...] = ()) -> Any:
        return _message_out(text, calls) if field == "message" else text

    def continuation(answer: str) -> dict[str, Any]:
        if context is None:
            return {}
        turn = [*context, Message(role="assistant", content=answer)]
        return {"context": encode_context(turn)}

    if not body.stream:
        response = await service.chat(chat_request, ctx)
        return JSONResponse({"model": response.model, "created_at": _now(),
                             field: piece(response.message.content, response.message.tool_calls),
                             "done": True,
                             "done_reason": _done_reason(response.finish_reason),
                             **_stats(response, started),
                             **continuation(response.message.content),
                             **grounding_fields(response)})
    chunks = await primed(service.stream(chat_request, ctx))
    return StreamingResponse(
        _lines(chunks, chat_request.model, field, piece, started, continuation),
        media_type="application/x-ndjson")


async def _lines(chunks: AsyncIterator[ChatChunk], model: str, field: str, piece: Any,
                 started: float, continuation: Any) -> AsyncIterator[str]:
    parts: list[str] = []
    try:
        async for chunk in chunks:
            parts.append(chunk.delta)
            line: dict[str, Any] = {"model": model, "created_at": _now(),
                                    field: piece(chunk.delta, chunk.tool_calls), "done": False}
            if chunk.finish_reason is not None:
                if chunk.delta:
                    yield ndjson(line)
                    line[field] = piece("")
                line.update(done=True, done_reason=_done_reason(chunk.finish_reason),
                            **_stats(chunk, started), **continuation("".join(parts)),
                            **grounding_fields(chunk))
            yield ndjson(line)
    except AutonomError as exc:
        yield ndjson({"error": str(exc)})


# -- embeddings ----------------------------------------------------------------------------


@router.post("/embed")
async def embed(body: EmbedBody, request: Request,
                key: EmbedKey) -> dict[str, Any]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidRequestError("input must not be empty")
    started = time.perf_counter()
    ctx = call_context(request, key, body, "ollama")
    vectors = await gateway(request).embed(body.model, texts, ctx)
    return {"model": body.model, "embeddings": vectors,
            "total_duration": _ns(time.perf_counter() - started)}


@router.post("/embeddings")
async def embeddings(body: LegacyEmbedBody, request: Request,
                     key: EmbedKey) -> dict[str, Any]:
    ctx = call_context(request, key, body, "ollama")
    [vector] = await gateway(request).embed(body.model, [body.prompt], ctx)
    return {"embedding": vector}


# -- models --------------------------------------------------------------------------------


def _details(record: ModelRecord) -> dict[str, Any]:
    info = record.info
    return {"parent_model": "", "format": "gguf", "family": info.architecture,
            "families": [info.architecture],
            "parameter_size": info.size_label or f"{info.parameters / 1e6:.0f}M",
            "quantization_level": info.quantization}


@router.get("/tags")
async def tags(request: Request, key: AnyKey) -> dict[str, Any]:
    services = state(request).services
    models = [
        {"name": r.name, "model": r.name, "modified_at": r.created_at, "size": r.size_bytes,
         "digest": r.sha256, "details": _details(r)}
        for r in services.registry.list()
    ]
    for info in readable_collections(services, key):
        name = PREFIX + info.name
        models.append({
            "name": name, "model": name, "size": 0,
            "modified_at": datetime.fromtimestamp(info.created_at, UTC).isoformat(),
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"parent_model": "", "format": "rag", "family": "rag",
                        "families": ["rag"], "parameter_size": f"{info.documents} documents",
                        "quantization_level": ""}})
    for alias, spec in services.settings.mcp.aliases.items():
        models.append({
            "name": alias, "model": alias, "size": 0,
            "modified_at": datetime.fromtimestamp(0, UTC).isoformat(),
            "digest": hashlib.sha256(alias.encode()).hexdigest(),
            "details": {"parent_model": spec.model, "format": "mcp", "family": "mcp",
                        "families": ["mcp"], "parameter_size": "",
                        "quantization_level": ""}})
    for expert_set in usable_experts(services, key):
        name = EXPERTS + expert_set.name
        models.append({
            "name": name, "model": name, "size": 0,
            "modified_at": datetime.fromtimestamp(expert_set.created_at, UTC).isoformat(),
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"parent_model": expert_set.fallback, "format": "experts",
                        "family": "experts", "families": ["experts"],
                        "parameter_size": f"{len(expert_set.domains)} experts",
                        "quantization_level": ""}})
    if (embedder := embedding_model(services)) is not None:
        models.append({
            "name": embedder, "model": embedder, "size": 0,
            "modified_at": datetime.fromtimestamp(0, UTC).isoformat(),
            "digest": hashlib.sha256(embedder.encode()).hexdigest(),
            "details": {"parent_model": "", "format": "embedder", "family": "bert",
                        "families": ["bert"], "parameter_size": "118M",
                        "quantization_level": "Q4"}})
    for name, owner in await routed_models(services, {str(m["name"]) for m in models}):
        kind = owner if "alias" in owner else "remote"
        models.append({
            "name": name, "model": name, "size": 0,
            "modified_at": datetime.fromtimestamp(0, UTC).isoformat(),
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"parent_model": "" if "alias" in owner else owner, "format": kind,
                        "family": kind, "families": [kind], "parameter_size": "",
                        "quantization_level": ""}})
    return {"models": models}


@router.get("/ps")
async def ps(request: Request, _: AnyKey) -> dict[str, Any]:
    services = state(request).services
    now = time.time()
    models = []
    for snapshot in services.router.loaded():
        if snapshot.kind != "chat":
            continue
        record = services.registry.get(snapshot.name)
        expires = None if snapshot.expires_in is None else now + snapshot.expires_in
        models.append({
            "name": record.name, "model": record.name, "size": snapshot.size_bytes,
            "digest": record.sha256, "details": _details(record), "size_vram": 0,
            "expires_at": datetime.fromtimestamp(expires or now + 10 * 365 * 86400, UTC)
            .isoformat().replace("+00:00", "Z"),
            "context_length": services.settings.engine.n_ctx,
        })
    return {"models": models}


@router.post("/show")
async def show(body: ModelBody, request: Request,
               key: AnyKey) -> dict[str, Any]:
    record = state(request).services.registry.resolve(body.target)
    # where the file lies on the server is for administrators only
    origin = record.path if key is None or "admin" in key.scopes else record.name
    info = record.info
    arch = info.architecture
    model_info = {"general.architecture": arch, "general.parameter_count": info.parameters,
                  "general.file_type": info.quantization, f"{arch}.context_length":
                  info.context_length, f"{arch}.embedding_length": info.embedding_length,
                  f"{arch}.block_count": info.block_count}
    return {"license": info.license or "", "modelfile": f"FROM {origin}\n",
            "parameters": "", "template": info.chat_template or "",
            "details": _details(record), "model_info": model_info,
            "modified_at": record.created_at, "capabilities": ["completion", "embedding"]}


OLLAMA_COMPATIBLE = "0.9.0"
"""The Ollama release whose API these routes follow; clients that check the version of
the server they talk to compare against this, not against autonom's own version."""


@router.get("/version")
async def version() -> dict[str, str]:
    return {"version": OLLAMA_COMPATIBLE, "autonom": __version__}


@router.delete("/delete")
async def delete(body: ModelBody, request: Request,
                 _: AdminKey) -> Response:
    services = state(request).services
    services.remove(body.target)
    return Response(status_code=200)


@router.post("/pull", response_model=None)
async def pull(body: PullBody, request: Request,
               _: AdminKey) -> Response:
    services = state(request).services
    services.check_pull(body.target, remote=True)  # refusals as a status, before streaming
    if not body.stream:
        record = await asyncio.to_thread(services.pull, body.target, remote=True)
        return JSONResponse({"status": "success", "digest": record.sha256})
    return StreamingResponse(pull_lines(services, body.target),
                             media_type="application/x-ndjson")


