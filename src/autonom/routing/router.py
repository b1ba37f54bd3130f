"""Routes each request to a backend: aliases, fallbacks, retries, cooldowns, complexity.

A model name is resolved to an ordered list of targets (``model@backend``):

* an alias from ``[aliases]`` lists them (``chat-default = ["qwen3:8b@gpu-box",
  "smollm2-135m@embedded"]``); a complexity alias first decides whether the request is easy
  or hard and takes that side's list;
* ``model@backend`` names one configured backend (never a URL: clients cannot choose where
  requests go);
* a plain name goes to the backend that offers it: a model registered here runs embedded,
  otherwise the first backend whose ``models`` (or, when unset, whose own model list)
  contains it.

Targets are tried in order. A failure that may pass (connection lost, timeout, 429, 5xx) is
retried on the same backend up to its ``retries``, but only while nothing has reached the
client; then the backend cools down for ``cooldown_s`` and is health-checked before it gets
traffic again, and the next target is tried. A request the client got wrong (400) is not
tried elsewhere. When every target fails, the error names each one and why. Each backend
gets at most ``max_concurrent`` requests at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from autonom.backends.base import Backend, Capabilities, as_remote
from autonom.backends.pool import PoolSnapshot
from autonom.config import (
    EMBEDDED,
    BackendSettings,
    ComplexityAlias,
    alias_sides,
    split_target,
)
from autonom.errors import (
    AutonomError,
    BackendError,
    CoolingDownError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    TemplateError,
    UpstreamError,
    UpstreamTimeoutError,
)
from autonom.routing import complexity
from autonom.types import ChatChunk, ChatRequest, ChatResponse, GenerationOptions, Message

log = logging.getLogger("autonom.router")

FAILURES = (AutonomError, OSError)
"""What a backend may fail with and another backend may then answer: autonom's own errors
(backends turn their transport and engine failures into these) and the operating system's
(sockets, files). Anything else is a bug: it surfaces instead of falling back."""
T = TypeVar("T")
MODEL_LIST_TTL_S = 60.0
_BACKOFF_S = (0.1, 0.3, 1.0)


class Remote(Protocol):
    """What a remote backend offers beyond :class:`Backend`."""

    async def models(self) -> list[str]: ...

    async def health(self) -> None: ...


@dataclass(frozen=True)
class Target:
    model: str
    backend: str

    def __str__(self) -> str:
        return f"{self.model}@{self.backend}"


@dataclass(frozen=True)
class Route:
    """Where one request goes: targets in order, the request as they get it, and why."""

    targets: tuple[Target, ...]
    request: ChatRequest
    reason: str = ""
    alias: bool = False
    """Whether the client named an alias (then errors list every target)."""


@dataclass
class BackendState:
    name: str
    backend: Backend
    settings: BackendSettings
    cooling_until: float = 0.0
    failures: int = 0
    last_error: str | None = None
    _slots: asyncio.Semaphore | None = None
    listed: tuple[float, frozenset[str]] | None = None
    """When the backend was last asked for its models, and its answer."""
    in_use: int = 0
    """Requests sent to it or waiting for one of its places right now."""
    pool: str | None = None
    """The pool this backend is a member of (``[backends.NAME] urls = [...]``)."""

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrent)
        self.in_use += 1
        try:
            async with self._slots:
                yield
        finally:
            self.in_use -= 1


@dataclass
class Attempt:
    target: Target
    error: BaseException

    def __str__(self) -> str:
        return f"{self.target}: {_reason(self.error)}"


@dataclass
class Attempts:
    """What went wrong on the way; the final error is built from it."""

    model: str
    tried: list[Attempt] = field(default_factory=list)
    cooling: list[tuple[Target, float]] = field(default_factory=list)

    def error(self, route: Route) -> AutonomError:
        """One target asked directly: its own error. An alias: every target and why."""
        if not route.alias and len(self.tried) == 1 and not self.cooling:
            only = self.tried[0].error
            if isinstance(only, AutonomError):
                return only
        parts = [str(a) for a in self.tried]
        parts += [f"{t}: cooling down after failures ({left:.0f} s left)"
                  for t, left in self.cooling]
        text = f"no backend could answer {self.model!r}: " + "; ".join(parts)
        errors = [a.error for a in self.tried]
        if not errors:
            wait = min((left for _, left in self.cooling), default=1.0)
            return CoolingDownError(text, retry_after=max(1.0, wait))
        tried = ",".join(str(a.target) for a in self.tried)
        kinds = {type(e) for e in errors}
        if len(kinds) == 1:  # one kind of failure everywhere: keep its kind (and status)
            kind = kinds.pop()
            if issubclass(kind, ModelNotFoundError | PermissionDeniedError):
                return kind(text)
            if issubclass(kind, UpstreamTimeoutError):
                return UpstreamTimeoutError(text, tried)
        return UpstreamError(text, tried)


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__


class Router:
    """A :class:`Backend` that routes to the configured backends."""

    name = "router"
    capabilities = Capabilities(embeddings=True, json_schema=True, tools=True, tool_choice=True)

    def __init__(self, backends: dict[str, Backend], settings: dict[str, BackendSettings],
                 aliases: dict[str, list[str] | ComplexityAlias],
                 is_local: Callable[[str], bool], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 pools: dict[str, list[str]] | None = None) -> None:
        self.states = {name: BackendState(name, backend, settings[name])
                       for name, backend in backends.items()}
        self.pools = dict(pools or {})
        """Pool name → its members' backend names (``gpu`` → ``gpu#1``, ``gpu#2`` …)."""
        for pool, members in self.pools.items():
            for member in members:
                self.states[member].pool = pool
        self._turn = 0
        self.aliases = aliases
        self.is_local = is_local
        self.clock = clock
        self.sleep = sleep

    # -- the Backend interface ----------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        route = await self.route(request)

        def ask(target: Target, state: BackendState) -> Awaitable[ChatResponse]:
            routed = route.request.model_copy(update={"model": target.model})
            return state.backend.chat(routed)

        response, target = await self._first_answer(route, request.model, ask)
        return response.model_copy(update={"model": request.model,
                                           "served_by": _served_by(target, response.served_by)})

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        route = await self.route(request)
        attempts = Attempts(request.model)
        for target, state in self._candidates(route, attempts):
            if not await self._usable(state, target, attempts):
                continue
            for attempt in range(state.settings.retries + 1):
                routed = route.request.model_copy(update={"model": target.model})
                retry = False
                exc: Exception | None = None
                async with state.slot(), aclosing(state.backend.stream(routed)) as chunks:
                    try:
                        first: ChatChunk | None = await anext(chunks)
                    except StopAsyncIteration:
                        first, exc = None, UpstreamError(f"{target.backend}: empty answer",
                                                         target.backend)
                    except FAILURES as error:
                        first, exc = None, error
                    if first is None:
                        assert exc is not None
                        retry = self._failed(state, target, exc, attempt, attempts)
                    else:
                        # From here on the client has data: no retry, no fallback.
                        label = {"model": request.model,
                                 "served_by": _served_by(target, first.served_by)}
                        try:
                            yield first.model_copy(update=label)
                            async for chunk in chunks:
                                yield chunk.model_copy(update=label)
                        except UpstreamError as error:
                            self._cool(state, error)
                            raise
                        self._succeeded(state)
                        return
                if not retry:
                    break
                await self.sleep(_backoff(attempt))
        raise attempts.error(route)

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        route = await self.route(ChatRequest(model=model, prompt=""))

        def ask(target: Target, state: BackendState) -> Awaitable[list[list[float]]]:
            return state.backend.embed(target.model, texts)

        vectors, _ = await self._first_answer(route, model, ask)
        return vectors

    async def _first_answer(self, route: Route, model: str,
                            ask: Callable[[Target, BackendState], Awaitable[T]]
                            ) -> tuple[T, Target]:
        """``ask`` each target in turn, with retries, until one answers."""
        attempts = Attempts(model)
        for target, state in self._candidates(route, attempts):
            if not await self._usable(state, target, attempts):
                continue
            for attempt in range(state.settings.retries + 1):
                try:
                    async with state.slot():
                        result = await ask(target, state)
                except FAILURES as exc:
                    if self._failed(state, target, exc, attempt, attempts):
                        await self.sleep(_backoff(attempt))
                        continue
                    break
                self._succeeded(state)
                return result, target
        raise attempts.error(route)

    def loaded(self) -> list[PoolSnapshot]:
        return [s for state in self.states.values() for s in state.backend.loaded()]

    def unload(self, model: str) -> bool:
        return any(state.backend.unload(model) for state in self.states.values())

    def close(self) -> None:
        for state in self.states.values():
            state.backend.close()

    # -- routing ------------------------------------------------------------------------

    async def route(self, request: ChatRequest) -> Route:
        name = request.model
        spec = self.aliases.get(name)
        if isinstance(spec, list):
            return Route(self._targets(spec), request, f"alias {name}", alias=True)
        if isinstance(spec, ComplexityAlias):
            return await self._by_complexity(spec, request)
        model, backend = split_target(name)
        if backend is not None:
            if backend not in self.states and backend not in self.pools:
                raise ModelNotFoundError(f"model {name!r}: no backend named {backend!r} "
                                         f"(configured: {', '.join(self.names())})")
            return Route((Target(model, backend),), request)
        return Route((await self._home_of(name),), request)

    async def _by_complexity(self, spec: ComplexityAlias, request: ChatRequest) -> Route:
        assessment = complexity.assess(request)
        hard = assessment.hard(spec.threshold)
        why = ", ".join(assessment.signals) or "no signal of difficulty"
        if spec.classifier == "model" and spec.classifier_model and not hard:
            hard = await self._model_says_hard(spec.classifier_model, request)
            why += ", classifier model: " + ("hard" if hard else "simple")
        side, suffix = (spec.hard, spec.hard_suffix) if hard else (spec.simple,
                                                                  spec.simple_suffix)
        label = "hard" if hard else "simple"
        return Route(self._targets(side), complexity.with_suffix(request, suffix),
                     f"{label} (score {assessment.score}: {why})", alias=True)

    async def _model_says_hard(self, model: str, request: ChatRequest) -> bool:
        question = complexity.scored_text(request)[:2000]
        schema = {"type": "object", "properties": {"difficulty": {
            "enum": ["simple", "hard"]}}, "required": ["difficulty"]}
        probe = ChatRequest(model=model, messages=[
            Message(role="system", content=(
                "Classify the user's request. 'simple': a greeting, a fact to look up, a "
                "short definition, a yes/no question. 'hard': it needs reasoning, several "
                "steps, arithmetic, code, a comparison or a plan. Reply with JSON.")),
            Message(role="user", content=question)],
            options=GenerationOptions(temperature=0.0, max_tokens=16, json_schema=schema))
        try:
            response = await self.chat(probe)
        except BackendError as exc:
            log.warning("complexity classifier %s failed (%s); treating as simple", model, exc)
            return False
        return '"hard"' in response.message.content

    def _targets(self, side: str | list[str]) -> tuple[Target, ...]:
        """A target list, or the name of a list alias, as targets (no backend: embedded)."""
        names = self.aliases[side] if isinstance(side, str) else side
        assert isinstance(names, list)
        targets = []
        for name in names:
            model, backend = split_target(name)
            targets.append(Target(model, backend or EMBEDDED))
        return tuple(targets)

    def names(self) -> list[str]:
        """The backends as configured: pools by their name, not their members'."""
        return [s.name for s in self.states.values() if s.pool is None] + list(self.pools)

    async def _home_of(self, model: str) -> Target:
        if len(self.states) == 1:
            return Target(model, next(iter(self.states)))
        for state in self.states.values():
            if model in state.settings.models:
                return Target(model, state.pool or state.name)
        if EMBEDDED in self.states and self.is_local(model):
            return Target(model, EMBEDDED)
        for state in self.states.values():
            listed = state.name != EMBEDDED and not state.settings.models
            if listed and model in await self._listed(state):
                return Target(model, state.pool or state.name)
        return Target(model, EMBEDDED)

    async def _listed(self, state: BackendState) -> frozenset[str]:
        """The models a backend lists itself, asked at most once a minute; an unreachable
        backend lists nothing."""
        now = self.clock()
        if state.listed is not None and now - state.listed[0] < MODEL_LIST_TTL_S:
            return state.listed[1]
        names: frozenset[str] = frozenset()
        remote = as_remote(state.backend)
        if remote is not None and now >= state.cooling_until:
            try:
                names = frozenset(await remote.models())
            except AutonomError as exc:
                log.warning("backend %s did not list its models: %s", state.name, exc)
        state.listed = (now, names)
        return names

    async def listing(self) -> dict[str, list[str]]:
        """Per backend, the models it offers (configured or asked for); embedded excluded."""
        result: dict[str, list[str]] = {}
        for state in self.states.values():
            if state.name == EMBEDDED:
                continue
            models = state.settings.models or sorted(await self._listed(state))
            name = state.pool or state.name  # a pool offers what any member offers
            result[name] = sorted(set(result.get(name, [])) | set(models))
        return result

    # -- failures, cooldown, health -----------------------------------------------------

    def _candidates(self, route: Route, attempts: Attempts
                    ) -> list[tuple[Target, BackendState]]:
        found = []
        for target in route.targets:
            if target.backend in self.pools:
                found += [(Target(target.model, state.name), state)
                          for state in self._least_loaded(self.pools[target.backend])]
                continue
            state = self.states.get(target.backend)
            if state is None:
                attempts.tried.append(Attempt(target, ModelNotFoundError(
                    f"no backend named {target.backend!r}")))
                continue
            found.append((target, state))
        return found

    def _least_loaded(self, members: list[str]) -> list[BackendState]:
        """A pool's members, fewest requests in flight first; ties take turns, so equal
        load spreads evenly."""
        self._turn += 1
        n = len(members)
        return [self.states[name] for _, _, name in sorted(
            (self.states[name].in_use, (i - self._turn) % n, name)
            for i, name in enumerate(members))]

    async def _usable(self, state: BackendState, target: Target, attempts: Attempts) -> bool:
        """Whether to send to this backend: not cooling down, or cooled down and healthy."""
        now = self.clock()
        if state.cooling_until == 0.0:
            return True
        if now < state.cooling_until:
            attempts.cooling.append((target, state.cooling_until - now))
            return False
        remote = as_remote(state.backend)
        if remote is not None:
            try:
                await remote.health()
            except AutonomError as exc:
                self._cool(state, exc)
                attempts.tried.append(Attempt(target, exc))
                return False
        log.info("backend %s is healthy again", state.name)
        state.cooling_until = 0.0
        return True

    def _failed(self, state: BackendState, target: Target, exc: Exception, attempt: int,
                attempts: Attempts) -> bool:
        """Sorts a failure: True to retry the same backend; False to move on. Errors the
        client caused are raised at once."""
        if isinstance(exc, InvalidRequestError | TemplateError):
            raise exc
        if not isinstance(exc, AutonomError):
            exc = BackendError(f"{target.backend}: {type(exc).__name__}: {exc}")
        retryable = isinstance(exc, UpstreamError) and exc.retryable
        if retryable and attempt < state.settings.retries:
            log.info("retrying %s after: %s", target, exc)
            return True
        attempts.tried.append(Attempt(target, exc))
        if retryable:
            self._cool(state, exc)
        log.warning("%s failed: %s", target, exc)
        return False

    def _cool(self, state: BackendState, exc: BaseException) -> None:
        state.failures += 1
        state.last_error = _reason(exc)
        if state.settings.cooldown_s > 0:
            state.cooling_until = self.clock() + state.settings.cooldown_s
            log.warning("backend %s cools down for %g s: %s", state.name,
                        state.settings.cooldown_s, state.last_error)

    def _succeeded(self, state: BackendState) -> None:
        state.failures = 0
        state.cooling_until = 0.0

    async def probe(self) -> list[dict[str, Any]]:
        """Asks every remote backend now: is it healthy, which models does it offer."""
        rows = []
        for state in self.states.values():
            row: dict[str, Any] = {"name": state.name, "kind": state.settings.kind,
                                   "url": state.settings.url, "healthy": True, "error": None,
                                   "models": list(state.settings.models)}
            remote = as_remote(state.backend)
            if remote is not None:
                try:
                    await remote.health()
                    row["models"] = row["models"] or sorted(await remote.models())
                except AutonomError as exc:
                    row.update(healthy=False, error=str(exc))
            row["aliases"] = sorted(a for a, spec in self.aliases.items()
                                    if (state.pool or state.name) in self._backends_of(spec))
            rows.append(row)
        return rows

    def _backends_of(self, spec: list[str] | ComplexityAlias) -> set[str]:
        return {t.backend for side in alias_sides(spec) for t in self._targets(side)}

    def status(self) -> list[dict[str, Any]]:
        """Each backend's state for operators: cooling down, failures, requests in flight."""
        now = self.clock()
        return [{"name": s.name, "pool": s.pool, "kind": s.settings.kind, "url": s.settings.url,
                 "in_flight": s.in_use, "max_concurrent": s.settings.max_concurrent,
                 "cooling_down_s": round(max(0.0, s.cooling_until - now), 1),
                 "failures": s.failures, "last_error": s.last_error}
                for s in self.states.values()]


def _backoff(attempt: int) -> float:
    return _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]


def _served_by(target: Target, detail: str | None) -> str:
    """``model@backend``, with what the backend adds (the version of a tuned model)."""
    return f"{target} ({detail})" if detail else str(target)
