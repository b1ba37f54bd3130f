"""Versions of tuned models: which adapter, trained on which data, measured how, serving or not.

States: ``candidate`` (trained, maybe evaluated), ``serving`` (the one the model name points
to; at most one per name), ``retired`` (served before; rollback returns to the newest),
``withdrawn`` (served, then rolled back).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from autonom.errors import NotFoundError
from autonom.store.db import Database, Row


@dataclass
class TuneVersion:
    name: str
    number: int
    base: str
    adapter: str
    data_digest: str
    collection: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    state: str = "candidate"
    reason: str | None = None
    created_at: float = field(default_factory=time.time)
    promoted_at: float | None = None

    @property
    def model(self) -> str:
        """The model name this version answers under by itself."""
        return f"{self.name}:v{self.number}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "number": self.number, "model": self.model,
                "base": self.base, "adapter": self.adapter, "data_digest": self.data_digest,
                "collection": self.collection, "state": self.state, "reason": self.reason,
                "created_at": self.created_at, "promoted_at": self.promoted_at,
                "training": self.training, "metrics": self.metrics}


class VersionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def next_number(self, name: str) -> int:
        with self.db.read() as conn:
            row = conn.execute("SELECT MAX(number) FROM tune_versions WHERE name = ?",
                               (name,)).fetchone()
        return int(row[0] or 0) + 1

    def add(self, version: TuneVersion) -> TuneVersion:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO tune_versions(name, number, base, adapter, collection, data_digest,"
                " training, metrics, state, reason, created_at, promoted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (version.name, version.number, version.base, version.adapter,
                 version.collection, version.data_digest, json.dumps(version.training),
                 json.dumps(version.metrics), version.state, version.reason,
                 version.created_at, version.promoted_at))
        return version

    def get(self, name: str, number: int | None = None) -> TuneVersion:
        """A version; without a number the newest."""
        query = "SELECT * FROM tune_versions WHERE name = ?"
        args: tuple[Any, ...] = (name,)
        if number is not None:
            query += " AND number = ?"
            args += (number,)
        with self.db.read() as conn:
            row = conn.execute(query + " ORDER BY number DESC LIMIT 1", args).fetchone()
        if row is None:
            which = f"version {number} of " if number is not None else ""
            raise NotFoundError(f"no {which}tuned model {name!r} (autonom tune list)")
        return _version(row)

    def list(self, name: str | None = None) -> list[TuneVersion]:
        query = "SELECT * FROM tune_versions"
        args: tuple[str, ...] = ()
        if name is not None:
            query, args = query + " WHERE name = ?", (name,)
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY name, number", args).fetchall()
        return [_version(r) for r in rows]

    def serving(self, name: str) -> TuneVersion | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM tune_versions WHERE name = ? AND state = 'serving'",
                               (name,)).fetchone()
        return _version(row) if row else None

    def set_metrics(self, name: str, number: int, metrics: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE tune_versions SET metrics = ? WHERE name = ? AND number = ?",
                         (json.dumps(metrics), name, number))

    def serve(self, name: str, number: int, reason: str | None) -> None:
        """Makes a version the serving one; the previous one is retired (one transaction)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE tune_versions SET state = 'retired' WHERE name = ? AND "
                         "state = 'serving'", (name,))
            conn.execute("UPDATE tune_versions SET state = 'serving', reason = ?, "
                         "promoted_at = ? WHERE name = ? AND number = ?",
                         (reason, time.time(), name, number))


    def set_state(self, name: str, number: int, state: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE tune_versions SET state = ? WHERE name = ? AND number = ?",
                         (state, name, number))

    def previous(self, name: str) -> TuneVersion | None:
        """The version that served before the serving one (the newest retired)."""
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM tune_versions WHERE name = ? AND state = "
                               "'retired' ORDER BY promoted_at DESC NULLS LAST LIMIT 1",
                               (name,)).fetchone()
        return _version(row) if row else None


def _version(row: Row) -> TuneVersion:
    return TuneVersion(
        name=row["name"], number=row["number"], base=row["base"], adapter=row["adapter"],
        data_digest=row["data_digest"], collection=row["collection"],
        training=json.loads(row["training"]), metrics=json.loads(row["metrics"]),
        state=row["state"], reason=row["reason"], created_at=row["created_at"],
        promoted_at=row["promoted_at"])
