"""Who may do what, the same through every front door: exactly one credential per request,
API keys with scopes and collection grants, and the request log every key leaves.

The HTTP routes, ``/mcp``, the web UI and the CLI all ask :class:`Access`; none of them
reads a key table, an ``Authorization`` header or the log by itself.
"""

from __future__ import annotations

from autonom.errors import AuthenticationError, PermissionDeniedError
from autonom.store import Database, request_log
from autonom.store.keys import (
    ApiKey,
    KeyStore,
    bearer_token,
    parse_collections,
    parse_scopes,
    single_authorization,
)
from autonom.store.request_log import LogEntry


def check_scope(key: ApiKey | None, scope: str | None) -> None:
    """Refuses a key without ``scope`` (403); None (auth off) may do everything."""
    if key is not None and scope is not None and scope not in key.scopes:
        raise PermissionDeniedError(f"this API key lacks the '{scope}' scope")


class Access:
    """API keys and the request log of one store; ``auth`` off means every caller is
    anonymous (loopback only, see ``server.auth``)."""

    def __init__(self, db: Database, *, auth: bool = True) -> None:
        self.db = db
        self.auth = auth
        self._keys = KeyStore(db)

    def caller(self, authorization: list[str], scope: str | None) -> ApiKey | None:
        """The checked key of a request from all its ``Authorization`` header values (None
        with auth off). More than one header: 400; none, or an unknown or revoked key: 401;
        a key without ``scope``: 403."""
        token = bearer_token(single_authorization(authorization))
        if not self.auth:
            return None
        if token is None:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with 'autonom keys create')")
        key = self._keys.verify(token)
        if key is None:
            raise AuthenticationError("invalid or revoked API key")
        check_scope(key, scope)
        return key

    def verify(self, secret: str) -> ApiKey | None:
        """The active key with this secret (the web UI's sign-in), or None."""
        return self._keys.verify(secret)

    def get(self, key_id: str) -> ApiKey:
        """A key by id or name (unknown: 400)."""
        return self._keys.get(key_id)

    def list_keys(self) -> list[ApiKey]:
        return self._keys.list()

    def create(self, name: str, scopes: str, collections: str = "", rpm: int | None = None,
               tpm: int | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once, stored only as a hash); ``scopes`` and
        ``collections`` comma-separated as typed (``*``: every collection)."""
        return self._keys.create(name, parse_scopes(scopes), rpm, tpm,
                                 parse_collections(collections))

    def grant(self, key_id: str, collections: str, *, remove: bool = False) -> ApiKey:
        """Let a key read these collections (comma-separated), or no longer."""
        return self._keys.grant(key_id, parse_collections(collections), revoke=remove)

    def revoke(self, key_id: str) -> ApiKey:
        return self._keys.revoke(key_id)

    def logged(self, entry_id: str) -> LogEntry | None:
        """One request of the log, in full."""
        return request_log.get(self.db, entry_id)

    def log(self, *, model: str | None = None, key_id: str | None = None,
            since: float | None = None, status: int | None = None,
            limit: int | None = 50) -> list[LogEntry]:
        """The request log, newest first, filtered."""
        return request_log.query(self.db, model=model, key_id=key_id, since=since,
                                 status=status, limit=limit)
