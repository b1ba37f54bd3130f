"""The in-memory search index of one collection: BM25 over stemmed tokens plus a matrix of
chunk embeddings, built from the store and rebuilt when the collection's generation moves.

It also knows which documents are outdated (:mod:`autonom.knowledge.versions`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np

from autonom.knowledge.chunk import index_text
from autonom.knowledge.text import guess_language, tokens
from autonom.knowledge.versions import outdated_documents
from autonom.store.documents import ChunkRecord, DocumentRecord

UNIT_VECTOR_CACHE = 50_000
"""Answer-unit embeddings kept per collection (384 floats each: about 75 MB at most)."""


@dataclass
class Entry:
    """A chunk with its document, and what search sees of it (computed once, at build)."""

    document: DocumentRecord
    chunk: ChunkRecord
    index_text: str = field(init=False)
    tokens: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.index_text = index_text(self.document.title, self.chunk.headings, self.chunk.body)
        self.tokens = tokens(self.index_text)

    @cached_property
    def language(self) -> str:
        """The chunk's language (for stemming its answer units alike)."""
        return guess_language(self.index_text)

    @cached_property
    def heading_tokens(self) -> set[str]:
        """The search tokens of its title and heading path."""
        return set(tokens(index_text(self.document.title, self.chunk.headings, ""),
                          self.language))


class CollectionIndex:
    def __init__(self, name: str, generation: int,
                 rows: list[tuple[DocumentRecord, ChunkRecord]]) -> None:
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
        self.vectors = np.vstack(present) if vectors and len(present) == len(vectors) else None
        self.outdated = outdated_documents([d for d, _ in rows])
        self._unit_vectors: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._unit_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def idf(self, token: str) -> float:
        """Inverse document frequency (BM25 form); tokens not in the collection score highest."""
        n = len(self.entries)
        df = self.document_frequency.get(token, 0)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def bm25(self, query_tokens: list[str]) -> np.ndarray:
        if self._bm25 is None or not query_tokens:
            return np.zeros(len(self.entries), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(query_tokens), dtype=np.float32)

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
                while len(self._unit_vectors) > UNIT_VECTOR_CACHE:
                    self._unit_vectors.popitem(last=False)
        with self._unit_lock:
            return np.vstack([self._unit_vectors.get(u[:3], np.zeros(self._width(), np.float32))
                              for u in units])

    def _width(self) -> int:
        return self.vectors.shape[1] if self.vectors is not None else 1

    def dense(self, query_vector: np.ndarray | None) -> np.ndarray | None:
        if self.vectors is None or query_vector is None:
            return None
        # One thread: the product is memory-bound, and OpenBLAS's worker threads keep
        # spinning after a call, starving the embedder's threads on small machines (p95 of a
        # search at 10k chunks: 112 ms with them, 17 ms without; benchmarks/RESULTS.md).
        with _blas().limit(limits=1, user_api="blas"):
            return self.vectors @ query_vector.astype(np.float32)


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
