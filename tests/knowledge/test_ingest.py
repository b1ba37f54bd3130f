"""Ingesting folders: incremental by content, pruning, bad files, interruptions."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autonom.config import KnowledgeSettings
from autonom.errors import InvalidRequestError, NotFoundError
from autonom.knowledge.base import KnowledgeBase
from autonom.knowledge.chunk import chunk_document
from autonom.knowledge.parse import parse_file
from autonom.store import SqliteDatabase


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def datasheet(product: str, power: str) -> str:
    return (f"# Datenblatt {product}\n\nStand: 03/2026\n\n## Technische Daten\n\n"
            f"- Motorleistung: {power}\n- Gewicht: 48 kg\n")


def test_unchanged_files_are_skipped_changed_ones_reindexed_and_gone_ones_pruned(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", datasheet("KP-55", "5,5 kW"))
    write(docs, "sub/b.txt", "Die Lieferzeit beträgt 10 Arbeitstage.")
    first = kb.ingest([docs], "c")
    assert sorted(first.added) == ["a.md", "sub/b.txt"]

    again = kb.ingest([docs], "c")
    assert sorted(again.unchanged) == ["a.md", "sub/b.txt"] and again.chunks == 0

    write(docs, "a.md", datasheet("KP-55", "7,5 kW"))
    (docs / "sub/b.txt").unlink()
    changed = kb.ingest([docs], "c")
    assert changed.updated == ["a.md"] and changed.removed == []
    assert kb.store.document("c", "sub/b.txt", chunks=False)  # kept without --prune

    pruned = kb.ingest([docs], "c", prune=True)
    assert pruned.removed == ["sub/b.txt"]
    assert [d.source for d in kb.store.documents("c")] == ["a.md"]
    assert "7,5 kW" in kb.store.document("c", "a.md").text
    assert kb.search("Motorleistung", "c")[0].entry.chunk.body.count("7,5 kW") == 1


def test_a_file_that_cannot_be_parsed_is_reported_and_the_run_goes_on(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "gut.md", "# Gut\n\nDie Garantie beträgt 36 Monate.")
    (docs / "kaputt.pdf").write_bytes(b"%PDF-1.4 broken")
    (docs / "leer.txt").write_bytes(b"")
    (docs / "bild.png").write_bytes(b"\x89PNG")
    report = kb.ingest([docs], "c")
    assert report.added == ["gut.md"]
    assert {s for s, _ in report.skipped} == {"kaputt.pdf", "leer.txt", "bild.png"}
    assert {s for s, _ in kb.store.skipped("c")} == {"kaputt.pdf", "leer.txt", "bild.png"}


def test_a_missing_path_and_a_bad_collection_name_are_clear_errors(kb, tmp_path):
    with pytest.raises(InvalidRequestError, match="no such file"):
        kb.ingest([tmp_path / "nirgends"], "c")
    write(tmp_path, "a.md", "# A\n\nText.")
    with pytest.raises(InvalidRequestError, match="invalid collection name"):
        kb.ingest([tmp_path / "a.md"], "../etc")
    with pytest.raises(NotFoundError):
        kb.search("x", "gibt-es-nicht")


class InterruptingEmbedder:
    """Wraps the real embedder and raises KeyboardInterrupt on the n-th document."""

    def __init__(self, inner, interrupt_at: int) -> None:
        self.inner, self.calls, self.interrupt_at = inner, 0, interrupt_at
        self.name = inner.name

    def embed_passages(self, texts):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return self.inner.embed_passages(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def test_ctrl_c_during_ingest_leaves_only_whole_documents(tmp_path, embedder):
    docs = tmp_path / "docs"
    for i in range(5):
        write(docs, f"d{i}.md", datasheet(f"P-{i}", f"{i},5 kW"))
    db = SqliteDatabase(tmp_path / "kb.db")
    interrupted = KnowledgeBase(db, KnowledgeSettings(),
                                embedder=InterruptingEmbedder(embedder, 3))
    with pytest.raises(KeyboardInterrupt):
        interrupted.ingest([docs], "c")
    assert [d.source for d in interrupted.store.documents("c")] == ["d0.md", "d1.md"]
    assert all(d.chunk_count == 2 for d in interrupted.store.documents("c"))
    resumed = KnowledgeBase(db, KnowledgeSettings(), embedder=embedder).ingest([docs], "c")
    assert resumed.unchanged == ["d0.md", "d1.md"] and len(resumed.added) == 3


def test_sigkill_during_ingest_leaves_only_whole_documents(tmp_path):
    docs = tmp_path / "docs"
    paragraph = "Die Pumpe fördert Wasser. " * 30
    for i in range(60):
        body = "\n\n".join(f"## Abschnitt {j}\n\n{paragraph}" for j in range(8))
        write(docs, f"d{i:02d}.md", f"# Dokument {i}\n\n{body}")
    home = tmp_path / "home"
    env = {**os.environ, "AUTONOM_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "autonom", "ingest", str(docs), "-c", "c"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _documents(home) < 2:
            assert proc.poll() is None, "ingest finished before it could be interrupted"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    stored = _documents(home)
    assert 2 <= stored < 60
    with sqlite3.connect(home / "autonom.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = dict(conn.execute("SELECT d.source, COUNT(k.id) FROM documents d "
                                   "JOIN chunks k ON k.document_id = d.id GROUP BY d.id"))
    assert len(counts) == stored
    for source, count in counts.items():
        path = docs / source
        assert count == len(chunk_document(parse_file(path, path.read_bytes()))), source


def _documents(home: Path) -> int:
    try:
        with sqlite3.connect(home / "autonom.db", timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:  # database or table not created yet
        return 0


def test_embeddings_are_stored_and_a_changed_embedder_is_refused(kb, tmp_path, embedder):
    write(tmp_path / "d", "a.md", datasheet("KP-55", "5,5 kW"))
    kb.ingest([tmp_path / "d"], "c")
    doc = kb.store.document("c", "a.md")
    vectors = [np.frombuffer(c.embedding, dtype=np.float32) for c in doc.chunks]
    assert all(v.shape == (384,) and abs(float(np.linalg.norm(v)) - 1) < 1e-3 for v in vectors)
    keyword_only = KnowledgeBase(kb.store.db, KnowledgeSettings.model_validate(
        {"embedder": {"kind": "none"}}))
    with pytest.raises(InvalidRequestError, match="--reindex"):
        keyword_only.search("Motorleistung", "c")
    assert keyword_only.ingest([tmp_path / "d"], "c", reindex=True).added == ["a.md"]
    assert keyword_only.search("Motorleistung", "c")[0].dense is None
