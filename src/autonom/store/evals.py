"""Stored eval and bench runs: one row per run, one row per case and repeat."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.store.db import Database


def new_run_id() -> str:
    return secrets.token_hex(4)


@dataclass
class RunRecord:
    kind: str
    """eval | bench"""
    label: str
    """The model (eval) or target URL and model (bench)."""
    dataset: str
    batch: str
    """Runs started by one command share a batch (one per model)."""
    settings: dict[str, Any]
    summary: dict[str, Any]
    id: str = field(default_factory=new_run_id)
    created_at: float = field(default_factory=time.time)


@dataclass
class ResultRow:
    case_id: str
    round: int
    correct: bool
    hallucinated: bool
    abstained: bool
    citation_ok: bool | None
    schema_ok: bool | None
    error: str | None
    ttft_ms: float | None
    total_ms: float
    output_tokens: int
    answer: str
    detail: dict[str, Any]
    """reasons, citations, tags, error message."""


@dataclass
class RunData:
    """A stored run with its results."""

    run: RunRecord
    results: list[ResultRow]


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


class EvalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, run: RunRecord, results: list[ResultRow]) -> None:
        """The run and all its results in one transaction: a run is stored whole or not."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO eval_runs(id, created_at, kind, label, dataset, batch, settings,"
                " summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, run.created_at, run.kind, run.label, run.dataset, run.batch,
                 json.dumps(run.settings, ensure_ascii=False),
                 json.dumps(run.summary, ensure_ascii=False)))
            conn.executemany(
                "INSERT INTO eval_results(run_id, case_id, round, correct, hallucinated,"
                " abstained, citation_ok, schema_ok, error, ttft_ms, total_ms, output_tokens,"
                " answer, detail, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run.id, r.case_id, r.round, int(r.correct), int(r.hallucinated),
                  int(r.abstained), _flag(r.citation_ok), _flag(r.schema_ok), r.error,
                  r.ttft_ms, r.total_ms, r.output_tokens, r.answer,
                  json.dumps(r.detail, ensure_ascii=False), seq)
                 for seq, r in enumerate(results)])

    def runs(self, kind: str | None = None, limit: int = 50) -> list[RunRecord]:
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT * FROM eval_runs {where} ORDER BY created_at DESC"
                                " LIMIT ?", (*params, limit)).fetchall()
        return [_run(r) for r in rows]

    def run(self, ref: str) -> RunRecord:
        """A run by id or unique id prefix."""
        ref = ref.strip()
        if not ref:
            raise InvalidRequestError("empty run id")
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM eval_runs WHERE id LIKE ? ESCAPE '\\'",
                                (ref.replace("\\", "\\\\").replace("%", "\\%")
                                 .replace("_", "\\_") + "%",)).fetchall()
        if not rows:
            raise NotFoundError(f"no run {ref!r} (see 'autonom eval list')")
        if len(rows) > 1:
            raise InvalidRequestError(f"run id {ref!r} is ambiguous: "
                                      f"{', '.join(r['id'] for r in rows)}")
        return _run(rows[0])

    def load(self, ref: str) -> RunData:
        run = self.run(ref)
        return RunData(run, self.results(run.id))

    def batch(self, batch: str) -> list[RunRecord]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM eval_runs WHERE batch = ? ORDER BY created_at",
                                (batch,)).fetchall()
        return [_run(r) for r in rows]

    def results(self, run_id: str) -> list[ResultRow]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM eval_results WHERE run_id = ?"
                                " ORDER BY seq", (run_id,)).fetchall()
        return [ResultRow(
            case_id=r["case_id"], round=r["round"], correct=bool(r["correct"]),
            hallucinated=bool(r["hallucinated"]), abstained=bool(r["abstained"]),
            citation_ok=_bool(r["citation_ok"]), schema_ok=_bool(r["schema_ok"]),
            error=r["error"], ttft_ms=r["ttft_ms"], total_ms=r["total_ms"],
            output_tokens=r["output_tokens"], answer=r["answer"],
            detail=json.loads(r["detail"])) for r in rows]


def _run(row: Any) -> RunRecord:
    return RunRecord(kind=row["kind"], label=row["label"], dataset=row["dataset"],
                     batch=row["batch"], settings=json.loads(row["settings"]),
                     summary=json.loads(row["summary"]), id=row["id"],
                     created_at=row["created_at"])
