"""Moving a store to PostgreSQL and checking a store's integrity.

:func:`copy_store` copies every durable table (not runtime state such as loaded models or
rate windows) in batches; rows already there are kept, so an interrupted copy resumes
where it stopped. :func:`compare` then proves the copy by row counts and a checksum over
every row of every table. :func:`check` looks at one store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autonom.errors import StoreError
from autonom.store.db import Database

BATCH = 1000

TABLES: list[tuple[str, str]] = [
    ("models", "name"),
    ("api_keys", "id"),
    ("request_log", "id"),
    ("collections", "name"),
    ("documents", "id"),
    ("chunks", "id"),
    ("skipped_files", "collection, source"),
    ("tool_pins", "server, tool"),
    ("tool_calls", "id"),
    ("eval_runs", "id"),
    ("eval_results", "run_id, case_id, round"),
    ("ui_sessions", "token_hash"),
    ("conversations", "id"),
    ("conversation_messages", "conversation_id, ordinal"),
    ("tune_versions", "name, number"),
]
"""Durable tables, parents before children, with the columns that order their rows."""

IDENTITY = ("documents", "chunks", "tool_calls")
"""Tables whose ``id`` PostgreSQL numbers itself: its counter moves past copied ids."""


@dataclass
class TableReport:
    table: str
    source_rows: int
    target_rows: int
    source_sum: str = ""
    target_sum: str = ""

    @property
    def same(self) -> bool:
        return (self.source_rows == self.target_rows
                and self.source_sum == self.target_sum)


@dataclass
class CheckReport:
    kind: str
    where: str
    schema: int
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "schema": self.schema,
                "rows": self.rows, "problems": self.problems, "ok": not self.problems}


def _columns(db: Database, table: str) -> list[str]:
    with db.read() as conn:
        cursor = conn.execute(f"SELECT * FROM {table} LIMIT 0")
        return [d[0] for d in cursor.description]


def _quoted(column: str) -> str:
    return f'"{column}"'


def copy_store(source: Database, target: Database,
               progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every durable table from ``source`` into ``target``; returns rows written per
    table. Both must be at the same schema version."""
    if source.schema_version() != target.schema_version():
        raise StoreError(f"schema versions differ: {source.describe()} has "
                         f"{source.schema_version()}, {target.describe()} has "
                         f"{target.schema_version()}; start the newer autonom on both")
    written: dict[str, int] = {}
    for table, order in TABLES:
        columns = _columns(source, table)
        names = ", ".join(_quoted(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        insert = (f"INSERT INTO {table}({names}) VALUES ({marks}) ON CONFLICT DO NOTHING")
        count = 0
        with source.read() as reader:
            cursor = reader.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
            while rows := cursor.fetchmany(BATCH):
                with target.transaction() as conn:
                    conn.executemany(insert, [tuple(r) for r in rows])
                count += len(rows)
                if progress is not None:
                    progress(table, count)
        written[table] = count
    if target.kind == "postgresql":
        with target.transaction() as conn:
            for table in IDENTITY:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                             f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    return written


def checksum(db: Database, table: str) -> tuple[int, str]:
    """Rows and a digest over every value of every row. The digest is the sum of the rows'
    hashes, so it does not depend on the order the database returns them in (SQLite and
    PostgreSQL sort text differently)."""
    total = 0
    rows = 0
    columns = _columns(db, table)
    names = ", ".join(_quoted(c) for c in sorted(columns))
    with db.read() as conn:
        cursor = conn.execute(f"SELECT {names} FROM {table}")
        while batch := cursor.fetchmany(BATCH):
            for row in batch:
                text = json.dumps([_canonical(v) for v in row], ensure_ascii=True)
                total += int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
                rows += 1
    return rows, f"{total % 2**256:064x}"


def _canonical(value: Any) -> Any:
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # an integral REAL and a DOUBLE PRECISION read back alike
    return value


def compare(source: Database, target: Database) -> list[TableReport]:
    reports = []
    for table, _ in TABLES:
        source_rows, source_sum = checksum(source, table)
        target_rows, target_sum = checksum(target, table)
        reports.append(TableReport(table, source_rows, target_rows, source_sum, target_sum))
    return reports


def check(db: Database) -> CheckReport:
    """Integrity of one store: the engine's own check (SQLite), references between tables,
    and the row count of every durable table."""
    report = CheckReport(db.kind, db.describe(), db.schema_version())
    with db.read() as conn:
        if db.kind == "sqlite":
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                report.problems += [f"integrity: {line}" for line in result[:20]]
        for table, _ in TABLES:
            report.rows[table] = int(conn.execute(f"SELECT COUNT(*) FROM {table}")
                                     .fetchone()[0])
        for what, sql in _ORPHANS:
            orphans = int(conn.execute(sql).fetchone()[0])
            if orphans:
                report.problems.append(f"{orphans} {what}")
    return report


_ORPHANS = [
    ("chunks without their document",
     "SELECT COUNT(*) FROM chunks k LEFT JOIN documents d ON k.document_id = d.id"
     " WHERE d.id IS NULL"),
    ("documents without their collection",
     "SELECT COUNT(*) FROM documents d LEFT JOIN collections c ON d.collection = c.name"
     " WHERE c.name IS NULL"),
    ("eval results without their run",
     "SELECT COUNT(*) FROM eval_results r LEFT JOIN eval_runs e ON r.run_id = e.id"
     " WHERE e.id IS NULL"),
    ("conversation messages without their conversation",
     "SELECT COUNT(*) FROM conversation_messages m LEFT JOIN conversations c"
     " ON m.conversation_id = c.id WHERE c.id IS NULL"),
    ("documents with chunks out of order (two chunks with one ordinal)",
     "SELECT COUNT(*) FROM (SELECT document_id, ordinal FROM chunks"
     " GROUP BY document_id, ordinal HAVING COUNT(*) > 1) AS twice"),
]
