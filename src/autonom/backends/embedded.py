"""The embedded backend: GGUF models run in-process by llama.cpp's own server (xllamacpp).

xllamacpp gives continuous batching over ``n_parallel`` slots, a prompt cache and JSON-schema
grammars; its calls block, so they run on a thread pool and stream back through a queue. The
chat template is rendered here, in the sandbox of :mod:`autonom.models.chat_template`, and
the engine receives the finished prompt.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from autonom.backends.base import Capabilities
from autonom.backends.pool import ModelPool, PoolSnapshot
from autonom.catalog import fit
from autonom.catalog.local import facts_from_gguf
from autonom.config import EngineSettings, Settings
from autonom.engine import builds
from autonom.errors import BackendError, InvalidModelFileError, InvalidRequestError
from autonom.models.chat_template import render_chat
from autonom.models.registry import ModelRecord, Registry, check_mixable
from autonom.store import Database
from autonom.store.loaded import LoadedModel, publish
from autonom.types import ChatChunk, ChatRequest, ChatResponse, Message, Timings, Usage

log = logging.getLogger("autonom.backends")

_RUNTIME_OVERHEAD = 64 * 2**20
_DONE = object()
MAX_MIXED = 16
"""Tuned models one request may mix."""


@dataclass(frozen=True)
class Mix:
    """Tuned models of one base model, loaded together in one engine instance; each request
    sets the weight (LoRA scale) of each, so that any blend of them answers without a load."""

    records: tuple[ModelRecord, ...]
    weights: tuple[float, ...]

    @property
    def name(self) -> str:
        return "+".join(r.name for r in self.records)

    @property
    def adapters(self) -> list[str]:
        return [str(r.adapter) for r in self.records]

    def lora(self) -> list[dict[str, Any]]:
        """The request's scales, by the adapters' order in the instance."""
        return [{"id": i, "scale": w} for i, w in enumerate(self.weights)]

    @property
    def served_by(self) -> str:
        """Which versions answered, with their weights: ``a:v2×0.70+b:v1×0.30``."""
        return "+".join(f"{_version(r)}×{w:.2f}"
                        for r, w in zip(self.records, self.weights, strict=True) if w > 0)


@dataclass
class EngineHandle:
    server: Any
    load_ms: float
    reported: bool = False

    def take_load_ms(self) -> float:
        """The load time, reported once: to the request that caused the load."""
        if self.reported:
            return 0.0
        self.reported = True
        return self.load_ms


def import_engine() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendError(
            "the embedded engine needs xllamacpp: pip install xllamacpp"
        ) from exc
    return xllamacpp


def engine_params(path: str, engine: EngineSettings, n_ctx: int, *, embedding: bool = False,
                  adapters: Sequence[tuple[str, float]] = ()) -> Any:
    """llama.cpp server parameters for one model (shared with the engine benchmark). LoRA
    ``adapters`` (path, scale) apply at their scale to every request that does not set its
    own scales (``lora`` in the request)."""
    xlc = import_engine()
    params = xlc.CommonParams()
    params.model.path = path
    loras = []
    for adapter, scale in adapters:
        lora = xlc.CommonAdapterLoraInfo()
        lora.path = adapter
        lora.scale = scale
        loras.append(lora)
    if loras:
        params.lora_adapters = loras
    params.n_ctx = n_ctx
    params.n_parallel = engine.n_parallel
    params.n_batch = engine.batch_size
    params.n_ubatch = min(engine.ubatch_size, engine.batch_size)
    params.flash_attn_type = _FLASH_ATTN[engine.flash_attn](xlc)
    params.cache_type_k = params.cache_type_v = _KV_TYPE[engine.kv_cache_type](xlc)
    params.cpuparams.n_threads = engine.threads
    params.cpuparams_batch.n_threads = engine.threads
    params.cpuparams.poll = engine.poll
    params.cpuparams_batch.poll = engine.poll
    params.verbosity = -1
    if embedding:
        params.embedding = True
        params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    return params


_FLASH_ATTN = {
    "auto": lambda x: x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": lambda x: x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": lambda x: x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED,
}
_KV_TYPE = {
    "f16": lambda x: x.ggml_type.GGML_TYPE_F16,
    "q8_0": lambda x: x.ggml_type.GGML_TYPE_Q8_0,
}


class EmbeddedBackend:
    name = "embedded"
    capabilities = Capabilities(embeddings=True, json_schema=True)

    def __init__(self, registry: Registry, settings: Settings, db: Database | None = None) -> None:
        self.registry = registry
        self.engine = settings.engine
        builds.activate(builds.choose(settings))  # before the engine is first imported
        self.default_keep_alive = settings.keep_alive_seconds
        budget = settings.memory_budget_bytes()
        self._db = db
        self.pool = ModelPool(
            max_loaded=settings.max_loaded_models,
            budget_bytes=budget,
            on_change=self._publish if db is not None else None,
        )
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="autonom-engine")

    # -- public interface -------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        record, payload, mix = self._prepare(request)
        loop = asyncio.get_running_loop()
        result, load_ms = await loop.run_in_executor(
            self._executor, self._run_blocking, record, payload, self._keep_alive(request), mix
        )
        _raise_for_error(result)
        choice = result["choices"][0]
        return ChatResponse(
            model=record.name,
            served_by=mix.served_by if mix else _version(record),
            message=Message(role="assistant", content=choice.get("text", "")),
            finish_reason=_finish(choice.get("finish_reason")),
            usage=_usage(result),
            timings=_timings(result),
            load_ms=load_ms,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        record, payload, mix = self._prepare(request)
        served_by = mix.served_by if mix else _version(record)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            if cancelled.is_set():
                return True
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return False

        future = loop.run_in_executor(
            self._executor, self._run_streaming, record, payload, self._keep_alive(request),
            on_chunk, mix,
        )
        future.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while (item := await queue.get()) is not _DONE:
                _raise_for_error(item)
                chunk = _chunk(record.name, item)
                if chunk is not None:
                    yield chunk.model_copy(update={"served_by": served_by})
            future.result()
        finally:
            cancelled.set()

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        record = self.registry.resolve(model)
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self._embed_blocking, record, texts)
        _raise_for_error(result)
        rows = sorted(result["data"], key=lambda row: row["index"])
        return [row["embedding"] for row in rows]

    def loaded(self) -> list[PoolSnapshot]:
        return self.pool.snapshot()

    def unload(self, model: str) -> bool:
        return self.pool.unload(model)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.pool.close()

    # -- request preparation ----------------------------------------------------------

    def _prepare(self, request: ChatRequest
                 ) -> tuple[ModelRecord, dict[str, Any], Mix | None]:
        record = self.registry.resolve(request.model)
        mix = self._mix(record, request.adapters) if request.adapters is not None else None
        payload = completion_payload(self._prompt(record, request), request)
        if mix is not None:
            payload["lora"] = mix.lora()
        if "json_schema" in payload and not has_llguidance():
            payload["grammar"] = schema_grammar(payload.pop("json_schema"))
        if request.prompt is None and not record.info.chat_template:
            # ChatML's markers are plain text to a model that was not trained on them (a base
            # model): stop at them, or it writes the next turns of the conversation itself.
            payload["stop"] = [*payload.get("stop", []), *CHATML_STOPS]
        return record, payload, mix

    def _mix(self, record: ModelRecord, weights: dict[str, float]) -> Mix:
        """The tuned models a request mixes, checked before anything loads: ``record``
        among them, all tuned from one model file, weights finite, not negative, not all 0."""
        if not 0 < len(weights) <= MAX_MIXED:
            raise InvalidRequestError(f"a mix names 1 to {MAX_MIXED} tuned models, not "
                                      f"{len(weights)}")
        if record.name not in weights:
            raise InvalidRequestError(f"the mix must include the model asked for, "
                                      f"{record.name}")
        if any(not math.isfinite(w) or w < 0 for w in weights.values()) \
                or not sum(weights.values()) > 0:
            raise InvalidRequestError("mix weights must be numbers of at least 0, not all 0")
        records = sorted((self.registry.resolve(name) for name in weights),
                         key=lambda r: r.name)
        check_mixable(records)
        return Mix(tuple(records), tuple(float(weights[r.name]) for r in records))

    def _prompt(self, record: ModelRecord, request: ChatRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        info = record.info
        prompt = render_chat(
            info.chat_template,
            [m.model_dump() for m in request.messages],
            bos_token=info.bos_token or "",
            eos_token=info.eos_token or "",
            budget_s=self.engine.template_budget_s,
        )
        if info.add_bos_token and info.bos_token and prompt.startswith(info.bos_token):
            prompt = prompt[len(info.bos_token):]  # the engine adds BOS itself
        return prompt

    def _keep_alive(self, request: ChatRequest) -> float:
        return self.default_keep_alive if request.keep_alive is None else request.keep_alive

    def context_size(self, record: ModelRecord) -> int:
        """Total KV-cache tokens: the per-request context times the parallel slots."""
        per_slot = min(self.engine.n_ctx, record.info.context_length or self.engine.n_ctx)
        return per_slot * self.engine.n_parallel

    def estimate_bytes(self, record: ModelRecord, mix: Mix | None = None) -> int:
        """Memory the loaded model will take: its file, the KV cache of all slots laid out
        as its attention is (sliding windows hold fewer tokens), runtime overhead."""
        per_slot = self.context_size(record) // self.engine.n_parallel
        try:
            facts, _ = facts_from_gguf(record.info, record.name)
        except InvalidModelFileError:  # too little metadata for the layout: all layers full
            kv = record.info.kv_bytes_per_token() * self.context_size(record)
        else:
            kv = int(fit.kv_bytes(facts, per_slot, self.engine.n_parallel))
        tuned = mix.records if mix is not None else (record,)
        adapters = sum(r.adapter.stat().st_size for r in tuned
                       if r.adapter is not None and r.adapter.is_file())
        return record.size_bytes + adapters + kv + _RUNTIME_OVERHEAD

    # -- blocking calls (run on the executor) ------------------------------------------

    def _loader(self, record: ModelRecord, embedding: bool, mix: Mix | None = None
                ) -> EngineHandle:
        xlc = import_engine()
        if mix is not None:  # all at scale 0: each request sets its own scales
            adapters = [(path, 0.0) for path in mix.adapters]
        else:
            adapters = [(str(record.adapter), 1.0)] if record.adapter else []
        params = engine_params(str(record.path), self.engine, self.context_size(record),
                               embedding=embedding, adapters=adapters)
        started = time.perf_counter()
        try:
            server = xlc.Server(params)
        except Exception as exc:
            log.warning("the engine could not load %s: %s", record.name, exc)
            raise BackendError(f"the engine could not load {record.name}: {exc}") from exc
        took = (time.perf_counter() - started) * 1000
        log.info("loaded %s", record.name, extra={"fields": {
            "backend": "embedded", "ms": round(took), "embedding": embedding}})
        return EngineHandle(server, took)

    def _lease(self, record: ModelRecord, keep_alive: float, embedding: bool = False,
               mix: Mix | None = None) -> Any:
        # a re-pointed tuned model (a new adapter) loads afresh; the old one idles out
        key = (record.name, "embed" if embedding else "chat", str(record.adapter or ""))
        if mix is not None:  # one instance for every blend of the same tuned models
            key = (mix.name, "chat", "|".join(mix.adapters))
        return self.pool.lease(
            key,
            self.estimate_bytes(record, mix),
            lambda: self._loader(record, embedding, mix),
            _unload,
            keep_alive,
        )

    def _run_blocking(
        self, record: ModelRecord, payload: dict[str, Any], keep_alive: float,
        mix: Mix | None = None,
    ) -> tuple[dict[str, Any], float]:
        with self._lease(record, keep_alive, mix=mix) as handle:
            return handle.server.handle_completions(payload), handle.take_load_ms()

    def _run_streaming(
        self, record: ModelRecord, payload: dict[str, Any], keep_alive: float, on_chunk: Any,
        mix: Mix | None = None,
    ) -> None:
        with self._lease(record, keep_alive, mix=mix) as handle:
            handle.take_load_ms()
            handle.server.handle_completions({**payload, "stream": True}, on_chunk)

    def _embed_blocking(self, record: ModelRecord, texts: list[str]) -> dict[str, Any]:
        with self._lease(record, self.default_keep_alive, embedding=True) as handle:
            return handle.server.handle_embeddings({"input": texts})

    def _publish(self, snapshots: list[PoolSnapshot]) -> None:
        assert self._db is not None
        now = time.time()
        # A tuned model re-pointed to a new adapter is loaded twice until the old instance
        # idles out; autonom ps shows the newest.
        newest = {(s.name, s.kind): s for s in sorted(snapshots, key=lambda s: s.loaded_at)}
        publish(self._db, [
            LoadedModel(
                name=s.name, kind=s.kind, size_bytes=s.size_bytes, loaded_at=s.loaded_at,
                expires_at=None if s.expires_in is None else now + s.expires_in,
                pid=os.getpid(),
            )
            for s in newest.values()
        ])


CHATML_STOPS = ("<|im_end|>", "<|im_start|>")


def completion_payload(prompt: str, request: ChatRequest) -> dict[str, Any]:
    """The llama.cpp /completion request for a rendered prompt and our options."""
    opts = request.options
    payload: dict[str, Any] = {"prompt": prompt, "cache_prompt": True}
    payload["max_tokens"] = opts.max_tokens if opts.max_tokens is not None else -1
    for key in ("temperature", "top_p", "top_k", "seed", "repeat_penalty", "frequency_penalty",
                "presence_penalty"):
        value = getattr(opts, key)
        if value is not None:
            payload[key] = value
    if opts.stop:
        payload["stop"] = list(opts.stop)
    if opts.json_schema is not None:
        payload["json_schema"] = opts.json_schema
    return payload


@functools.cache
def has_llguidance() -> bool:
    """Whether this engine build turns JSON schemas into llguidance grammars (the prebuilt
    wheel) rather than llama.cpp's own GBNF (a native build: llguidance needs Rust crates
    from the internet to compile, so ``autonom engine build`` leaves it out)."""
    return bool(import_engine().json_schema_to_grammar('{"type": "string"}')
                .startswith("%llguidance"))


_SPACE_RULE = re.compile(r"^space ::= .*$", re.MULTILINE)


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar for ``schema``, with whitespace between tokens limited to one space.

    llama.cpp's converter allows up to two newlines and twenty spaces or tabs wherever JSON
    allows whitespace, and small models fill that room: answers get longer and run into
    max_tokens before the closing brace. llguidance writes compact JSON; this keeps the
    native build's answers the same size.
    """
    try:
        grammar = import_engine().json_schema_to_grammar(json.dumps(schema))
    except Exception as exc:  # the converter reports unsupported or contradictory schemas
        raise InvalidRequestError(f"the JSON schema cannot be enforced: {exc}") from exc
    return str(_SPACE_RULE.sub('space ::= | " "', grammar, count=1))


def _unload(handle: EngineHandle) -> None:
    handle.server = None  # dropping the last reference stops llama.cpp's loop and frees memory


def _raise_for_error(result: dict[str, Any]) -> None:
    error = result.get("error") if isinstance(result, dict) else None
    if error is None and isinstance(result, dict) and "code" in result and "message" in result:
        error = result
    if error is None:
        return
    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    code = error.get("code", 500) if isinstance(error, dict) else 500
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        message = (f"the prompt has {error.get('n_prompt_tokens', '?')} tokens but the context "
                   f"holds {error.get('n_ctx', '?')}: shorten it, or raise engine.n_ctx "
                   "(AUTONOM_ENGINE__N_CTX; the model's own context length caps it)")
    if isinstance(code, int) and 400 <= code < 500:
        raise InvalidRequestError(message)
    raise BackendError(f"engine error: {message}")


def _finish(reason: str | None) -> Any:
    return "length" if reason == "length" else "stop"


def _usage(result: dict[str, Any]) -> Usage:
    usage = result.get("usage") or {}
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
    )


def _timings(result: dict[str, Any]) -> Timings | None:
    t = result.get("timings")
    if not t:
        return None
    return Timings(
        prompt_ms=t.get("prompt_ms", 0.0),
        prompt_per_second=t.get("prompt_per_second", 0.0),
        decode_ms=t.get("predicted_ms", 0.0),
        decode_per_second=t.get("predicted_per_second", 0.0),
        cached_tokens=t.get("cache_n", 0),
    )


def _version(record: ModelRecord) -> str | None:
    """For a tuned model, which version answered (``NAME:vN``, kept in the record's source
    by ``autonom tune``), so that the request log says which adapter answered."""
    if record.adapter is None:
        return None
    return record.source.removeprefix("tune:")


def _chunk(model: str, item: dict[str, Any]) -> ChatChunk | None:
    choices = item.get("choices") or [{}]
    choice = choices[0]
    reason = choice.get("finish_reason")
    text = choice.get("text", "")
    if not text and reason is None:
        return None
    return ChatChunk(
        model=model,
        delta=text,
        finish_reason=_finish(reason) if reason else None,
        usage=_usage(item) if reason else None,
        timings=_timings(item) if reason else None,
    )
