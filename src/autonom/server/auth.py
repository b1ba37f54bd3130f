"""Bearer API keys with scopes, on every route family (checked by the service layer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from autonom.server.state import state
from autonom.store.keys import ApiKey


def require(scope: str | None) -> Callable[[Request], Awaitable[ApiKey | None]]:
    """A dependency: the caller's key, which must carry ``scope`` (None: any valid key)."""

    async def dependency(request: Request) -> ApiKey | None:
        return state(request).access.caller(request.headers.getlist("authorization"), scope)

    return dependency


ChatKey = Annotated[ApiKey | None, Depends(require("chat"))]
EmbedKey = Annotated[ApiKey | None, Depends(require("embed"))]
AdminKey = Annotated[ApiKey | None, Depends(require("admin"))]
AnyKey = Annotated[ApiKey | None, Depends(require(None))]
