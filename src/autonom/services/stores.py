"""Looking after the store itself (``autonom store check|migrate``): its integrity, and
moving a SQLite home into PostgreSQL with every table verified."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autonom.config import Settings, ensure_home
from autonom.errors import ConfigError, StoreError
from autonom.store import SqliteDatabase, open_database, transfer
from autonom.store.transfer import CheckReport, TableReport


def check(settings: Settings) -> CheckReport:
    """Row counts, references between tables and the database's own integrity check of the
    store the settings name."""
    ensure_home(settings)
    db = open_database(settings)
    try:
        return transfer.check(db)
    finally:
        db.close()


@dataclass(frozen=True)
class Migration:
    target: str
    """The PostgreSQL database, without its password."""
    written: dict[str, int]
    """Rows copied per table."""
    tables: list[TableReport]
    """Each table compared by row count and checksum."""

    @property
    def different(self) -> list[str]:
        return [r.table for r in self.tables if not r.same]


def migrate(settings: Settings, to: str | None,
            advance: Callable[[str, int], None] | None = None) -> Migration:
    """Copies this home's SQLite store into PostgreSQL (``to``, default ``store.url``) and
    compares every table; an interrupted copy resumes when run again."""
    url = to or settings.store.resolved_url()
    if url is None:
        raise ConfigError("name the PostgreSQL database: --to postgresql://… "
                          "or AUTONOM_STORE__URL")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("--to must start with postgresql://")
    if not settings.db_path.is_file():
        raise StoreError(f"no SQLite store at {settings.db_path} to copy")
    from autonom.store.postgres import PostgresDatabase

    source = SqliteDatabase(settings.db_path)
    target = PostgresDatabase(url, pool_size=2)
    try:
        written = transfer.copy_store(source, target, advance or (lambda _table, _rows: None))
        return Migration(target.describe(), written, transfer.compare(source, target))
    finally:
        target.close()
