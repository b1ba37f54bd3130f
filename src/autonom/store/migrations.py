"""Append-only schema migrations. Never edit an entry; add a new one at the end."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "model registry",
        """
        CREATE TABLE models (
            name        TEXT PRIMARY KEY,
            blob        TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            source      TEXT NOT NULL,
            metadata    TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX models_sha256 ON models(sha256);
        """,
    ),
    (
        2,
        "loaded models (for autonom ps across processes)",
        """
        CREATE TABLE loaded_models (
            pid         INTEGER NOT NULL,
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            loaded_at   REAL NOT NULL,
            expires_at  REAL,
            PRIMARY KEY (pid, name, kind)
        );
        """,
    ),
]
