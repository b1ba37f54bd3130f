"""The shared store: PostgreSQL through a connection pool, for several autonom replicas.

Store modules write their SQL once (``?`` placeholders); this module turns it into
psycopg's form, gives rows that answer ``row["column"]`` and ``row[0]`` like SQLite's,
maps a lost connection to a 503-style :class:`StoreUnavailableError` and recovers by
itself when the server is back (the pool checks each connection before handing it out).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from autonom.errors import StoreError, StoreUnavailableError
from autonom.store.db import Database
from autonom.store.migrations_postgres import MIGRATIONS

LOCK_SPACE = 0x61756E  # advisory locks of autonom: (this number, hash of the lock's name)
CONNECT_TIMEOUT_S = 5.0


class PgRow(tuple[Any, ...]):
    """A result row, by position or by column name (first column of that name wins)."""

    _names: list[str]
    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: list[str],
                index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._names, row._index = names, index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                key = self._index[key]
            except KeyError:
                raise IndexError(f"no column {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    names = [column.name for column in description]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    return lambda values: PgRow(values, names, index)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``?`` placeholders → ``%s`` (outside string literals), literal ``%`` → ``%%``;
    a bare ``BEGIN`` reads one snapshot (REPEATABLE READ), as SQLite's does."""
    if sql.strip().upper() == "BEGIN":
        return "BEGIN ISOLATION LEVEL REPEATABLE READ"
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    return value


def _params(parameters: Sequence[Any] | None) -> list[Any]:
    return [_value(v) for v in parameters or ()]


class PgConnection:
    """A pooled psycopg connection that speaks the store's SQL."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self.raw.execute(translate(sql), _params(parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
        cursor = self.raw.cursor()
        rows = [_params(p) for p in seq_of_parameters]
        if rows:
            cursor.executemany(translate(sql), rows)
        return cursor


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class PostgresDatabase(Database):
    kind = "postgresql"
    shared = True

    def __init__(self, url: str, *, pool_size: int = 10,
                 migrations: list[tuple[int, str, str]] | None = None) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError("store.url names PostgreSQL, but its driver is not installed; "
                             "pip install 'autonom[postgres]'") from exc
        self.url = url
        self.migrations = MIGRATIONS if migrations is None else migrations
        self.pool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), open=False,
            kwargs={"autocommit": True, "row_factory": _row_factory,
                    "connect_timeout": int(CONNECT_TIMEOUT_S)},
            configure=_configure, check=ConnectionPool.check_connection,
            timeout=CONNECT_TIMEOUT_S, reconnect_timeout=0, name="autonom-store")
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            self.pool.close()
            raise StoreError(f"cannot reach PostgreSQL at {redact(url)}: "
                             f"{_reason(exc)}") from exc
        try:
            self.migrate()
        except BaseException:
            self.pool.close()
            raise

    def describe(self) -> str:
        return redact(self.url)

    def close(self) -> None:
        self.pool.close()

    def serialise(self, conn: Any, name: str) -> None:
        """A transaction-level advisory lock named by ``name`` (hashed to a number)."""
        conn.execute("SELECT pg_advisory_xact_lock(?::int4, hashtext(?))", (LOCK_SPACE, name))

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as raw:
                yield raw
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise StoreUnavailableError(
                f"the database ({redact(self.url)}) is not reachable: {_reason(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"database error: {_reason(exc)}") from exc

    @contextmanager
    def read(self) -> Iterator[PgConnection]:
        with self._connection() as raw:
            yield PgConnection(raw)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        with self._connection() as raw, raw.transaction():
            yield PgConnection(raw)


def _configure(conn: Any) -> None:
    """Numbers come back as Python numbers (SUM and AVG give ``numeric``, not Decimal)."""
    conn.adapters.register_loader("numeric", _number_loader())


@lru_cache(maxsize=1)
def _number_loader() -> type:
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data).decode()
            return int(text) if text.lstrip("-").isdigit() else float(text)

    return NumberLoader


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
