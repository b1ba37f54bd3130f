"""Who may do what: one credential per request, scopes, grants and the request log, as every
front door asks them (on SQLite; the HTTP, MCP and web UI tests ask through the doors)."""

from __future__ import annotations

import pytest

from autonom.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError
from autonom.services.access import Access
from autonom.store import SqliteDatabase


@pytest.fixture
def access(tmp_path):
    db = SqliteDatabase(tmp_path / "store.db")
    yield Access(db)
    db.close()


def test_the_caller_is_the_one_valid_key_with_the_scope(access):
    key, secret = access.create("büro", "chat,embed", "technik")
    bearer = [f"Bearer {secret}"]
    assert access.caller(bearer, "chat") == key
    assert access.caller(bearer, None) == key
    with pytest.raises(PermissionDeniedError, match="lacks the 'admin' scope"):
        access.caller(bearer, "admin")
    with pytest.raises(InvalidRequestError):
        access.caller([*bearer, "Bearer sk-autonom-other"], "chat")
    with pytest.raises(AuthenticationError, match="missing API key"):
        access.caller([], "chat")
    with pytest.raises(AuthenticationError, match="invalid or revoked"):
        access.caller(["Bearer sk-autonom-falsch"], "chat")
    access.revoke(key.id)
    with pytest.raises(AuthenticationError, match="invalid or revoked"):
        access.caller(bearer, "chat")


def test_without_auth_every_caller_is_anonymous_but_one_header_still_counts(tmp_path):
    db = SqliteDatabase(tmp_path / "store.db")
    try:
        open_door = Access(db, auth=False)
        assert open_door.caller([], "admin") is None
        with pytest.raises(InvalidRequestError):
            open_door.caller(["Bearer a", "Bearer b"], "chat")
    finally:
        db.close()


def test_scopes_and_grants_are_parsed_as_typed(access):
    key, _ = access.create("lager", "chat", "technik, vertrieb")
    assert key.collections == frozenset({"technik", "vertrieb"})
    assert access.grant("lager", "technik", remove=True).collections == frozenset({"vertrieb"})
    with pytest.raises(InvalidRequestError, match="invalid scopes"):
        access.create("x", "chat,root")
    assert [k.name for k in access.list_keys()] == ["lager"]
    assert access.log() == [] and access.logged("req_nicht") is None
