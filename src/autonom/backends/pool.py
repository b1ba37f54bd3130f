"""Loaded models with Ollama-style keep-alive, a count limit and a memory budget.

A model is loaded on first use and kept for ``keep_alive`` seconds after its last request
finished (``0``: unloaded at once; ``inf``: kept). When a new model does not fit, the least
recently used idle model is unloaded first; a model serving a request is never unloaded.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from autonom.errors import CapacityError

Key = tuple[str, ...]  # (model name, kind: "chat" | "embed", adapter file or "")


@dataclass
class PoolEntry:
    key: Key
    size_bytes: int
    unloader: Callable[[Any], None]
    handle: Any = None
    ready: bool = False
    refs: int = 0
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float | None = None
    """Monotonic deadline for unloading while idle; None = not scheduled."""


@dataclass(frozen=True)
class PoolSnapshot:
    name: str
    kind: str
    size_bytes: int
    loaded_at: float
    expires_in: float | None
    busy: bool


class ModelPool:
    def __init__(
        self,
        *,
        max_loaded: int,
        budget_bytes: int,
        on_change: Callable[[list[PoolSnapshot]], None] | None = None,
        wait_timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_loaded = max_loaded
        self.budget_bytes = budget_bytes
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._on_change = on_change
        self._entries: dict[Key, PoolEntry] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._reaper: threading.Thread | None = None

    @contextmanager
    def lease(
        self,
        key: Key,
        size_bytes: int,
        loader: Callable[[], Any],
        unloader: Callable[[Any], None],
        keep_alive: float,
    ) -> Iterator[Any]:
        """Use a loaded model (loading it if needed) for the duration of the block."""
        entry = self._acquire(key, size_bytes, loader, unloader)
        try:
            yield entry.handle
        finally:
            self._release(entry, keep_alive)

    def _acquire(
        self, key: Key, size_bytes: int, loader: Callable[[], Any], unloader: Callable[[Any], None]
    ) -> PoolEntry:
        if size_bytes > self.budget_bytes:
            raise CapacityError(
                f"model {key[0]} needs about {size_bytes / 2**30:.1f} GiB, more than the memory "
                f"budget of {self.budget_bytes / 2**30:.1f} GiB (memory_budget_mb)"
            )
        deadline = self._clock() + self.wait_timeout
        with self._cond:
            while True:
                if self._closed:
                    raise CapacityError("the model pool is shut down")
                entry = self._entries.get(key)
                if entry is not None and entry.ready:
                    entry.refs += 1
                    entry.expires_at = None
                    entry.last_used = self._clock()
                    return entry
                if entry is None and self._make_room(size_bytes):
                    entry = PoolEntry(key=key, size_bytes=size_bytes, unloader=unloader, refs=1)
                    self._entries[key] = entry
                    break
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise CapacityError(
                        f"cannot load {key[0]}: every loaded model is busy "
                        f"(max_loaded_models={self.max_loaded})"
                    )
                self._cond.wait(min(remaining, 1.0))
        try:
            handle = loader()
        except BaseException:
            with self._cond:
                self._entries.pop(key, None)
                self._cond.notify_all()
            raise
        with self._cond:
            entry.handle, entry.ready = handle, True
            entry.loaded_at, entry.last_used = time.time(), self._clock()
            self._cond.notify_all()
        self._changed()
        return entry

    def _make_room(self, size_bytes: int) -> bool:
        """Unload idle models (LRU first) until ``size_bytes`` fits; caller holds the lock."""
        while (
            len(self._entries) >= self.max_loaded
            or self._used_bytes() + size_bytes > self.budget_bytes
        ):
            idle = [e for e in self._entries.values() if e.ready and e.refs == 0]
            if not idle:
                return False
            self._unload(min(idle, key=lambda e: e.last_used))
        return True

    def _used_bytes(self) -> int:
        return sum(e.size_bytes for e in self._entries.values())

    def _release(self, entry: PoolEntry, keep_alive: float) -> None:
        with self._cond:
            entry.refs -= 1
            entry.last_used = self._clock()
            if entry.refs == 0:
                if keep_alive <= 0:
                    self._unload(entry)
                elif math.isinf(keep_alive):
                    entry.expires_at = None
                else:
                    entry.expires_at = self._clock() + keep_alive
                    self._ensure_reaper()
            self._cond.notify_all()
        self._changed()

    def _unload(self, entry: PoolEntry) -> None:
        self._entries.pop(entry.key, None)
        entry.ready = False
        entry.unloader(entry.handle)
        entry.handle = None

    def reap(self) -> int:
        """Unload idle models whose keep-alive has run out; returns how many."""
        now = self._clock()
        with self._cond:
            expired = [
                e for e in self._entries.values()
                if e.ready and e.refs == 0 and e.expires_at is not None and e.expires_at <= now
            ]
            for entry in expired:
                self._unload(entry)
            if expired:
                self._cond.notify_all()
        if expired:
            self._changed()
        return len(expired)

    def unload(self, name: str) -> bool:
        """Unload every idle instance of ``name`` now (``keep_alive: 0`` from a client)."""
        with self._cond:
            victims = [e for e in self._entries.values() if e.key[0] == name and e.refs == 0]
            for entry in victims:
                self._unload(entry)
        if victims:
            self._changed()
        return bool(victims)

    def snapshot(self) -> list[PoolSnapshot]:
        now = self._clock()
        with self._cond:
            return [
                PoolSnapshot(
                    name=e.key[0], kind=e.key[1], size_bytes=e.size_bytes,
                    loaded_at=e.loaded_at,
                    expires_in=None if e.expires_at is None else max(0.0, e.expires_at - now),
                    busy=e.refs > 0,
                )
                for e in self._entries.values()
                if e.ready
            ]

    def close(self) -> None:
        """Unload everything; waits for nothing (callers finish their requests first)."""
        with self._cond:
            self._closed = True
            for entry in list(self._entries.values()):
                if entry.ready:
                    self._unload(entry)
            self._cond.notify_all()
        self._changed()

    def _ensure_reaper(self) -> None:
        # Caller holds the lock; the reaper clears self._reaper under the lock when it exits.
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_loop, name="autonom-keepalive",
                                            daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    self._reaper = None
                    return
                deadlines = [e.expires_at for e in self._entries.values()
                             if e.expires_at is not None]
                if not deadlines:
                    self._reaper = None
                    return
                self._cond.wait(max(0.01, min(min(deadlines) - self._clock(), 5.0)))
            self.reap()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.snapshot())
