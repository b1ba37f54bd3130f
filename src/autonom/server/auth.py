"""Bearer API keys with scopes, on every route family."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from autonom.errors import AuthenticationError
from autonom.server.state import state
from autonom.store.keys import ApiKey, KeyStore, bearer_token, check_scope, single_authorization


def bearer(request: Request) -> str | None:
    return bearer_token(single_authorization(request.headers.getlist("authorization")))


def require(scope: str | None) -> Callable[[Request], Awaitable[ApiKey | None]]:
    """A dependency: the caller's key, which must carry ``scope`` (None: any valid key)."""

    async def dependency(request: Request) -> ApiKey | None:
        shared = state(request)
        token = bearer(request)
        if not shared.settings.server.auth:
            return None
        if token is None:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with 'autonom keys create')"
            )
        keys: KeyStore = shared.keys
        key = keys.verify(token)
        if key is None:
            raise AuthenticationError("invalid or revoked API key")
        check_scope(key, scope)
        return key

    return dependency


ChatKey = Annotated[ApiKey | None, Depends(require("chat"))]
EmbedKey = Annotated[ApiKey | None, Depends(require("embed"))]
AdminKey = Annotated[ApiKey | None, Depends(require("admin"))]
AnyKey = Annotated[ApiKey | None, Depends(require(None))]
