"""Which models are loaded by which process, so ``autonom ps`` sees every process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from autonom.store.db import Database


@dataclass(frozen=True)
class LoadedModel:
    name: str
    kind: str
    size_bytes: int
    loaded_at: float
    expires_at: float | None
    """Wall-clock time of unloading; None = kept loaded until the process ends."""
    pid: int = 0


def publish(db: Database, models: list[LoadedModel], pid: int | None = None) -> None:
    """Replace this process's rows with ``models``."""
    pid = os.getpid() if pid is None else pid
    with db.transaction() as conn:
        conn.execute("DELETE FROM loaded_models WHERE pid = ?", (pid,))
        conn.executemany(
            "INSERT INTO loaded_models(pid, name, kind, size_bytes, loaded_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(pid, m.name, m.kind, m.size_bytes, m.loaded_at, m.expires_at) for m in models],
        )


def list_loaded(db: Database) -> list[LoadedModel]:
    """Rows of live processes; rows left by processes that died are removed."""
    with db.read() as conn:
        rows = conn.execute("SELECT * FROM loaded_models ORDER BY loaded_at").fetchall()
    dead = {row["pid"] for row in rows if not psutil.pid_exists(row["pid"])}
    if dead:
        with db.transaction() as conn:
            conn.executemany("DELETE FROM loaded_models WHERE pid = ?", [(p,) for p in dead])
    return [
        LoadedModel(
            name=row["name"], kind=row["kind"], size_bytes=row["size_bytes"],
            loaded_at=row["loaded_at"], expires_at=row["expires_at"], pid=row["pid"],
        )
        for row in rows
        if row["pid"] not in dead
    ]
