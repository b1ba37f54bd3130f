import sqlite3

import pytest

from autonom.errors import StoreError
from autonom.store import SqliteDatabase
from autonom.store.migrations import MIGRATIONS


def test_database_uses_wal_and_foreign_keys(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_every_migration_is_recorded_once(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    assert db.migrate() == []  # second run applies nothing
    with db.read() as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [v for v, _, _ in MIGRATIONS]


def test_migration_versions_are_strictly_increasing():
    versions = [v for v, _, _ in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_database_from_newer_version_is_refused(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    with db.transaction() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
    with pytest.raises(StoreError, match="newer autonom"):
        SqliteDatabase(tmp_path / "a.db")


def test_failed_transaction_leaves_no_trace(tmp_path):
    db = SqliteDatabase(tmp_path / "a.db")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute(
            "INSERT INTO models(name, blob, sha256, size_bytes, source, metadata, created_at)"
            " VALUES ('m', 'b', 's', 1, 'src', '{}', 'now')"
        )
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "kaputt.db"
    path.write_bytes(b"das ist keine Datenbank" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        SqliteDatabase(path)
    assert sqlite3.sqlite_version


def test_both_stores_have_the_same_tables_and_columns(tmp_path, pg_url):
    from autonom.store.migrations_postgres import SEARCH_TABLES
    from autonom.store.postgres import PostgresDatabase

    lite = SqliteDatabase(tmp_path / "a.db")
    with lite.read() as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite_schema = {t: {r["name"] for r in conn.execute(f"PRAGMA table_info({t})")}
                         for t in tables}
    pg = PostgresDatabase(pg_url, pool_size=1)
    try:
        with pg.read() as conn:
            rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                                " WHERE table_schema = 'public'").fetchall()
    finally:
        pg.close()
    pg_schema: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in SEARCH_TABLES:
            pg_schema.setdefault(table, set()).add(column)
    assert pg_schema == sqlite_schema


def test_an_unreachable_postgresql_is_a_clear_error(tmp_path):
    from autonom.store.postgres import PostgresDatabase

    url = f"postgresql://nobody:geheim@/autonom?host={tmp_path}"
    with pytest.raises(StoreError, match="cannot reach PostgreSQL") as caught:
        PostgresDatabase(url)
    assert "geheim" not in str(caught.value)
