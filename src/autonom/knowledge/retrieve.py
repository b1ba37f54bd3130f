"""Hybrid retrieval: BM25 and embeddings ranked separately, fused by reciprocal rank.

Reciprocal rank fusion needs no score calibration between the two rankings: each list gives
``1 / (60 + rank)`` to its candidates. Chunks of outdated documents are kept (the answer
step needs them to say that an older version differs) but rank behind current ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from autonom.knowledge import db_index
from autonom.knowledge.embed import Embedder
from autonom.knowledge.index import CollectionIndex, Entry, Scored, SearchIndex
from autonom.knowledge.text import tokens
from autonom.store.documents import DocumentStore

RRF_K = 60
OUTDATED_PENALTY = 0.8


@dataclass
class Hit:
    entry: Entry
    score: float
    bm25: float
    dense: float | None
    bm25_rank: int | None
    dense_rank: int | None
    outdated: bool
    replaced_by: int | None = None

    @property
    def source(self) -> str:
        return self.entry.document.source

    def to_json(self) -> dict[str, object]:
        """What API clients get of a hit (the HTTP search route and the MCP tool)."""
        chunk = self.entry.chunk
        return {"source": self.source, "headings": chunk.headings, "text": chunk.body,
                "score": round(self.score, 6), "outdated": self.outdated,
                "flagged": chunk.injection}


class Retriever:
    """Searches collections; keeps one index per collection, rebuilt when it changes."""

    def __init__(self, store: DocumentStore, embedder: Embedder | None) -> None:
        self.store = store
        self.embedder = embedder
        self._indexes: dict[str, SearchIndex] = {}
        self._lock = threading.Lock()

    def index(self, collection: str) -> SearchIndex:
        generation = self.store.generation(collection)
        with self._lock:
            cached = self._indexes.get(collection)
            if cached is not None and cached.generation == generation:
                return cached
        info = self.store.collection(collection)
        name = self.embedder.name if self.embedder else None
        if info.documents and info.embedder != name:
            self.store.ensure_collection(collection, name)  # raises with the fix to run
        built: SearchIndex
        if db_index.searches_in_database(self.store.db):
            built = db_index.DatabaseIndex(self.store, collection, generation)
        else:
            generation, rows = self.store.index_rows(collection)
            built = CollectionIndex(collection, generation, rows)
        with self._lock:
            self._indexes[collection] = built
        return built

    def search(self, query: str, collection: str, k: int = 5) -> list[Hit]:
        return self.rank(self.index(collection), query, k)

    def query_vector(self, index: SearchIndex, query: str) -> np.ndarray | None:
        """The query's embedding, when the collection has chunk embeddings to compare."""
        if self.embedder is None or not index.has_vectors or not len(index):
            return None
        return self.embedder.embed_query(query)

    def rank(self, index: SearchIndex, query: str, k: int = 5,
             vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best chunks of an index already in hand (one generation throughout);
        ``vector`` is the query's embedding when the caller has it already."""
        if not len(index):
            return []
        if vector is None:
            vector = self.query_vector(index, query)
        return fuse(index, index.candidates(tokens(query), vector), k)


def fuse(index: SearchIndex, candidates: list[Scored], k: int) -> list[Hit]:
    hits = []
    for c in candidates:
        score = sum(1.0 / (RRF_K + rank) for rank in (c.bm25_rank, c.dense_rank)
                    if rank is not None)
        doc_id = c.entry.document.id
        outdated = doc_id in index.outdated
        if outdated:
            score *= OUTDATED_PENALTY
        hits.append(Hit(c.entry, score, c.bm25, c.dense, c.bm25_rank, c.dense_rank, outdated,
                        index.outdated.get(doc_id) if outdated and doc_id is not None
                        else None))
    hits.sort(key=lambda h: (-h.score, h.entry.document.source, h.entry.chunk.ordinal))
    return hits[:k]
