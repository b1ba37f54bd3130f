"""Per-key request and token counts per second, in the database: rate limits that several
replicas on one PostgreSQL enforce together (SQLite servers keep them in memory)."""

from __future__ import annotations

import math
import time

from autonom.store.db import Database

WINDOW_S = 60


def admit(db: Database, key_id: str, rpm: int | None, tpm: int | None,
          now: float | None = None) -> tuple[str, float] | None:
    """Count one request for ``key_id`` unless the last minute's requests or tokens have
    reached a limit; returns None when admitted, else which limit (``requests`` or
    ``tokens``) and the seconds until there is room again. Check and count happen under
    one lock per key, so two replicas cannot both take the last request of a minute."""
    now = time.time() if now is None else now
    second = math.floor(now)
    oldest = second - WINDOW_S + 1
    with db.transaction() as conn:
        db.serialise(conn, f"rate:{key_id}")
        conn.execute("DELETE FROM rate_usage WHERE key_id = ? AND at_second < ?",
                     (key_id, oldest))
        row = conn.execute(
            "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(tokens), 0),"
            " MIN(CASE WHEN requests > 0 THEN at_second END),"
            " MIN(CASE WHEN tokens > 0 THEN at_second END)"
            " FROM rate_usage WHERE key_id = ?", (key_id,)).fetchone()
        requests, tokens, first_request, first_token = row[0], row[1], row[2], row[3]
        for unit, limit, used, first in (("requests", rpm, requests, first_request),
                                         ("tokens", tpm, tokens, first_token)):
            if limit is not None and used >= limit:
                start = first if first is not None else second
                return unit, max(1.0, start + WINDOW_S - now)
        _add(conn, key_id, second, requests=1, tokens=0)
    return None


def add_tokens(db: Database, key_id: str, tokens: int, now: float | None = None) -> None:
    """Count tokens a request of ``key_id`` used (after its answer)."""
    second = math.floor(time.time() if now is None else now)
    with db.transaction() as conn:
        _add(conn, key_id, second, requests=0, tokens=tokens)


def _add(conn: object, key_id: str, second: int, *, requests: int, tokens: int) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO rate_usage(key_id, at_second, requests, tokens) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(key_id, at_second) DO UPDATE SET"
        " requests = rate_usage.requests + excluded.requests,"
        " tokens = rate_usage.tokens + excluded.tokens",
        (key_id, second, requests, tokens))
