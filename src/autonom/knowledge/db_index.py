"""Candidate search inside PostgreSQL: BM25 over a term table, embeddings in pgvector.

On SQLite every process keeps a collection's whole index in memory
(:class:`autonom.knowledge.index.CollectionIndex`). Several replicas on one PostgreSQL
would each rebuild that after every change, which takes minutes and gigabytes at 100,000
chunks. Here the index lives in the database, shared by all replicas:

* ``search_terms`` holds each chunk's search tokens (the same tokens, stemming and BM25
  formula as in memory, so both stores rank alike) with their counts; a query sums BM25
  over the posting rows of its terms and keeps the best ``CANDIDATES``;
* ``search_chunks`` holds each chunk's length and embedding; an HNSW index of pgvector
  (inner product, one partial index per embedding width) finds the nearest
  ``CANDIDATES`` chunks.

The rows are derived from ``chunks``: whatever has none yet (new documents, a home copied
from SQLite with ``autonom store migrate``) is filled in before a changed collection is
searched, in batches, under a lock per collection so two replicas never do it twice;
deleted chunks take their rows with them. Without the pgvector extension (or the right to
create it) search stays in memory, with a warning.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from autonom.errors import StoreError, StoreUnavailableError
from autonom.knowledge.index import (
    BM25_B,
    BM25_K1,
    CANDIDATES,
    Entry,
    Scored,
    SearchIndex,
    bm25_term,
    search_tokens,
)
from autonom.knowledge.versions import outdated_documents
from autonom.store.db import Database
from autonom.store.documents import (
    DocumentRecord,
    DocumentStore,
    chunk_from_row,
    document_from_row,
)

log = logging.getLogger(__name__)

SYNC_BATCH = 2000
"""Chunks given search rows per transaction."""
REFRESH_AFTER = 1000
"""Chunks added by one sync after which the planner's statistics are refreshed (a stale
estimate makes PostgreSQL scan by collection instead of walking the HNSW graph)."""
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
HNSW_EF_SEARCH = 4 * CANDIDATES
"""pgvector's HNSW parameters: graph degree, build and search breadth (see RESULTS.md for
the recall against exact search they give)."""
BUILD_MEMORY = "1GB"
"""``maintenance_work_mem`` while an HNSW index is built (the graph should fit)."""
ENTRY_CACHE = 20_000
ESSENTIAL_POSTINGS = 20_000
"""Posting rows read in full per query before the common terms are only looked up."""

_capable: weakref.WeakKeyDictionary[Database, bool] = weakref.WeakKeyDictionary()
_capable_lock = threading.Lock()


def searches_in_database(db: Database) -> bool:
    """Whether collections on this database are searched inside it (PostgreSQL with the
    pgvector extension, created here when it is not there yet)."""
    if db.kind != "postgresql":
        return False
    with _capable_lock:
        known = _capable.get(db)
    if known is not None:
        return known
    try:
        with db.transaction() as conn:
            db.serialise(conn, "extension vector")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        capable = True
    except StoreUnavailableError:
        raise
    except StoreError as exc:
        log.warning("PostgreSQL without pgvector (%s): each replica searches collections in "
                    "memory; ask the database administrator to run CREATE EXTENSION vector",
                    exc)
        capable = False
    with _capable_lock:
        _capable[db] = capable
    return capable


def sync(db: Database, collection: str) -> int:
    """Gives every chunk of the collection its search rows; returns how many were added."""
    added = 0
    while True:
        with db.transaction() as conn:
            db.serialise(conn, f"search {collection}")
            rows = conn.execute(
                "SELECT k.id, k.headings, k.body, k.embedding, d.title FROM chunks k"
                " JOIN documents d ON d.id = k.document_id WHERE d.collection = ?"
                " AND NOT EXISTS (SELECT 1 FROM search_chunks s WHERE s.chunk_id = k.id)"
                " ORDER BY k.id LIMIT ?", (collection, SYNC_BATCH)).fetchall()
            if rows:
                _write(conn.raw, collection, rows)
        added += len(rows)
        if len(rows) < SYNC_BATCH:
            break
    if added >= REFRESH_AFTER:
        with db.read() as conn:  # outside a transaction, as VACUUM must be
            conn.execute("VACUUM (ANALYZE) search_chunks, search_terms")
    return added


def _write(raw: Any, collection: str, rows: list[Any]) -> None:
    cursor = raw.cursor()
    terms: list[tuple[str, str, int, int, int]] = []
    with cursor.copy("COPY search_chunks (chunk_id, collection, length, dims, embedding)"
                     " FROM STDIN") as copy:
        for row in rows:
            tokens = search_tokens(row["title"], json.loads(row["headings"]), row["body"])
            vector = (np.frombuffer(row["embedding"], dtype=np.float32).tolist()
                      if row["embedding"] else None)
            copy.write_row((row["id"], collection, len(tokens), len(vector or ()), vector))
            terms.extend((collection, term, row["id"], tf, len(tokens))
                         for term, tf in Counter(tokens).items())
    with cursor.copy("COPY search_terms (collection, term, chunk_id, tf, length)"
                     " FROM STDIN") as copy:
        for term_row in terms:
            copy.write_row(term_row)


def ensure_vector_index(db: Database, dims: int, memory: str = BUILD_MEMORY) -> None:
    """The HNSW index for embeddings of this width (built once, by whoever gets here
    first), with ``memory`` as ``maintenance_work_mem`` (e.g. ``"4GB"``)."""
    if not re.fullmatch(r"\d+(kB|MB|GB)", memory):
        raise ValueError(f"not a PostgreSQL memory size: {memory!r}")
    with db.transaction() as conn:
        db.serialise(conn, f"search index {dims}")
        conn.execute(f"SET LOCAL maintenance_work_mem = '{memory}'")
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS search_chunks_hnsw_{dims} ON search_chunks"
            f" USING hnsw ((embedding::vector({dims})) vector_ip_ops)"
            f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            f" WHERE dims = {dims}")


class _Frequencies:
    """Chunks per term, asked from the database once per term and generation."""

    def __init__(self, index: DatabaseIndex) -> None:
        self.index = index
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, token: str, default: int, /) -> int:
        return self.many([token]).get(token, default)

    def many(self, terms: Iterable[str]) -> dict[str, int]:
        wanted = set(terms)
        with self._lock:
            missing = sorted(wanted - self._known.keys())
        if missing:
            with self.index.db.read() as conn:
                rows = conn.execute(
                    "SELECT term, COUNT(*) AS n FROM search_terms WHERE collection = ?"
                    " AND term = ANY(?) GROUP BY term",
                    (self.index.name, missing)).fetchall()
            found = {r["term"]: int(r["n"]) for r in rows}
            with self._lock:
                if len(self._known) > 100_000:
                    self._known.clear()
                for term in missing:
                    self._known[term] = found.get(term, 0)
        with self._lock:
            return {t: self._known.get(t, 0) for t in wanted}


class DatabaseIndex(SearchIndex):
    """A collection searched inside PostgreSQL; holds only its documents' metadata."""

    def __init__(self, store: DocumentStore, collection: str, generation: int) -> None:
        super().__init__()
        self.store, self.db, self.name = store, store.db, collection
        sync(self.db, collection)
        with self.db.read() as conn:
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT generation FROM collections WHERE name = ?",
                                   (collection,)).fetchone()
                self.generation = int(row["generation"]) if row else generation
                self.documents: dict[int, DocumentRecord] = {
                    r["id"]: document_from_row(r) for r in conn.execute(
                        "SELECT d.*, '' AS text, 0 AS chunk_count, 0 AS flagged FROM documents d"
                        " WHERE collection = ?", (collection,)).fetchall()}
                stats = conn.execute(
                    "SELECT COUNT(*) AS n, AVG(length) AS average, MIN(dims) AS low,"
                    " MAX(dims) AS high FROM search_chunks WHERE collection = ?",
                    (collection,)).fetchone()
            finally:
                conn.execute("COMMIT")
        self.chunks = int(stats["n"] or 0)
        self.average_length = float(stats["average"] or 0.0)
        self.dims = int(stats["high"] or 0)
        self.has_vectors = bool(self.chunks) and stats["low"] == stats["high"] and self.dims > 0
        if self.has_vectors:
            ensure_vector_index(self.db, self.dims)
        self.outdated = outdated_documents(list(self.documents.values()))
        self.document_frequency = self._frequencies = _Frequencies(self)
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._entry_lock = threading.Lock()

    def __len__(self) -> int:
        return self.chunks

    # -- search --------------------------------------------------------------------------

    def candidates(self, query_tokens: list[str], vector: np.ndarray | None) -> list[Scored]:
        counts = Counter(query_tokens)
        frequencies = self._frequencies.many(counts)
        weights = {t: n * self.idf(t) for t, n in counts.items() if frequencies.get(t)}
        lexical = self._lexical(weights)
        dense = self._dense(vector) if vector is not None and self.has_vectors else []
        entries = self._entries_by_id({i for i, _ in lexical} | {i for i, _ in dense})
        scores = dict(lexical)
        scores.update(self._bm25_of({i for i, _ in dense} - scores.keys(), weights))
        lexical_ranks = {i: rank for rank, (i, _) in enumerate(lexical, 1)}
        dense_ranks = {i: rank for rank, (i, _) in enumerate(dense, 1)}
        with_vector = vector is not None and self.has_vectors
        return [Scored(entry, scores.get(chunk_id, 0.0),
                       self._dot(entry, vector) if with_vector else None,
                       lexical_ranks.get(chunk_id), dense_ranks.get(chunk_id))
                for chunk_id, entry in entries.items()]

    def _bm25_of(self, ids: set[int], weights: dict[str, float]) -> dict[int, float]:
        """BM25 of chunks found only by their embedding, from their posting rows."""
        if not ids or not weights:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT chunk_id, term, tf, length FROM search_terms WHERE collection = ?"
                " AND term = ANY(?) AND chunk_id = ANY(?)",
                (self.name, sorted(weights), sorted(ids))).fetchall()
        scores: dict[int, float] = {}
        for r in rows:
            scores[r["chunk_id"]] = scores.get(r["chunk_id"], 0.0) + bm25_term(
                weights[r["term"]], r["tf"], r["length"], self.average_length)
        return scores

    def _lexical(self, weights: dict[str, float]) -> list[tuple[int, float]]:
        """The best chunks by BM25, exactly. A common term's share of any chunk's score is
        below its weight (``tf / (tf + norm) < 1``), so when the rarer terms already give 50
        chunks that score more than all common terms together could give a chunk, the
        common terms' long posting lists need not be read: they are only looked up for the
        chunks that can still make the top (MaxScore). Otherwise every posting is summed."""
        if not weights or not self.average_length:
            return []
        frequencies = self._frequencies.many(weights)
        essential: list[str] = []
        postings = 0
        for term in sorted(weights, key=lambda t: (frequencies[t], t)):
            if essential and postings + frequencies[term] > ESSENTIAL_POSTINGS:
                break
            essential.append(term)
            postings += frequencies[term]
        common = sorted(set(weights) - set(essential))
        if common:
            bound = sum(weights[t] for t in common)
            found = self._bm25_sql(weights, essential, common, bound)
            if len(found) == CANDIDATES and found[-1][1] > bound:
                return found
        return self._bm25_sql(weights, sorted(weights), [], 0.0)

    def _bm25_sql(self, weights: dict[str, float], essential: list[str], common: list[str],
                  bound: float) -> list[tuple[int, float]]:
        """Chunks by BM25 over the ``essential`` terms' postings, plus the ``common`` terms'
        shares looked up for the chunks within ``bound`` of the 50th best."""
        share = ("{w} * {t}.tf / ({t}.tf + ? * (1 - ? + ? * {t}.length / ?))")
        norm = (BM25_K1, BM25_B, BM25_B, self.average_length)
        if not common:
            sql = ("SELECT t.chunk_id, SUM(" + share.format(w="q.weight", t="t") + ") AS score"
                   " FROM search_terms t JOIN unnest(?::text[], ?::float8[]) AS q(term, weight)"
                   " ON t.term = q.term WHERE t.collection = ? GROUP BY t.chunk_id"
                   " ORDER BY score DESC, t.chunk_id LIMIT ?")
            parameters: tuple[object, ...] = (*norm, essential,
                                              [weights[t] for t in essential], self.name,
                                              CANDIDATES)
        else:
            sql = ("WITH partial AS (SELECT t.chunk_id, SUM("
                   + share.format(w="q.weight", t="t") + ") AS score FROM search_terms t"
                   " JOIN unnest(?::text[], ?::float8[]) AS q(term, weight) ON t.term = q.term"
                   " WHERE t.collection = ? GROUP BY t.chunk_id),"
                   " cut AS (SELECT score FROM partial ORDER BY score DESC OFFSET ? LIMIT 1),"
                   " hopeful AS (SELECT chunk_id, score FROM partial"
                   " WHERE score + ? >= (SELECT score FROM cut))"
                   " SELECT h.chunk_id, h.score + COALESCE(SUM("
                   + share.format(w="c.weight", t="o") + "), 0) AS score FROM hopeful h"
                   " CROSS JOIN unnest(?::text[], ?::float8[]) AS c(term, weight)"
                   " LEFT JOIN search_terms o ON o.collection = ? AND o.term = c.term"
                   " AND o.chunk_id = h.chunk_id GROUP BY h.chunk_id, h.score"
                   " ORDER BY score DESC, h.chunk_id LIMIT ?")
            parameters = (*norm, essential, [weights[t] for t in essential], self.name,
                          CANDIDATES - 1, bound, *norm, common, [weights[t] for t in common],
                          self.name, CANDIDATES)
        with self.db.read() as conn:
            rows = conn.execute(sql, parameters).fetchall()
        return [(int(r["chunk_id"]), float(r["score"])) for r in rows if r["score"] > 0]

    def _dense(self, vector: np.ndarray) -> list[tuple[int, float]]:
        d = self.dims
        literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
        with self.db.transaction() as conn:
            conn.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = conn.execute(
                f"SELECT chunk_id, (embedding::vector({d})) <#> ?::vector({d}) AS distance"
                f" FROM search_chunks WHERE collection = ? AND dims = {d}"
                f" ORDER BY (embedding::vector({d})) <#> ?::vector({d}) LIMIT {CANDIDATES}",
                (literal, self.name, literal)).fetchall()
        found = [(int(r["chunk_id"]), -float(r["distance"])) for r in rows]
        found.sort(key=lambda pair: (-pair[1], pair[0]))  # relaxed order: sort exactly
        return found

    @staticmethod
    def _dot(entry: Entry, vector: np.ndarray | None) -> float | None:
        if vector is None or not entry.chunk.embedding:
            return None
        own = np.frombuffer(entry.chunk.embedding, dtype=np.float32)
        return float(own @ vector.astype(np.float32)) if own.shape == vector.shape else None

    # -- chunks --------------------------------------------------------------------------

    def _entries_by_id(self, ids: set[int]) -> dict[int, Entry]:
        with self._entry_lock:
            found = {i: self._entries[i] for i in ids if i in self._entries}
        missing = sorted(ids - found.keys())
        if missing:
            with self.db.read() as conn:
                rows = conn.execute("SELECT * FROM chunks WHERE id = ANY(?)",
                                    (missing,)).fetchall()
            for row in rows:
                document = self.documents.get(row["document_id"])
                if document is not None:  # else: written after this generation was read
                    found[int(row["id"])] = Entry(document, chunk_from_row(row))
            with self._entry_lock:
                for chunk_id in missing:
                    if chunk_id in found:
                        self._entries[chunk_id] = found[chunk_id]
                while len(self._entries) > ENTRY_CACHE:
                    self._entries.popitem(last=False)
        return found

    def entries_of(self, document_ids: set[int]) -> list[Entry]:
        ids = sorted(i for i in document_ids if i in self.documents)
        if not ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM chunks WHERE document_id = ANY(?)"
                                " ORDER BY document_id, ordinal", (ids,)).fetchall()
        return [Entry(self.documents[r["document_id"]], chunk_from_row(r)) for r in rows]

    @property
    def vectors(self) -> np.ndarray | None:
        if not self.has_vectors:
            return None
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT k.embedding FROM chunks k JOIN documents d ON d.id = k.document_id"
                " WHERE d.collection = ? ORDER BY k.document_id, k.ordinal",
                (self.name,)).fetchall()
        if not rows or any(not r["embedding"] for r in rows):
            return None
        return np.vstack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
