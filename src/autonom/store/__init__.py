"""Storage behind one interface: SQLite (one file per data directory, the default) or
PostgreSQL (shared by replicas); numbered migrations per kind."""

from autonom.store.db import Database, open_database
from autonom.store.sqlite import SqliteDatabase

__all__ = ["Database", "SqliteDatabase", "open_database"]
