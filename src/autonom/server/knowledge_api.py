"""Document collections over HTTP: which ones the caller may read, and search in one.

Answers with citations come through the chat routes (model ``rag:NAME``); these routes give
programs the ranked chunks themselves, as ``autonom search --json`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from autonom.server.auth import ChatKey
from autonom.server.state import state
from autonom.server.wire import Open, call_context, gateway
from autonom.services.grounding import PREFIX, open_collection
from autonom.services.offered import readable_collections

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


class SearchBody(Open):
    query: str = Field(min_length=1, max_length=2000)
    collection: str = Field(min_length=1, max_length=64)
    k: int = Field(default=5, ge=1, le=50)


@router.get("/collections")
async def collections(request: Request, key: ChatKey) -> dict[str, Any]:
    return {"object": "list", "data": [
        {"name": c.name, "documents": c.documents, "chunks": c.chunks, "model": PREFIX + c.name}
        for c in readable_collections(state(request).services, key)]}


@router.post("/search")
async def search(body: SearchBody, request: Request, key: ChatKey) -> dict[str, Any]:
    knowledge = state(request).services.knowledge

    async def work() -> dict[str, Any]:
        name = open_collection(key, body.collection, knowledge.store).name
        hits = await asyncio.to_thread(knowledge.search, body.query, name, body.k)
        return {"object": "list", "collection": name, "data": [h.to_json() for h in hits]}

    return await gateway(request).documents(call_context(request, key, body, "search"),
                                            body.collection, work)
