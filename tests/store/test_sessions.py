"""Web UI sessions in SQLite: only a hash of the token is stored, and sessions expire."""

from __future__ import annotations

import sqlite3
import time

from autonom.store import SqliteDatabase
from autonom.store.sessions import SessionStore


def test_a_session_is_found_by_its_token_and_only_its_hash_is_stored(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    store = SessionStore(db, lifetime_s=60)
    session = store.create("key_1")
    assert store.get(session.token).key_id == "key_1"
    assert store.get("anderes") is None and store.get(None) is None
    stored = sqlite3.connect(tmp_path / "a.db").execute(
        "SELECT token_hash FROM ui_sessions").fetchall()
    assert session.token not in {row[0] for row in stored}


def test_an_expired_session_is_gone_and_deleted_at_the_next_sign_in(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    store = SessionStore(db, lifetime_s=0.05)
    old = store.create("key_1")
    time.sleep(0.1)
    assert store.get(old.token) is None
    store.create("key_2")
    count = sqlite3.connect(tmp_path / "a.db").execute(
        "SELECT COUNT(*) FROM ui_sessions").fetchone()[0]
    assert count == 1


def test_sign_out_deletes_the_session(tmp_path):
    store = SessionStore(SqliteDatabase(tmp_path / "a.db"), lifetime_s=60)
    session = store.create(None)
    store.delete(session.token)
    assert store.get(session.token) is None
