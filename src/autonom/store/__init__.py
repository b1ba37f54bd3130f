"""SQLite storage: one database file per data directory, WAL mode, numbered migrations."""

from autonom.store.db import Database

__all__ = ["Database"]
