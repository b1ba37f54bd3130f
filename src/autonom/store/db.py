"""The store's database behind one interface: SQLite (embedded default) or PostgreSQL.

Store modules write SQL once, in the dialect both understand (``?`` placeholders,
``INSERT … ON CONFLICT``, ``RETURNING``); rows answer ``row["column"]`` and ``row[0]``.
Each kind keeps its own migration history (:mod:`autonom.store.migrations` and
:mod:`autonom.store.migrations_postgres`), applied at start.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from autonom.errors import StoreError

if TYPE_CHECKING:
    from autonom.config import Settings


class Row(Protocol):
    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> Sequence[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...


class Database(ABC):
    """Short-lived connections (SQLite) or a pool (PostgreSQL); safe to share between
    threads. Writes go through :meth:`transaction`: committed on success, rolled back on
    any exception."""

    kind: str
    """``sqlite`` or ``postgresql``."""
    shared: bool
    """Whether several autonom processes on several machines may use this store at once
    (then per-process state such as rate windows must live in the database)."""
    migrations: list[tuple[int, str, str]]

    @abstractmethod
    def read(self) -> AbstractContextManager[Any]:
        """A connection for reads (no transaction guarantees across statements)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """One atomic write."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for messages (a path, or a URL without its password)."""

    def close(self) -> None:
        """Release connections (a no-op for SQLite)."""
        return None

    def serialise(self, conn: Any, name: str) -> None:
        """Inside a transaction: wait until no other transaction holds ``name``, and hold it
        until this one ends (across processes and machines). SQLite's ``BEGIN IMMEDIATE``
        already serialises every writer, so only PostgreSQL needs to do something."""
        return None

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied now."""
        applied: list[int] = []
        with self.transaction() as conn:
            self.serialise(conn, "schema migrations")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
                if self.kind == "sqlite" else
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            known = {version for version, _, _ in self.migrations}
            if done - known:
                raise StoreError(
                    f"database {self.describe()} was written by a newer autonom "
                    f"(schema {max(done)}); upgrade autonom"
                )
            for version, name, sql in self.migrations:
                if version in done:
                    continue
                for statement in statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)


def statements(sql: str) -> list[str]:
    return [part.strip() for part in sql.split(";") if part.strip()]


def open_database(settings: Settings) -> Database:
    """The store the settings name: ``store.url`` (PostgreSQL) or the home's SQLite file."""
    url = settings.store.resolved_url()
    if url is None:
        from autonom.store.sqlite import SqliteDatabase

        return SqliteDatabase(settings.db_path)
    from autonom.store.postgres import PostgresDatabase

    return PostgresDatabase(url, pool_size=settings.store.pool_size)
