"""API keys: random secrets shown once, stored only as SHA-256 hashes, with scopes, limits
and collection grants.

A key reads only the document collections it was granted (``*`` grants all, including ones
created later); a new key is granted none unless asked for.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from autonom.errors import InvalidRequestError
from autonom.store.db import Database, Row
from autonom.store.documents import check_collection_name

SCOPES = ("chat", "embed", "ingest", "admin")
PREFIX = "sk-autonom-"
ALL_COLLECTIONS = "*"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[str]
    rpm: int | None
    tpm: int | None
    created_at: float
    revoked_at: float | None
    collections: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def may_read(self, collection: str) -> bool:
        return ALL_COLLECTIONS in self.collections or collection in self.collections


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise InvalidRequestError(
            f"invalid scopes {text!r}: choose from {', '.join(SCOPES)} (comma-separated)"
        )
    return scopes


def parse_collections(text: str) -> frozenset[str]:
    """``"a,b"`` → {"a", "b"}; ``"*"`` grants every collection; ``""`` none."""
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    for name in names - {ALL_COLLECTIONS}:
        check_collection_name(name)
    return names


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def single_authorization(values: list[str]) -> str | None:
    """The one ``Authorization`` header of a request; several are refused, so that no part of
    the server can check one credential while another part reads a different one."""
    if len(values) > 1:
        raise InvalidRequestError("send exactly one Authorization header "
                                  f"(this request has {len(values)})")
    return values[0] if values else None


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, scopes: frozenset[str], rpm: int | None = None,
               tpm: int | None = None,
               collections: frozenset[str] = frozenset()) -> tuple[ApiKey, str]:
        """A new key; returns it with its secret, which is never stored or shown again."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidRequestError("a key needs a name of 1 to 100 characters")
        for label, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise InvalidRequestError(f"--{label} must be a positive number")
        secret = PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(4)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys(id, name, secret_hash, scopes, rpm, tpm, created_at,"
                " collections) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, _hash(secret), ",".join(sorted(scopes)), rpm, tpm, now,
                 ",".join(sorted(collections))),
            )
        return self.get(key_id), secret

    def get(self, key_id: str) -> ApiKey:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM api_keys WHERE id = ? OR name = ? ORDER BY created_at DESC",
                (key_id, key_id),
            ).fetchone()
        if row is None:
            raise InvalidRequestError(f"no API key {key_id!r}; see 'autonom keys list'")
        return _key(row)

    def list(self) -> list[ApiKey]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        key = self.get(key_id)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key.id),
            )
        return self.get(key.id)

    def grant(self, key_id: str, collections: frozenset[str], *,
              revoke: bool = False) -> ApiKey:
        """Adds collections to a key's grants (or, with ``revoke``, takes them away)."""
        if not collections:
            raise InvalidRequestError("name at least one collection")
        key = self.get(key_id)
        granted = key.collections - collections if revoke else key.collections | collections
        with self.db.transaction() as conn:
            conn.execute("UPDATE api_keys SET collections = ? WHERE id = ?",
                         (",".join(sorted(granted)), key.id))
        return self.get(key.id)

    def verify(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM api_keys WHERE secret_hash = ?", (_hash(secret),)
            ).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        return _key(row)


def _key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"], name=row["name"], scopes=frozenset(row["scopes"].split(",")),
        rpm=row["rpm"], tpm=row["tpm"], created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        collections=frozenset(n for n in row["collections"].split(",") if n),
    )

