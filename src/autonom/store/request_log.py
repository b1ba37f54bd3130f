"""The conversation log: one row per client request, written in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from autonom.store.db import Database, Row


@dataclass
class LogEntry:
    id: str
    created_at: float
    route: str
    key_id: str | None
    model: str | None
    status: int
    error: str | None
    request: Any
    response: Any
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float | None
    total_ms: float
    cancelled: bool
    served_by: str | None = None
    """``model@backend`` that answered (None: not routed, or no backend answered)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = (
    "id", "created_at", "route", "key_id", "model", "status", "error", "request", "response",
    "prompt_tokens", "completion_tokens", "ttft_ms", "total_ms", "cancelled", "served_by",
)


def write(db: Database, entry: LogEntry) -> None:
    """Store one row. Text that is not valid Unicode (lone surrogates from a JSON body) is
    stored escaped rather than lost, so no answer ever goes out without its row."""
    values = entry.to_dict()
    for key in ("request", "response"):
        if values[key] is not None:
            values[key] = _json(values[key])
    for key in ("route", "key_id", "model", "error", "served_by"):
        if isinstance(values[key], str):
            values[key] = _text(values[key])
    values["cancelled"] = int(entry.cancelled)
    with db.transaction() as conn:
        conn.execute(
            f"INSERT INTO request_log({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
            [values[c] for c in _COLUMNS],
        )


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)  # JSON escapes keep every character, valid or not
    return text


def _text(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def query(
    db: Database,
    *,
    model: str | None = None,
    key_id: str | None = None,
    since: float | None = None,
    status: int | None = None,
    limit: int | None = 50,
) -> list[LogEntry]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("model", model), ("key_id", key_id), ("status", status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        clauses.append("created_at >= ?")
        args.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM request_log {where} ORDER BY created_at DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with db.read() as conn:
        return [_entry(row) for row in conn.execute(sql, args)]


def get(db: Database, entry_id: str) -> LogEntry | None:
    with db.read() as conn:
        row = conn.execute("SELECT * FROM request_log WHERE id = ?", (entry_id,)).fetchone()
    return None if row is None else _entry(row)


def ids(db: Database) -> Iterator[str]:
    with db.read() as conn:
        for row in conn.execute("SELECT id FROM request_log"):
            yield row[0]


def _entry(row: Row) -> LogEntry:
    data = dict(row)
    for key in ("request", "response"):
        if data[key] is not None:
            data[key] = json.loads(data[key])
    data["cancelled"] = bool(data["cancelled"])
    return LogEntry(**data)
