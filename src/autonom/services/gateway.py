"""The service layer every client request goes through, whatever API it came in on.

It enforces per-key rate limits, the ``max_tokens`` cap, a bounded admission queue in front
of the engine and a per-request deadline; it records metrics; and it writes exactly one log
row per request — before the client sees the end of the answer, so nothing acknowledged is
missing from the log after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from autonom import logs, stated_schema
from autonom.backends.base import Backend
from autonom.config import McpSettings, ServerSettings
from autonom.errors import (
    DeadlineError,
    InvalidRequestError,
    NotFoundError,
    PromptInjectionError,
    QueueFullError,
    RateLimitError,
    http_status,
)
from autonom.guard import injection, limits, output, pii
from autonom.knowledge.base import KnowledgeBase
from autonom.metrics import Metrics
from autonom.services import grounding
from autonom.store import Database, rate_usage, request_log
from autonom.store.keys import ApiKey
from autonom.store.tool_calls import ToolLedger
from autonom.tuning import experts
from autonom.types import ChatChunk, ChatRequest, ChatResponse, Message, ToolCall, Usage

if TYPE_CHECKING:
    from autonom.mcp.loop import LoopResult
    from autonom.mcp.policy import Verdict
    from autonom.mcp.toolbox import Confirm

T = TypeVar("T")


log = logging.getLogger("autonom.gateway")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(10)


@dataclass
class CallContext:
    """Who asked, through which route, and what to log as their request."""

    route: str
    key: ApiKey | None = None
    request_id: str = field(default_factory=new_request_id)
    body: Any = None


class RateLimiter:
    """Sliding one-minute windows of requests and tokens per key (per server process)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        # per key: (time, amount) events of the last minute
        self._requests: dict[str, deque[tuple[float, int]]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}

    def check(self, key: ApiKey | None) -> None:
        if key is None or (key.rpm is None and key.tpm is None):
            return
        now = self._clock()
        for limit, windows, unit in ((key.rpm, self._requests, "requests"),
                                     (key.tpm, self._tokens, "tokens")):
            window = self._window(windows, key.id, now)
            if limit is not None and sum(n for _, n in window) >= limit:
                raise _limit_reached(limit, unit, max(1.0, window[0][0] + 60 - now))
        self._requests[key.id].append((now, 1))

    def add_tokens(self, key: ApiKey | None, tokens: int) -> None:
        if key is not None and key.tpm is not None and tokens:
            self._tokens.setdefault(key.id, deque()).append((self._clock(), tokens))

    @staticmethod
    def _window(windows: dict[str, deque[tuple[float, int]]], key_id: str,
                now: float) -> deque[tuple[float, int]]:
        window = windows.setdefault(key_id, deque())
        while window and window[0][0] <= now - 60:
            window.popleft()
        return window


def _limit_reached(limit: int | None, unit: str, wait: float) -> RateLimitError:
    return RateLimitError(f"rate limit of {limit} {unit} per minute reached", retry_after=wait)


class SharedRateLimiter:
    """The same limits, counted in the database: replicas on one PostgreSQL share them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def check(self, key: ApiKey | None) -> None:
        if key is None or (key.rpm is None and key.tpm is None):
            return
        refused = rate_usage.admit(self.db, key.id, key.rpm, key.tpm)
        if refused is not None:
            unit, wait = refused
            raise _limit_reached(key.rpm if unit == "requests" else key.tpm, unit, wait)

    def add_tokens(self, key: ApiKey | None, tokens: int) -> None:
        if key is not None and key.tpm is not None and tokens:
            rate_usage.add_tokens(self.db, key.id, tokens)


@dataclass(frozen=True)
class Plan:
    """How one request is answered, decided once (:meth:`Gateway.plan`) and followed by
    every path that answers it (whole, streamed, evaluated)."""

    kind: Literal["model", "documents", "tools"]
    request: ChatRequest
    """The request as it goes on (an expert set's request names the chosen expert)."""
    routing: experts.Routing | None = None
    """The expert set's choice, when the client named an expert set."""
    documents: grounding.Target | None = None
    """The collection for ``rag:`` models."""

    @property
    def whole(self) -> bool:
        """Answers from documents and from tool loops are complete before they are sent."""
        return self.kind != "model"


class Gateway:
    def __init__(self, backend: Backend, db: Database, limits: ServerSettings,
                 metrics: Metrics | None = None,
                 knowledge: KnowledgeBase | None = None,
                 mcp: McpSettings | None = None, max_concurrent: int | None = None,
                 experts_home: Path | None = None) -> None:
        self.backend = backend
        self.max_concurrent = max_concurrent or limits.max_concurrent
        """Requests in flight at once, over all backends (each also has its own limit)."""
        self.knowledge = knowledge
        self.experts_home = experts_home
        """Where expert sets (``experts:NAME``) are stored; None: this gateway has none."""
        self.mcp = mcp or McpSettings()
        self.db = db
        self.limits = limits
        self.metrics = metrics or Metrics()
        self.rate: RateLimiter | SharedRateLimiter = (
            SharedRateLimiter(db) if db.shared else RateLimiter())
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    # -- admission --------------------------------------------------------------------

    @asynccontextmanager
    async def _admitted(self) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent)
        if self._slots.locked() and self._waiting >= self.limits.max_queue:
            raise QueueFullError(
                f"server busy: {self._waiting} requests are already waiting", retry_after=2.0
            )
        self._waiting += 1
        self.metrics.queue_depth.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.metrics.queue_depth.set(self._waiting)
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.metrics.in_flight.dec()
            self._slots.release()

    def _prepare(self, request: ChatRequest, ctx: CallContext) -> ChatRequest:
        logs.note(request_id=ctx.request_id, model=request.model)
        self.rate.check(ctx.key)
        request = stated_schema.with_stated_schema(request)
        limits.check_request(request)
        request = self._screened(request)
        cap = self.limits.max_tokens_cap
        wanted = request.options.max_tokens
        if wanted is not None and wanted > cap:
            raise InvalidRequestError(f"max_tokens {wanted} exceeds this server's limit of {cap}")
        if wanted is None:
            options = request.options.model_copy(update={"max_tokens": cap})
            request = request.model_copy(update={"options": options})
        return request

    def _screened(self, request: ChatRequest) -> ChatRequest:
        """The newest user message must not carry instructions for the assistant; tool
        results a client passes on are data, so instructions planted in them are removed."""
        text = request.user_text
        if (self.limits.screen_input == "refuse" and text
                and injection.user_request_is_suspicious(text)):
            raise PromptInjectionError(
                "refused: the message contains instructions aimed at the assistant (prompt "
                "injection or jailbreak). Rephrase it as a question; an operator can set "
                "server.screen_input = \"off\"")
        if not any(m.role == "tool" for m in request.messages):
            return request
        messages = [m.model_copy(update={"content": injection.redact(m.content)[0]})
                    if m.role == "tool" else m for m in request.messages]
        return request.model_copy(update={"messages": messages})

    # -- chat -------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        started = time.perf_counter()
        plan: Plan | None = None
        try:
            request = self._prepare(request, ctx)
            async with self._admitted(), self._deadline():
                plan = await self.plan(request)
                response = await self._answer(plan, ctx)
            response = self._filtered(response, request)
            if plan.routing is not None:
                response = response.model_copy(update={
                    "model": request.model,
                    "served_by": _expert_label(plan.routing, response.served_by)})
        except BaseException as exc:
            self._log(ctx, request, started, error=exc,
                      served_by=_expert_label(plan.routing if plan else None, None))
            raise
        self._log(ctx, request, started, text=response.message.content, usage=response.usage,
                  tool_calls=response.message.tool_calls, served_by=response.served_by)
        return response

    async def plan(self, request: ChatRequest) -> Plan:
        """How the request is answered, decided once from the model it names: an expert set
        picks its expert first; then ``rag:`` answers from documents, an MCP alias runs the
        tool loop, anything else goes to the router."""
        routing = None
        if experts.is_experts(request.model):
            if self.experts_home is None or self.knowledge is None:
                raise NotFoundError(f"model {request.model!r}: this server has no expert sets")
            routing = await asyncio.to_thread(experts.resolve, self.experts_home,
                                              self.knowledge, request.model,
                                              grounding.question_of(request))
            request = request.model_copy(update={"model": routing.target,
                                                 "adapters": routing.mix or None})
        kind, documents = self._kind(request.model)
        return Plan(kind, request, routing, documents)

    def _kind(self, model: str
              ) -> tuple[Literal["model", "documents", "tools"], grounding.Target | None]:
        if (target := grounding.parse_target(model)) is not None:
            return "documents", target
        return ("tools" if model in self.mcp.aliases else "model"), None

    def answers_whole(self, request: ChatRequest) -> bool:
        """Whether the model a request names answers whole (for measuring: the time to the
        first token of such an answer is the time to all of it)."""
        return self._kind(request.model)[0] != "model"

    async def _answer(self, plan: Plan, ctx: CallContext) -> ChatResponse:
        if plan.documents is not None:
            return await self._grounded(plan.documents, plan.request, ctx)
        if plan.kind == "tools":
            return await self._with_tools(plan.request, ctx)
        return await self.backend.chat(plan.request)

    async def _with_tools(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        """A model alias with MCP servers: the tool loop, where nobody can be asked, so tools
        that change data run only if the server's config lists them in auto_approve."""
        from autonom.mcp.toolbox import refuse

        name = request.model
        alias = self.mcp.aliases[name]
        if request.tools:
            raise InvalidRequestError(f"model {name!r} brings its own tools (MCP servers "
                                      f"{', '.join(alias.servers)}); leave out 'tools'")
        messages = request.messages or [Message(role="user", content=request.prompt or "")]
        inner = request.model_copy(update={"model": alias.model, "prompt": None,
                                           "messages": messages})
        result = await self._tool_loop(inner, ctx, alias.servers, refuse,
                                       alias.system, alias.max_steps)
        return result.response.model_copy(update={"model": name})

    async def _tool_loop(self, request: ChatRequest, ctx: CallContext, servers: list[str],
                         confirm: Confirm, system: str | None, max_steps: int | None,
                         on_verdicts: Callable[[list[Verdict]], None] | None = None,
                         ) -> LoopResult:
        from autonom.mcp import loop
        from autonom.mcp.toolbox import Toolbox

        async with Toolbox.open(servers, self.mcp, ToolLedger(self.db),
                                request_id=ctx.request_id,
                                log_arguments=self.limits.log_content) as box:
            if on_verdicts is not None:
                on_verdicts(box.verdicts)
            return await loop.answer(self.backend.chat, request, box, confirm,
                                     max_steps=max_steps or self.mcp.max_steps, system=system)

    async def with_tools(self, request: ChatRequest, ctx: CallContext, servers: list[str],
                         confirm: Confirm, system: str | None = None,
                         on_verdicts: Callable[[list[Verdict]], None] | None = None,
                         ) -> LoopResult:
        """A chat whose model may call the tools of these MCP servers (``autonom run
        --tools``), with the admission, guards and log of every request; ``confirm`` is
        asked before a tool that changes data runs, ``on_verdicts`` told which tools may
        be used. No deadline: a person may be asked."""
        started = time.perf_counter()
        try:
            request = self._prepare(request, ctx)
            async with self._admitted():
                result = await self._tool_loop(request, ctx, servers, confirm, system, None,
                                               on_verdicts)
            response = self._filtered(result.response, request)
        except BaseException as exc:
            self._log(ctx, request, started, error=exc)
            raise
        self._log(ctx, request, started, text=response.message.content, usage=response.usage,
                  tool_calls=response.message.tool_calls, served_by=response.served_by)
        result.response = response
        return result

    async def _grounded(self, target: grounding.Target, request: ChatRequest,
                        ctx: CallContext) -> ChatResponse:
        if self.knowledge is None:
            raise NotFoundError("this server has no document collections")
        return await grounding.answer(self.knowledge, target, request, ctx.key)

    async def _chunks(self, plan: Plan, ctx: CallContext) -> AsyncGenerator[ChatChunk, None]:
        """The backend's stream; a tool-calling answer or an answer from documents arrives
        whole, as one or two chunks."""
        if plan.whole:
            response = await self._answer(plan, ctx)
            yield ChatChunk(model=response.model, delta=response.message.content)
            yield ChatChunk(model=response.model, finish_reason=response.finish_reason,
                            usage=response.usage, citations=response.citations,
                            abstained=response.abstained, related=response.related)
            return
        async with aclosing(self.backend.stream(plan.request)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def stream(self, request: ChatRequest,
                     ctx: CallContext) -> AsyncGenerator[ChatChunk, None]:
        started = time.perf_counter()
        parts: list[str] = []
        ttft: float | None = None
        logged = False
        guard = self._output_filter(request)
        plan: Plan | None = None
        try:
            request = self._prepare(request, ctx)
            async with self._admitted(), self._deadline():
                plan = await self.plan(request)
                async for chunk in self._relabelled(plan, request.model, ctx):
                    if guard is not None:
                        delta = guard.feed(chunk.delta)
                        if chunk.finish_reason is not None:
                            delta += guard.finish()
                        chunk = chunk.model_copy(update={"delta": delta})
                    if chunk.delta:
                        ttft = ttft if ttft is not None else time.perf_counter() - started
                        parts.append(chunk.delta)
                    if chunk.finish_reason is not None:
                        self._log(ctx, request, started, text="".join(parts),
                                  usage=chunk.usage, ttft=ttft, tool_calls=chunk.tool_calls,
                                  served_by=chunk.served_by)
                        logged = True
                    yield chunk
        except BaseException as exc:
            if not logged:
                cancelled = isinstance(exc, asyncio.CancelledError | GeneratorExit)
                self._log(ctx, request, started, text="".join(parts), ttft=ttft,
                          error=None if cancelled else exc, cancelled=cancelled,
                          served_by=_expert_label(plan.routing if plan else None, None))
            raise

    async def _relabelled(self, plan: Plan, asked: str,
                          ctx: CallContext) -> AsyncGenerator[ChatChunk, None]:
        """The chunks, under the model name the client asked for when an expert answers."""
        async with aclosing(self._chunks(plan, ctx)) as chunks:
            async for chunk in chunks:
                if plan.routing is not None:
                    chunk = chunk.model_copy(update={
                        "model": asked,
                        "served_by": _expert_label(plan.routing, chunk.served_by)})
                yield chunk

    def _output_rules(self, request: ChatRequest) -> output.OutputRules | None:
        if not (self.limits.filter_output or self.limits.redact_answers):
            return None
        if not self.limits.filter_output:  # personal data only
            return output.OutputRules(markup=False, personal_data=True)
        protected = [m.content for m in request.messages if m.role == "system"]
        alias = self.mcp.aliases.get(request.model)
        if alias is not None and alias.system:
            protected.append(alias.system)
        return output.OutputRules(link_hosts=frozenset(h.lower() for h in self.limits.link_hosts),
                                  protected=tuple(protected),
                                  personal_data=self.limits.redact_answers)

    def _output_filter(self, request: ChatRequest) -> output.OutputFilter | None:
        rules = self._output_rules(request)
        return None if rules is None else output.OutputFilter(rules)

    def _filtered(self, response: ChatResponse, request: ChatRequest) -> ChatResponse:
        """The answer as it may leave the server (see :mod:`autonom.guard.output`)."""
        rules = self._output_rules(request)
        if rules is None or not response.message.content:
            return response
        message = response.message.model_copy(
            update={"content": output.clean(response.message.content, rules)})
        return response.model_copy(update={"message": message})

    def _error_text(self, error: BaseException) -> str:
        text = f"{type(error).__name__}: {error}"
        return pii.redact(text) if self.limits.redact_logs else text

    async def embed(self, model: str, texts: list[str], ctx: CallContext) -> list[list[float]]:
        started = time.perf_counter()
        request = ChatRequest(model=model, prompt="")
        try:
            self.rate.check(ctx.key)
            limits.check_text(texts, "input")
            async with self._admitted(), self._deadline():
                vectors = await self._embed(model, texts)
        except BaseException as exc:
            self._log(ctx, request, started, error=exc)
            raise
        self._log(ctx, request, started, text=None, usage=Usage(), embed_count=len(vectors))
        return vectors

    async def _embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """The document embedder when it is the model asked for (``multilingual-e5-small``),
        else the backend's model."""
        embedder = self.knowledge.embedder if self.knowledge is not None else None
        if embedder is not None and embedder.offered_as == model:
            matrix = await asyncio.to_thread(embedder.embed_passages, texts)
            return matrix.tolist()
        return await self.backend.embed(model, texts)

    def refused(self, ctx: CallContext, error: BaseException, model: str = "") -> None:
        """A request turned away before it reached a service (a body that does not validate):
        it gets its row in the log all the same."""
        self._log(ctx, ChatRequest(model=model, prompt=""), time.perf_counter(), error=error)

    async def documents(self, ctx: CallContext, collection: str | None,
                        work: Callable[[], Awaitable[T]]) -> T:
        """Reading documents (search, a document, an answer over MCP or the knowledge API):
        limited by the key's rate limit and logged like chat, one row per call."""
        started = time.perf_counter()
        request = ChatRequest(model=grounding.PREFIX + (collection or "*"), prompt="")
        try:
            self.rate.check(ctx.key)
            async with self._deadline():
                result = await work()
        except BaseException as exc:
            self._log(ctx, request, started, error=exc)
            raise
        self._log(ctx, request, started, outcome=result)
        return result

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.limits.request_timeout_s):
                yield
        except TimeoutError as exc:
            raise DeadlineError(
                f"request exceeded the deadline of {self.limits.request_timeout_s:g} s"
            ) from exc

    # -- logging ----------------------------------------------------------------------

    def _log(
        self,
        ctx: CallContext,
        request: ChatRequest,
        started: float,
        *,
        text: str | None = None,
        usage: Usage | None = None,
        ttft: float | None = None,
        error: BaseException | None = None,
        cancelled: bool = False,
        embed_count: int | None = None,
        tool_calls: tuple[ToolCall, ...] = (),
        served_by: str | None = None,
        outcome: Any = None,
    ) -> None:
        usage = usage or Usage()
        total = time.perf_counter() - started
        status = 499 if cancelled else (http_status(error) if error is not None else 200)
        logs.note(request_id=ctx.request_id, model=request.model)
        if status >= 500:  # the client sees the status; the operator needs the reason
            log.warning("%s", self._error_text(error or RuntimeError("failed")),
                        extra={"fields": {"route": ctx.route, "status": status}})
        self.rate.add_tokens(ctx.key, usage.total_tokens)
        if error is None and not cancelled:
            self.metrics.tokens.labels(request.model, "prompt").inc(usage.prompt_tokens)
            self.metrics.tokens.labels(request.model, "completion").inc(usage.completion_tokens)
            if ttft is not None:
                self.metrics.ttft.labels(request.model).observe(ttft)
        content = self.limits.log_content
        response: Any = None
        if content and text is not None:
            response = {"text": text}
            if tool_calls:
                response["tool_calls"] = [c.model_dump() for c in tool_calls]
        elif content and embed_count is not None:
            response = {"embeddings": embed_count}
        elif content and outcome is not None:
            response = outcome
        body = ctx.body if content else None
        if self.limits.redact_logs:
            body, response = pii.redact_value(body), pii.redact_value(response)
        request_log.write(self.db, request_log.LogEntry(
            id=ctx.request_id,
            created_at=time.time(),
            route=ctx.route,
            key_id=ctx.key.id if ctx.key else None,
            model=request.model,
            status=status,
            error=None if error is None else self._error_text(error),
            request=body,
            response=response,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            ttft_ms=None if ttft is None else ttft * 1000,
            total_ms=total * 1000,
            cancelled=cancelled,
            served_by=served_by,
        ))


def _expert_label(routing: experts.Routing | None, served_by: str | None) -> str | None:
    """``experts:NAME/DOMAIN (0.93) → model@backend``: the gate's choice and who answered
    (None when no expert set was asked)."""
    if routing is None:
        return None
    return f"{routing.label} → {served_by or routing.target}"
