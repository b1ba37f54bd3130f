"""The embedded store: one SQLite file per data directory, WAL mode, foreign keys."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autonom.errors import StoreError
from autonom.store.db import Database
from autonom.store.migrations import MIGRATIONS


class SqliteDatabase(Database):
    """Opens short-lived connections. Writers inside this process are serialised by a lock;
    SQLite's busy timeout arbitrates between processes."""

    kind = "sqlite"
    shared = False

    def __init__(self, path: Path, migrations: list[tuple[int, str, str]] | None = None) -> None:
        self.path = path
        self.migrations = MIGRATIONS if migrations is None else migrations
        self._write_lock = threading.Lock()
        try:
            with self.read() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc

    def describe(self) -> str:
        return str(self.path)

    def connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self.connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()
