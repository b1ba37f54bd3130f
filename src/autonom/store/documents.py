"""Collections, documents and their chunks in SQLite.

A document and all its chunks are written in one transaction (:meth:`DocumentStore.put`),
so a reader sees the old version or the new one, never half of either — also when the
writer is interrupted or killed. Every change bumps the collection's ``generation``, which
tells in-memory search indexes to rebuild.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.store.db import Database

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_collection_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidRequestError(
            f"invalid collection name {name!r}: use letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)")
    return name


@dataclass
class ChunkRecord:
    ordinal: int
    start: int
    end: int
    kind: str
    headings: list[str]
    body: str
    injection: bool = False
    embedding: bytes | None = None
    id: int | None = None


@dataclass
class DocumentRecord:
    collection: str
    source: str
    root: str
    sha256: str
    size_bytes: int
    format: str
    text: str
    title: str | None = None
    doc_date: str | None = None
    version: str | None = None
    superseded: str | None = None
    """The document's own words saying it is outdated, if it says so."""
    ingested_at: float = 0.0
    id: int | None = None
    chunks: list[ChunkRecord] = field(default_factory=list)
    chunk_count: int = 0
    flagged: int = 0


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    embedder: str | None
    generation: int
    documents: int
    chunks: int
    created_at: float


class DocumentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- collections --------------------------------------------------------------------

    def ensure_collection(self, name: str, embedder: str | None) -> None:
        """Create the collection, or check that it was indexed with the same embedder."""
        check_collection_name(name)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT embedder FROM collections WHERE name = ?",
                               (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO collections(name, embedder, created_at) "
                             "VALUES (?, ?, ?)", (name, embedder, time.time()))
            elif row["embedder"] != embedder:
                raise InvalidRequestError(
                    f"collection {name!r} was indexed with embedder {row['embedder'] or 'none'}"
                    f", settings say {embedder or 'none'}: re-index it with "
                    f"'autonom ingest PATH --collection {name} --reindex'")

    def collection(self, name: str) -> CollectionInfo:
        for info in self.collections(name):
            return info
        raise NotFoundError(f"collection {name!r} not found (autonom ingest PATH "
                            f"--collection {name} creates it)")

    def collections(self, name: str | None = None) -> list[CollectionInfo]:
        query = ("SELECT c.name, c.embedder, c.generation, c.created_at,"
                 " (SELECT COUNT(*) FROM documents d WHERE d.collection = c.name) AS docs,"
                 " (SELECT COUNT(*) FROM chunks k JOIN documents d ON k.document_id = d.id"
                 "  WHERE d.collection = c.name) AS chunks FROM collections c")
        args: tuple[str, ...] = ()
        if name is not None:
            query += " WHERE c.name = ?"
            args = (name,)
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY c.name", args).fetchall()
        return [CollectionInfo(r["name"], r["embedder"], r["generation"], r["docs"],
                               r["chunks"], r["created_at"]) for r in rows]

    def generation(self, name: str) -> int:
        with self.db.read() as conn:
            row = conn.execute("SELECT generation FROM collections WHERE name = ?",
                               (name,)).fetchone()
        if row is None:
            self.collection(name)  # raises NotFoundError
        return int(row["generation"])

    def drop_collection(self, name: str) -> None:
        self.collection(name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM collections WHERE name = ?", (name,))

    # -- documents ------------------------------------------------------------------------

    def hashes(self, collection: str) -> dict[str, str]:
        """source → sha256 of every document in the collection."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT source, sha256 FROM documents WHERE collection = ?",
                                (collection,)).fetchall()
        return {r["source"]: r["sha256"] for r in rows}

    def put(self, doc: DocumentRecord) -> int:
        """Replace the document (by collection and source) and its chunks, atomically."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE collection = ? AND source = ?",
                         (doc.collection, doc.source))
            conn.execute("DELETE FROM skipped_files WHERE collection = ? AND source = ?",
                         (doc.collection, doc.source))
            cursor = conn.execute(
                "INSERT INTO documents(collection, source, root, sha256, size_bytes, format,"
                " title, doc_date, version, superseded, text, ingested_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (doc.collection, doc.source, doc.root, doc.sha256, doc.size_bytes, doc.format,
                 doc.title, doc.doc_date, doc.version, doc.superseded, doc.text, time.time()))
            doc_id = int(cursor.fetchone()[0])
            conn.executemany(
                "INSERT INTO chunks(document_id, ordinal, start, \"end\", kind, headings, body,"
                " injection, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(doc_id, c.ordinal, c.start, c.end, c.kind,
                  json.dumps(c.headings, ensure_ascii=False), c.body, int(c.injection),
                  c.embedding) for c in doc.chunks])
            _bump(conn, doc.collection)
        return doc_id

    def skip(self, collection: str, source: str, root: str, reason: str) -> None:
        """Remember a file that could not be ingested (for ``docs list`` and hygiene)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO skipped_files(collection, source, root, reason, seen_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(collection, source) DO UPDATE SET"
                " root = excluded.root, reason = excluded.reason, seen_at = excluded.seen_at",
                (collection, source, root, reason, time.time()))

    def skipped(self, collection: str) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT source, reason FROM skipped_files WHERE collection = ?"
                                " ORDER BY source", (collection,)).fetchall()
        return [(r["source"], r["reason"]) for r in rows]

    def remove(self, collection: str, sources: list[str]) -> int:
        """Delete documents by source; returns how many there were."""
        if not sources:
            return 0
        with self.db.transaction() as conn:
            removed = 0
            for source in sources:
                removed += conn.execute(
                    "DELETE FROM documents WHERE collection = ? AND source = ?",
                    (collection, source)).rowcount
                conn.execute("DELETE FROM skipped_files WHERE collection = ? AND source = ?",
                             (collection, source))
            if removed:
                _bump(conn, collection)
        return removed

    def locations(self, collection: str) -> dict[str, str]:
        """source → the folder it is relative to, for every document and skipped file."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT source, root FROM documents WHERE collection = ? UNION "
                "SELECT source, root FROM skipped_files WHERE collection = ?",
                (collection, collection)).fetchall()
        return {r["source"]: r["root"] for r in rows}

    def documents(self, collection: str) -> list[DocumentRecord]:
        """All documents of a collection, without their text and chunks."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT d.*, '' AS text, (SELECT COUNT(*) FROM chunks k"
                " WHERE k.document_id = d.id) AS chunk_count, (SELECT COUNT(*) FROM chunks k"
                " WHERE k.document_id = d.id AND k.injection = 1) AS flagged"
                " FROM documents d WHERE collection = ? ORDER BY source",
                (collection,)).fetchall()
        return [document_from_row(r) for r in rows]

    def document(self, collection: str, source: str, chunks: bool = True) -> DocumentRecord:
        with self.db.read() as conn:
            row = conn.execute("SELECT *, 0 AS chunk_count, 0 AS flagged FROM documents"
                               " WHERE collection = ? AND source = ?",
                               (collection, source)).fetchone()
            if row is None:
                raise NotFoundError(f"no document {source!r} in collection {collection!r}")
            doc = document_from_row(row)
            if chunks:
                doc.chunks = [chunk_from_row(r) for r in conn.execute(
                    "SELECT * FROM chunks WHERE document_id = ? ORDER BY ordinal",
                    (doc.id,)).fetchall()]
                doc.chunk_count = len(doc.chunks)
                doc.flagged = sum(c.injection for c in doc.chunks)
        return doc

    def texts(self, document_ids: Iterable[int | None]) -> dict[int, str]:
        """document id → text of just these documents, for cutting quotes."""
        ids = sorted({i for i in document_ids if i is not None})
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT id, text FROM documents WHERE id IN ({marks})",
                                ids).fetchall()
        return {r["id"]: r["text"] for r in rows}

    def index_rows(self, collection: str) -> tuple[int, list[tuple[DocumentRecord,
                                                                  ChunkRecord]]]:
        """The generation and every chunk with its document (no text), read consistently."""
        with self.db.read() as conn:
            conn.execute("BEGIN")
            try:
                generation = conn.execute("SELECT generation FROM collections WHERE name = ?",
                                          (collection,)).fetchone()
                docs = {r["id"]: document_from_row(r) for r in conn.execute(
                    "SELECT d.*, '' AS text, 0 AS chunk_count, 0 AS flagged FROM documents d"
                    " WHERE collection = ?", (collection,)).fetchall()}
                rows = conn.execute(
                    "SELECT k.* FROM chunks k JOIN documents d ON k.document_id = d.id"
                    " WHERE d.collection = ? ORDER BY k.document_id, k.ordinal",
                    (collection,)).fetchall()
            finally:
                conn.execute("COMMIT")
        if generation is None:
            self.collection(collection)
        return int(generation["generation"]), [(docs[r["document_id"]], chunk_from_row(r))
                                               for r in rows]


def _bump(conn, collection: str) -> None:
    conn.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?",
                 (collection,))


def document_from_row(row) -> DocumentRecord:
    return DocumentRecord(
        collection=row["collection"], source=row["source"], root=row["root"],
        sha256=row["sha256"], size_bytes=row["size_bytes"], format=row["format"],
        text=row["text"], title=row["title"], doc_date=row["doc_date"],
        version=row["version"], superseded=row["superseded"],
        ingested_at=row["ingested_at"], id=row["id"], chunk_count=row["chunk_count"],
        flagged=row["flagged"])


def chunk_from_row(row) -> ChunkRecord:
    return ChunkRecord(ordinal=row["ordinal"], start=row["start"], end=row["end"],
                       kind=row["kind"], headings=json.loads(row["headings"]),
                       body=row["body"], injection=bool(row["injection"]),
                       embedding=row["embedding"], id=row["id"])
