"""Web UI sessions: a random token in an HttpOnly cookie, its hash and the signed-in key here.

The API key itself is checked once at sign-in and never kept; every later request looks the
key up again by id, so a revoked key ends its sessions at once. Each session has its own CSRF
token for the forms and requests that change something.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from autonom.store.db import Database


@dataclass(frozen=True)
class Session:
    token: str
    key_id: str | None
    """None when the server runs without authentication (loopback only)."""
    csrf: str
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database, lifetime_s: float) -> None:
        self.db = db
        self.lifetime_s = lifetime_s

    def create(self, key_id: str | None) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ui_sessions WHERE expires_at < ?", (now,))
            conn.execute("INSERT INTO ui_sessions(token_hash, key_id, csrf, created_at, "
                         "expires_at) VALUES (?, ?, ?, ?, ?)",
                         (_hash(token), key_id, csrf, now, now + self.lifetime_s))
        return Session(token, key_id, csrf, now + self.lifetime_s)

    def get(self, token: str | None) -> Session | None:
        """The unexpired session of this cookie value, or None."""
        if not token or len(token) > 100:
            return None
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM ui_sessions WHERE token_hash = ?",
                               (_hash(token),)).fetchone()
        if row is None or row["expires_at"] < time.time():
            return None
        return Session(token, row["key_id"], row["csrf"], row["expires_at"])

    def delete(self, token: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (_hash(token),))
