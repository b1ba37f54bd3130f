"""The in-memory search index of one collection: BM25 over stemmed tokens plus a matrix of
chunk embeddings, built from the store and rebuilt when the collection's generation moves.

It also knows which documents are outdated: those that say so themselves ("veraltet",
"ersetzt durch", "superseded") and those with the same title as a document with a newer
date ("Stand").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from autonom.knowledge.chunk import index_text
from autonom.knowledge.text import tokens
from autonom.store.documents import ChunkRecord, DocumentRecord


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
        self.vectors = (np.vstack(vectors) if vectors and all(v is not None for v in vectors)
                        else None)
        self.outdated = outdated_documents([d for d, _ in rows])

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

    model = bm25s.BM25()
    model.index(token_lists, show_progress=False)
    return model


_TITLE_NOISE = re.compile(r"\b(?:19|20)\d\d\b|\b(?:stand|version|v\d+|rev\.?)\b|[()\[\],:;]",
                          re.IGNORECASE)


def _subject(title: str | None) -> str:
    return " ".join(_TITLE_NOISE.sub(" ", (title or "").lower()).split())


def outdated_documents(documents: list[DocumentRecord]) -> dict[int, int | None]:
    """document id → id of the newer document that replaces it (``None``: the document says
    itself that it is outdated, but no newer one is in the collection)."""
    unique = {d.id: d for d in documents if d.id is not None}
    by_subject: dict[str, list[DocumentRecord]] = {}
    for doc in unique.values():
        if subject := _subject(doc.title):
            by_subject.setdefault(subject, []).append(doc)
    outdated: dict[int, int | None] = {}
    for group in by_subject.values():
        dated = [d for d in group if d.doc_date and not d.superseded]
        newest = max(dated, key=lambda d: d.doc_date or "", default=None)
        for doc in group:
            if doc is newest or doc.id is None:
                continue
            older = newest is not None and (doc.doc_date or "") < (newest.doc_date or "")
            if doc.superseded or older:
                outdated[doc.id] = newest.id if newest is not None else None
    for doc in unique.values():
        if doc.superseded and doc.id not in outdated:
            outdated[doc.id] = None
    return outdated
