"""Wires settings, the store, the model registry and the backends together for the front
doors.

The CLI and the HTTP server each build one :class:`Services` from settings; library code
receives the pieces it needs explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from autonom.backends.base import Backend
from autonom.backends.embedded import EmbeddedBackend
from autonom.backends.guarded import GuardedBackend
from autonom.backends.ollama import OllamaBackend
from autonom.backends.openai_compat import OpenAIBackend
from autonom.catalog.catalog import find as find_in_catalog
from autonom.catalog.policy import Gate
from autonom.config import EMBEDDED, BackendSettings, Settings, ensure_home
from autonom.engine import builds
from autonom.errors import AutonomError, ConfigError, PolicyError
from autonom.knowledge.base import KnowledgeBase
from autonom.metrics import Metrics
from autonom.models.chat_template import render_chat
from autonom.models.pull import WHEEL_MODELS, Progress, check_remote_source
from autonom.models.pull import pull as pull_model
from autonom.models.registry import ModelRecord, Registry
from autonom.routing.router import Router
from autonom.services.access import Access
from autonom.store import Database, open_database
from autonom.store.conversations import ConversationStore
from autonom.store.evals import EvalStore
from autonom.store.loaded import LoadedModel, list_loaded
from autonom.store.sessions import SessionStore
from autonom.tools import ToolCalling

if TYPE_CHECKING:
    from autonom.services.gateway import Gateway


def remote_backend(name: str, spec: BackendSettings) -> Backend:
    if spec.kind == "ollama":
        return OllamaBackend(name, spec)
    if spec.kind == "openai":
        return OpenAIBackend(name, spec)
    raise ConfigError(f"backend {name!r}: only one embedded engine runs per server; "
                      "use the name 'embedded' for its settings")


@dataclass
class Services:
    settings: Settings
    backend_override: Backend | None = None
    """A backend to use instead of the embedded engine (tests pass a FakeBackend)."""
    db: Database = field(init=False)
    registry: Registry = field(init=False)

    def __post_init__(self) -> None:
        ensure_home(self.settings)
        self.db = open_database(self.settings)
        self.registry = Registry(self.db, self.settings.models_dir)

    @cached_property
    def router(self) -> Router:
        """The router over the embedded engine (behind the licence check) and every backend
        configured in ``[backends]``."""
        inner = self.backend_override or EmbeddedBackend(self.registry, self.settings, self.db)
        configured = dict(self.settings.backends)
        embedded_settings = configured.pop(EMBEDDED, None) or BackendSettings(
            kind="embedded", retries=0, cooldown_s=0,
            max_concurrent=self.settings.server.max_concurrent)
        backends: dict[str, Backend] = {
            EMBEDDED: ToolCalling(GuardedBackend(inner, self.check_licence))}
        settings = {EMBEDDED: embedded_settings}
        pools: dict[str, list[str]] = {}
        for name, spec in configured.items():
            members = spec.members()
            names = [name] if not spec.urls else [f"{name}#{n}" for n in
                                                  range(1, len(members) + 1)]
            for member, member_spec in zip(names, members, strict=True):
                backends[member] = ToolCalling(GuardedBackend(
                    remote_backend(member, member_spec), self.check_remote_licence))
                settings[member] = member_spec
            if spec.urls:
                pools[name] = names
        return Router(backends, settings, self.settings.aliases, is_local=self.is_local,
                      pools=pools)

    @cached_property
    def engine_build(self) -> builds.Choice:
        """The llama.cpp build the embedded engine of this process loads, and why."""
        return builds.activate(builds.choose(self.settings))

    @property
    def max_in_flight(self) -> int:
        """Requests the server lets in at once: the engine's share (server.max_concurrent)
        plus each remote backend's max_concurrent, so a GPU server behind autonom is not
        held to the small machine's limit."""
        remote = sum(b.max_concurrent * len(b.members())
                     for name, b in self.settings.backends.items() if name != EMBEDDED)
        return self.settings.server.max_concurrent + remote

    def registered(self, model: str) -> ModelRecord | None:
        """The registry's record of ``model``; None for names it does not know (remote
        models, aliases)."""
        try:
            return self.registry.resolve(model)
        except AutonomError:
            return None

    def is_local(self, model: str) -> bool:
        """Whether the model registry knows ``model`` (it then runs embedded)."""
        return self.registered(model) is not None

    def present(self, source: str, name: str | None = None) -> ModelRecord | None:
        """The store's copy of a catalog model that is already there, file and checksum
        intact (None: not there, or not a catalog model)."""
        wheel = WHEEL_MODELS.get(source.strip())
        record = self.registered(name or source.strip()) if wheel else None
        if wheel and record is not None and record.exists and record.sha256 == wheel.sha256:
            return record
        return None

    def pull(self, source: str, *, name: str | None = None, progress: Progress | None = None,
             remote: bool = False, warn: Callable[[str], None] | None = None,
             force: bool = False) -> ModelRecord:
        """Fetch a model into the store under the licence policy: a catalog model is refused
        before anything is downloaded, any other after reading its licence from the file
        (and then removed again). ``remote`` callers (the HTTP API) may pull only catalog
        models, ``hf://`` and the places listed in ``server.pull_from``."""
        gate = Gate(self.settings.policy, warn=warn or logging.getLogger(
            "autonom.policy").warning)
        known = self.check_pull(source, remote=remote, gate=gate)
        if not force and (present := self.present(source, name)) is not None:
            return present
        record = pull_model(source, self.registry, self.settings, name=name, progress=progress)
        if not known:
            try:
                gate.check(record.name,
                           lambda: (record.info.license, (source, record.info.name or "")))
            except PolicyError:
                self.registry.remove(record.name)
                raise
        return record

    def remove(self, name: str) -> ModelRecord:
        """Unload a model and remove it from the store (its file goes when no other name
        uses it): the same for ``autonom rm``, ``DELETE /api/delete`` and the web UI."""
        self.router.unload(name)
        return self.registry.remove(name)

    async def pull_progress(self, source: str) -> AsyncIterator[dict[str, Any]]:
        """A pull for a remote caller (the HTTP API, the web UI) as progress events in
        Ollama's shape: ``status``, ``total``, ``completed``; then ``success`` with the
        digest, or ``error``. At most about ten download events per second."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        class Events:
            total: int | None = None
            done = 0

            def start(self, description: str, total: int | None) -> None:
                self.total, self.done = total, 0
                loop.call_soon_threadsafe(queue.put_nowait, {"status": description})

            def advance(self, n: int) -> None:
                self.done += n
                loop.call_soon_threadsafe(queue.put_nowait, {
                    "status": "downloading", "total": self.total or 0, "completed": self.done})

        def work() -> None:
            try:
                record = self.pull(source, progress=Events(), remote=True)
                loop.call_soon_threadsafe(queue.put_nowait,
                                          {"status": "success", "digest": record.sha256})
            except AutonomError as exc:
                loop.call_soon_threadsafe(queue.put_nowait, {"error": str(exc)})
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        task = loop.run_in_executor(None, work)
        last_sent = 0.0
        while (item := await queue.get()) is not None:
            if item.get("status") == "downloading":
                if time.monotonic() - last_sent < 0.1 and item["completed"] != item["total"]:
                    continue
                last_sent = time.monotonic()
            yield item
        await task

    def loaded(self) -> list[LoadedModel]:
        """The models loaded right now, by any autonom process on this machine."""
        return list_loaded(self.db)

    def template_problem(self, template: str) -> str | None:
        """Why a model's chat template is refused by the sandbox (None: it renders)."""
        try:
            render_chat(template, [{"role": "user", "content": "Hallo"}],
                        budget_s=self.settings.engine.template_budget_s)
        except AutonomError as exc:
            return str(exc)
        return None

    def check_pull(self, source: str, *, remote: bool = False, gate: Gate | None = None) -> bool:
        """What can be refused before downloading: the source (for ``remote`` callers) and a
        catalog model's licence. Returns whether the catalog knows ``source``."""
        known = find_in_catalog(source) is not None
        if known:
            (gate or Gate(self.settings.policy)).check(source)
        elif remote:
            check_remote_source(source, self.settings.server.pull_from)
        return known

    @cached_property
    def licence_gate(self) -> Gate:
        return Gate(self.settings.policy,
                    warn=logging.getLogger("autonom.policy").warning)

    def check_licence(self, model: str) -> None:
        """Refuse (or warn about, per ``[policy]``) a registered model whose licence does not
        allow the company's use; names the registry does not know are left to the backend.
        The registry is read only the first time a name is asked for."""

        def describe() -> tuple[str | None, tuple[str, ...]] | None:
            record = self.registered(model)
            if record is None:
                return None
            return record.info.license, (record.name, record.source, record.info.name or "")

        self.licence_gate.check(model, describe)

    def check_remote_licence(self, model: str) -> None:
        """The same policy for a model on another server, known by its name there (an
        Ollama tag or Hugging Face id the catalog lists; other names are flagged once)."""
        self.licence_gate.check(model, lambda: (None, ()))

    @cached_property
    def access(self) -> Access:
        """API keys and the request log (``server.auth`` off: every caller anonymous)."""
        return Access(self.db, auth=self.settings.server.auth)

    def gateway(self, metrics: Metrics | None = None) -> Gateway:
        """The request path over this process's router, documents and tools (each HTTP
        server and each CLI run builds one; ``metrics``: the server's counters)."""
        from autonom.services.gateway import Gateway

        return Gateway(self.router, self.db, self.settings.server, metrics,
                       knowledge=self.knowledge, mcp=self.settings.mcp,
                       max_concurrent=self.max_in_flight, experts_home=self.settings.home)

    @cached_property
    def runs(self) -> EvalStore:
        """Stored evaluation, benchmark and red-team runs."""
        return EvalStore(self.db)

    @cached_property
    def conversations(self) -> ConversationStore:
        """The web UI's saved conversations."""
        return ConversationStore(self.db)

    @cached_property
    def sessions(self) -> SessionStore:
        """The web UI's sign-ins."""
        return SessionStore(self.db, self.settings.server.ui_session_hours * 3600)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        return KnowledgeBase(self.db, self.settings.knowledge, backend=self.router,
                             threads=self.settings.engine.threads,
                             default_model=self.settings.default_model,
                             model_parameters=self.model_parameters)

    def model_parameters(self, name: str) -> int | None:
        """Parameter count of a registered model (None when unknown or not local)."""
        record = self.registered(name)
        return None if record is None else record.info.parameters

    def close(self) -> None:
        if "router" in self.__dict__:
            self.router.close()
        self.db.close()
