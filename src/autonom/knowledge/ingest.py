"""Ingest files and folders into a collection: parse, chunk, flag, embed, store.

A document's name (its *source*) is its path relative to the common folder of the paths
given: ``ingest ./handbuch`` names ``handbuch/montage.pdf`` as ``montage.pdf``, and
``ingest ./handbuch ./preise.csv`` names the same file ``handbuch/montage.pdf`` beside
``preise.csv``, so two files never share a name. A file already in the collection keeps the
name it has there, however it is ingested again (names, and so citations, stay stable); a
name already taken by a *different* file that still exists is refused for that file, with
the reason, instead of overwriting it.

Incremental by content hash: unchanged files are skipped, changed ones replaced, and with
``prune`` documents whose file is gone are removed. Each document is committed on its own in
one transaction, so an interrupted run (Ctrl-C, SIGKILL) leaves every document either fully
indexed or untouched. A file that cannot be parsed is reported and skipped; the run goes on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autonom.config import KnowledgeSettings
from autonom.errors import InvalidRequestError
from autonom.knowledge import dates
from autonom.knowledge.chunk import chunk_document
from autonom.knowledge.embed import Embedder
from autonom.knowledge.parse import ParseError, parse_file, supported
from autonom.models.pull import NullProgress, Progress
from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore


@dataclass(frozen=True)
class SourceFile:
    root: Path
    path: Path

    @property
    def source(self) -> str:
        return self.path.relative_to(self.root).as_posix()


@dataclass
class IngestReport:
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    flagged: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


def base_folder(paths: list[Path]) -> Path:
    """The folder sources are named from: a single folder itself, else the common parent."""
    resolved = [p.resolve() for p in paths]
    if len(resolved) == 1:
        return resolved[0] if resolved[0].is_dir() else resolved[0].parent
    common = Path(os.path.commonpath([str(p) for p in resolved]))
    return common if common.is_dir() else common.parent


def discover(paths: list[Path]) -> Iterator[SourceFile]:
    """Supported files under each path (recursively, hidden entries skipped), sorted, each
    named relative to :func:`base_folder`; a file given twice is found once."""
    for given in paths:
        if not given.exists():
            raise InvalidRequestError(f"{given}: no such file or directory")
    base = base_folder(paths)
    seen: set[Path] = set()
    for given in paths:
        root = given.resolve()
        if root.is_file():
            found = [root]
        else:
            found = []
            for folder, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found.extend(Path(folder) / name for name in filenames
                             if not name.startswith((".", "~$")))
        for path in sorted(found):
            if path not in seen:
                seen.add(path)
                yield SourceFile(base, path)


class Ingestor:
    def __init__(self, store: DocumentStore, embedder: Embedder | None,
                 settings: KnowledgeSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    def run(self, paths: list[Path], collection: str, prune: bool = False,
            reindex: bool = False, progress: Progress | None = None) -> IngestReport:
        progress = progress or NullProgress()
        started = time.perf_counter()
        files = list(discover(paths))
        embedder_name = self.embedder.name if self.embedder else None
        if reindex and self.store.collections(collection):
            self.store.drop_collection(collection)  # start afresh, embedder included
        self.store.ensure_collection(collection, embedder_name)
        known = self.store.hashes(collection)
        names = _Names.of(self.store.locations(collection))
        report = IngestReport(collection)
        sizes = [_size(f.path) for f in files]
        progress.start(f"indexing {len(files)} files into {collection}", sum(sizes))
        for file, size in zip(files, sizes, strict=True):
            self._one(file, collection, known, names, report)
            progress.advance(size)
        if prune:
            self._prune(files, paths, collection, report)
        report.seconds = time.perf_counter() - started
        return report

    def _one(self, file: SourceFile, collection: str, known: dict[str, str],
             names: _Names, report: IngestReport) -> None:
        claimed = self._claim(file, names, report)
        if claimed is None:
            return
        file, source = claimed, claimed.source
        if not supported(file.path):
            report.skipped.append((source, f"unsupported file type {file.path.suffix or '-'}"))
            self.store.skip(collection, source, str(file.root), report.skipped[-1][1])
            return
        try:
            data = self._read(file.path)
            digest = hashlib.sha256(data).hexdigest()
            if known.get(source) == digest:
                report.unchanged.append(source)
                return
            record = self.build(data, file, collection, digest)
        except (ParseError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.skipped.append((source, reason))
            self.store.skip(collection, source, str(file.root), reason)
            return
        self.store.put(record)
        (report.updated if source in known else report.added).append(source)
        report.chunks += len(record.chunks)
        if any(c.injection for c in record.chunks):
            report.flagged.append(source)

    def _claim(self, file: SourceFile, names: _Names,
               report: IngestReport) -> SourceFile | None:
        """How ``file`` is named in the collection: by the name it already has there (a file
        keeps its name when ingested again from another folder), else by its path from the
        common folder; ``None`` when that name belongs to a different file."""
        if file.path in names.by_path:
            return SourceFile(Path(names.by_path[file.path]), file.path)
        source = file.source
        holder = names.by_source.get(source)
        if holder is not None and (Path(holder) / source).exists():
            report.skipped.append((source, f"a different file is already stored as {source!r} "
                                   f"(from {holder}); ingest both folders in one call so each "
                                   "keeps its folder in its name"))
            return None
        names.by_source[source] = names.by_path[file.path] = str(file.root)
        return file

    def _read(self, path: Path) -> bytes:
        size = path.stat().st_size
        if size > self.settings.max_file_bytes:
            raise ParseError(f"larger than knowledge.max_file_bytes "
                             f"({size} > {self.settings.max_file_bytes} bytes)")
        return path.read_bytes()

    def build(self, data: bytes, file: SourceFile, collection: str,
              digest: str) -> DocumentRecord:
        """Parse, chunk, flag and embed one file into a record ready to store."""
        parsed = parse_file(file.path, data)
        chunks = chunk_document(parsed, self.settings.chunk_chars)
        title = parsed.title or file.path.stem
        found_date = dates.document_date(parsed.text)
        notice = dates.superseded_notice(parsed.text)
        records = [ChunkRecord(c.ordinal, c.start, c.end, c.kind, c.headings, c.body,
                               c.injection) for c in chunks]
        if self.embedder is not None and chunks:
            vectors = self.embedder.embed_passages([c.index_text(title) for c in chunks])
            for record, vector in zip(records, vectors, strict=True):
                record.embedding = np.asarray(vector, dtype=np.float32).tobytes()
        return DocumentRecord(
            collection=collection, source=file.source, root=str(file.root), sha256=digest,
            size_bytes=len(data), format=file.path.suffix.lower().lstrip("."),
            text=parsed.text, title=title, doc_date=found_date.value if found_date else None,
            version=dates.document_version(parsed.text),
            superseded=_line_of(parsed.text, notice.start) if notice else None,
            chunks=records)

    def _prune(self, files: list[SourceFile], paths: list[Path], collection: str,
               report: IngestReport) -> None:
        """Remove documents whose file lay inside one of the given folders and is gone."""
        seen = {file.path for file in files}
        folders = [p.resolve() for p in paths if p.resolve().is_dir()]
        gone = []
        for source, root in self.store.locations(collection).items():
            path = Path(root) / source
            if path not in seen and any(path.is_relative_to(f) for f in folders):
                gone.append(source)
        self.store.remove(collection, gone)
        report.removed.extend(gone)


@dataclass
class _Names:
    """The names taken in a collection: source → its folder, and file path → its folder."""

    by_source: dict[str, str]
    by_path: dict[Path, str]

    @classmethod
    def of(cls, locations: dict[str, str]) -> _Names:
        return cls(dict(locations), {Path(root) / name: root
                                     for name, root in locations.items()})


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _line_of(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return " ".join(text[start:end if end >= 0 else len(text)].split()).strip("*_ ")
