"""``autonom store migrate`` copies a SQLite home into a real PostgreSQL and proves the copy;
``autonom store check`` reports a store's integrity."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from autonom.config import Settings
from autonom.services import Services
from autonom.store import request_log
from autonom.store.conversations import ConversationStore
from autonom.store.keys import KeyStore
from support import autonom


def _cli(home: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    return autonom(home, *args, timeout=300,
                   env={"AUTONOM_STORE__URL": url} if url else None)


def _fill(home: Path, docs: Path) -> str:
    services = Services(Settings(home=home))
    try:
        _, secret = KeyStore(services.db).create("Einkauf", frozenset({"chat"}),
                                                 collections=frozenset({"firma"}))
        docs.mkdir()
        (docs / "pumpe.md").write_text("# Pumpe HW-350\n\n- Nenndruck: PN 16\n"
                                       "- Leistung: 5,5 kW\n", encoding="utf-8")
        (docs / "wartung.md").write_text("# Wartung\n\nDie Rechnung wird 14 Tage nach der "
                                         "Wartung fällig.\n", encoding="utf-8")
        services.knowledge.ingest([docs], "firma")
        request_log.write(services.db, request_log.LogEntry(
            id="req_ä", created_at=time.time(), route="/api/chat", key_id=None, model="m",
            status=200, error=None, request={"q": "Größe?"}, response=None, prompt_tokens=1,
            completion_tokens=2, ttft_ms=None, total_ms=3.0, cancelled=False))
        chat = ConversationStore(services.db).create("key", "Straße", "m")
        assert chat.id
    finally:
        services.close()
    return secret


def test_a_sqlite_home_moves_to_postgresql_verified_and_keeps_working(tmp_path, pg_url):
    home = tmp_path / "home"
    secret = _fill(home, tmp_path / "docs")
    moved = _cli(home, "store", "migrate", "--to", pg_url)
    assert moved.returncode == 0, moved.stderr
    assert "DIFFERENT" not in moved.stdout and "verified" in moved.stdout
    again = _cli(home, "store", "migrate", "--to", pg_url)  # resumes: nothing twice
    assert again.returncode == 0, again.stderr

    services = Services(Settings(home=home, store={"url": pg_url}))
    try:
        assert services.db.kind == "postgresql"
        key = KeyStore(services.db).verify(secret)
        assert key is not None and key.collections == {"firma"}
        hits = services.knowledge.search("Wann ist die Rechnung fällig?", "firma", 3)
        assert hits[0].source == "wartung.md"
        assert request_log.get(services.db, "req_ä").request == {"q": "Größe?"}
        (tmp_path / "docs" / "neu.md").write_text("# Neu\n\nDer Kessel K-9 hat 40 kW.\n",
                                                  encoding="utf-8")
        services.knowledge.ingest([tmp_path / "docs"], "firma")  # new ids after copied ones
        assert len(services.knowledge.store.documents("firma")) == 3
    finally:
        services.close()
    checked = _cli(home, "store", "check", url=pg_url)
    assert checked.returncode == 0, checked.stderr
    assert "postgresql store" in checked.stdout and "no problems found" in checked.stdout


def test_store_check_finds_chunks_without_their_document(tmp_path):
    home = tmp_path / "home"
    _fill(home, tmp_path / "docs")
    assert _cli(home, "store", "check").returncode == 0
    with sqlite3.connect(home / "autonom.db") as conn:  # foreign keys are off by default
        conn.execute("DELETE FROM documents WHERE source = 'pumpe.md'")
    checked = _cli(home, "store", "check")
    assert checked.returncode == 1
    assert "chunks without their document" in checked.stderr


def test_migrate_refuses_what_it_cannot_do_in_one_line(tmp_path):
    home = tmp_path / "home"
    for args, message in ((("store", "migrate", "--to", "mysql://x/y"), "postgresql://"),
                          (("store", "migrate"), "name the PostgreSQL database"),
                          (("store", "migrate", "--to", f"postgresql://a@/b?host={tmp_path}"),
                           "no SQLite store")):
        result = _cli(home, *args)
        assert result.returncode != 0
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
