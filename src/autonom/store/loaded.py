"""Which models are loaded by which process, so ``autonom ps`` sees every process."""

from __future__ import annotations

import os
import socket
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
    host: str = ""
    """The machine of that process (replicas on one shared database)."""


def this_host() -> str:
    return socket.gethostname()


def publish(db: Database, models: list[LoadedModel], pid: int | None = None) -> None:
    """Replace this process's rows with ``models``."""
    pid = os.getpid() if pid is None else pid
    host = this_host()
    with db.transaction() as conn:
        conn.execute("DELETE FROM loaded_models WHERE host = ? AND pid = ?", (host, pid))
        conn.executemany(
            "INSERT INTO loaded_models(host, pid, name, kind, size_bytes, loaded_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(host, pid, m.name, m.kind, m.size_bytes, m.loaded_at, m.expires_at)
             for m in models],
        )


def list_loaded(db: Database) -> list[LoadedModel]:
    """Rows of live processes; rows left by processes of this machine that died are
    removed (another machine's processes cannot be checked from here)."""
    host = this_host()
    with db.read() as conn:
        rows = conn.execute("SELECT * FROM loaded_models ORDER BY loaded_at").fetchall()
    dead = {row["pid"] for row in rows
            if row["host"] in (host, "") and not psutil.pid_exists(row["pid"])}
    if dead:
        with db.transaction() as conn:
            conn.executemany("DELETE FROM loaded_models WHERE host IN (?, '') AND pid = ?",
                             [(host, p) for p in dead])
    return [
        LoadedModel(
            name=row["name"], kind=row["kind"], size_bytes=row["size_bytes"],
            loaded_at=row["loaded_at"], expires_at=row["expires_at"], pid=row["pid"],
            host=row["host"],
        )
        for row in rows
        if not (row["host"] in (host, "") and row["pid"] in dead)
    ]
