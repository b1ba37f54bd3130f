"""The search index of one collection: BM25 over stemmed tokens plus chunk embeddings.

:class:`SearchIndex` is what retrieval and the answer step see of a collection at one
generation: its candidates for a query (best by BM25 and best by embedding), term
statistics, which documents are outdated (:mod:`autonom.knowledge.versions`) and a cache of
answer-unit embeddings. :class:`CollectionIndex` holds everything in memory, built from the
store and rebuilt when the collection's generation moves;
:class:`autonom.knowledge.db_index.DatabaseIndex` asks PostgreSQL instead.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Protocol

import numpy as np

from autonom.knowledge.chunk import index_text
from autonom.knowledge.text import guess_language, tokens
from autonom.knowledge.versions import outdated_documents
from autonom.store.documents import ChunkRecord, DocumentRecord

UNIT_VECTOR_CACHE = 50_000
"""Answer-unit embeddings kept per collection (384 floats each: about 75 MB at most)."""
CANDIDATES = 50
"""Chunks taken from each ranking (BM25, embeddings) before they are fused."""
BM25_K1 = 1.5
BM25_B = 0.75
"""BM25 parameters (Lucene's variant, as the ``bm25s`` package computes it)."""


def search_tokens(title: str | None, headings: list[str], body: str) -> list[str]:
    """The tokens search counts for a chunk (title and heading path included)."""
    return tokens(index_text(title, headings, body))


def bm25_idf(chunks: int, frequency: int) -> float:
    return float(np.log(1 + (chunks - frequency + 0.5) / (frequency + 0.5)))


def bm25_term(idf: float, tf: int, length: int, average_length: float) -> float:
    """One query term's share of a chunk's BM25 score."""
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / average_length) if average_length else 0
    return idf * tf / (tf + norm) if tf else 0.0


@dataclass
class Entry:
    """A chunk with its document, and what search sees of it (computed once, at build)."""

    document: DocumentRecord
    chunk: ChunkRecord

    @cached_property
    def index_text(self) -> str:
        return index_text(self.document.title, self.chunk.headings, self.chunk.body)

    @cached_property
    def tokens(self) -> list[str]:
        return tokens(self.index_text)  # = search_tokens(title, headings, body)

    @cached_property
    def language(self) -> str:
        """The chunk's language (for stemming its answer units alike)."""
        return guess_language(self.index_text)

    @cached_property
    def heading_tokens(self) -> set[str]:
        """The search tokens of its title and heading path."""
        return set(tokens(index_text(self.document.title, self.chunk.headings, ""),
                          self.language))


@dataclass
class Scored:
    """A candidate chunk with its score and rank in each ranking (rank None: not among the
    best there)."""

    entry: Entry
    bm25: float
    dense: float | None
    bm25_rank: int | None
    dense_rank: int | None


class TermCounts(Protocol):
    def get(self, token: str, default: int, /) -> int: ...


class SearchIndex:
    """A collection at one generation, as search and the answer step see it."""

    name: str
    generation: int
    outdated: dict[int, int | None]
    """Outdated document id → the id of the document that replaces it (None: it says so
    itself, but no newer version is in the collection)."""
    document_frequency: TermCounts
    """Token → number of chunks that contain it."""
    has_vectors: bool
    """Every chunk has an embedding (dense search is possible)."""

    def __init__(self) -> None:
        self._unit_vectors: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._unit_lock = threading.Lock()
        self._width = 1

    def __len__(self) -> int:
        raise NotImplementedError

    def candidates(self, query_tokens: list[str], vector: np.ndarray | None) -> list[Scored]:
        """The best chunks by BM25 and the best by embedding (``CANDIDATES`` of each)."""
        raise NotImplementedError

    def entries_of(self, document_ids: set[int]) -> list[Entry]:
        """Every chunk of these documents, in document order."""
        raise NotImplementedError

    @property
    def vectors(self) -> np.ndarray | None:
        """All chunk embeddings, one row per chunk (None unless every chunk has one)."""
        raise NotImplementedError

    def idf(self, token: str) -> float:
        """Inverse document frequency (BM25 form); tokens not in the collection score highest."""
        return bm25_idf(len(self), self.document_frequency.get(token, 0))

    def unit_vectors(self, units: list[tuple[int, int, int, str]],
                     embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Embeddings of answer units ``(document id, start, end, text)``, computed once per
        unit and kept (bounded) for later questions."""
        with self._unit_lock:
            missing = [u for u in units if u[:3] not in self._unit_vectors]
        if missing:
            vectors = embed([u[3] for u in missing])
            with self._unit_lock:
                for unit, vector in zip(missing, vectors, strict=True):
                    self._unit_vectors[unit[:3]] = np.asarray(vector, dtype=np.float32)
                    self._width = len(vector)
                while len(self._unit_vectors) > UNIT_VECTOR_CACHE:
                    self._unit_vectors.popitem(last=False)
        with self._unit_lock:
            return np.vstack([self._unit_vectors.get(u[:3], np.zeros(self._width, np.float32))
                              for u in units])


class CollectionIndex(SearchIndex):
    """Everything in memory: the chunks, a BM25 index and the embedding matrix."""

    def __init__(self, name: str, generation: int,
                 rows: list[tuple[DocumentRecord, ChunkRecord]]) -> None:
        super().__init__()
        self.name = name
        self.generation = generation
        self.entries = [Entry(d, c) for d, c in rows]
        self.document_frequency: dict[str, int] = {}
        for entry in self.entries:
            for token in set(entry.tokens):
                self.document_frequency[token] = self.document_frequency.get(token, 0) + 1
        self._bm25 = _build_bm25([e.tokens for e in self.entries])
        vectors = [np.frombuffer(c.embedding, dtype=np.float32) if c.embedding else None
                   for _, c in rows]
        present = [v for v in vectors if v is not None]
        self._vectors = (np.vstack(present) if vectors and len(present) == len(vectors)
                         else None)
        self.has_vectors = self._vectors is not None
        self.outdated = outdated_documents([d for d, _ in rows])

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def vectors(self) -> np.ndarray | None:
        return self._vectors

    def entries_of(self, document_ids: set[int]) -> list[Entry]:
        return [e for e in self.entries if e.document.id in document_ids]

    def candidates(self, query_tokens: list[str], vector: np.ndarray | None) -> list[Scored]:
        lexical = self.bm25(query_tokens)
        dense = self.dense(vector)
        lexical_ranks = _ranks(lexical, positive_only=True)
        dense_ranks = _ranks(dense, positive_only=False) if dense is not None else {}
        return [Scored(self.entries[i], float(lexical[i]),
                       float(dense[i]) if dense is not None else None,
                       lexical_ranks.get(i), dense_ranks.get(i))
                for i in set(lexical_ranks) | set(dense_ranks)]

    def bm25(self, query_tokens: list[str]) -> np.ndarray:
        if self._bm25 is None or not query_tokens:
            return np.zeros(len(self.entries), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(query_tokens), dtype=np.float32)

    def dense(self, query_vector: np.ndarray | None) -> np.ndarray | None:
        if self._vectors is None or query_vector is None:
            return None
        # One thread: the product is memory-bound, and OpenBLAS's worker threads keep
        # spinning after a call, starving the embedder's threads on small machines (p95 of a
        # search at 10k chunks: 112 ms with them, 17 ms without; benchmarks/RESULTS.md).
        with _blas().limit(limits=1, user_api="blas"):
            return self._vectors @ query_vector.astype(np.float32)


def _ranks(scores: np.ndarray, positive_only: bool) -> dict[int, int]:
    order = np.argsort(-scores, kind="stable")[:CANDIDATES]
    return {int(i): rank for rank, i in enumerate(order, 1)
            if not positive_only or scores[i] > 0}


@cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _build_bm25(token_lists: list[list[str]]):
    if not token_lists:
        return None
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it says DEBUG for every index
    model = bm25s.BM25()
    model.index(token_lists, show_progress=False)
    return model
