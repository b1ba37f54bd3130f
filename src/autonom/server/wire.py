"""What both APIs share: lenient request models, the function-tool declaration, and the
per-request context handed to the gateway."""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from autonom.gateway import CallContext, Gateway
from autonom.grounding import PREFIX, readable
from autonom.services import Services
from autonom.store.documents import CollectionInfo
from autonom.store.keys import ApiKey
from autonom.types import ChatChunk, ChatResponse, Tool


class Open(BaseModel):
    """Accepts fields it does not know, as the original servers do."""

    model_config = ConfigDict(extra="allow")


class FunctionSpec(Open):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolSpec(Open):
    """``{"type": "function", "function": {...}}`` — the same in OpenAI's and Ollama's API."""

    type: Literal["function"] = "function"
    function: FunctionSpec

    def to_tool(self) -> Tool:
        return Tool(name=self.function.name, description=self.function.description,
                    parameters=self.function.parameters)


def call_context(request: Request, key: ApiKey | None, body: BaseModel,
                 prefix: str) -> CallContext:
    """Route, caller and logged body of one request; ``prefix`` starts its id. A body too
    deeply nested to serialise is logged as a note; the limits refuse it later, logged."""
    try:
        logged = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    except (ValueError, RecursionError):
        logged = {"note": "body nested too deeply to log"}
    return CallContext(route=request.url.path, key=key,
                       request_id=f"{prefix}-{secrets.token_hex(12)}", body=logged)


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def readable_collections(services: Services, key: ApiKey | None) -> list[CollectionInfo]:
    """The document collections this caller may read (all of them when auth is off)."""
    return readable(key, services.knowledge.store.collections())


def grounding_fields(response: ChatResponse | ChatChunk) -> dict[str, Any]:
    """``citations`` and ``abstained`` of an answer from documents, as extra top-level fields
    (OpenAI's client libraries keep them: ``completion.citations``)."""
    if response.abstained is None:
        return {}
    return {"citations": [c.model_dump() for c in response.citations],
            "abstained": response.abstained}


async def routed_models(services: Services, local: set[str]) -> list[tuple[str, str]]:
    """Names the router answers besides local models: ``(name, what)`` for each alias
    (``alias`` or ``complexity alias``) and for each model a backend offers (the backend's
    name), first backend first, without repeating a name."""
    seen = set(local)
    found: list[tuple[str, str]] = []
    for alias, spec in services.settings.aliases.items():
        found.append((alias, "alias" if isinstance(spec, list) else "complexity alias"))
        seen.add(alias)
    for backend, models in (await services.backend.listing()).items():
        for model in models:
            if model not in seen:
                seen.add(model)
                found.append((model, backend))
    return found


async def listed_models(services: Services, key: ApiKey | None) -> list[dict[str, Any]]:
    """What a caller may name as ``model``: local models, the collections it may read
    (``rag:NAME``), tool-loop aliases, then what the router's aliases and backends offer."""
    data = [
        {"id": r.name, "object": "model", "owned_by": "autonom",
         "created": int(time.mktime(time.strptime(r.created_at[:19], "%Y-%m-%dT%H:%M:%S")))}
        for r in services.registry.list()
    ]
    for info in readable_collections(services, key):
        data.append({"id": PREFIX + info.name, "object": "model", "owned_by": "autonom",
                     "created": int(info.created_at)})
    for alias in services.settings.mcp.aliases:
        data.append({"id": alias, "object": "model", "owned_by": "autonom", "created": 0})
    for name, owner in await routed_models(services, {str(d["id"]) for d in data}):
        data.append({"id": name, "object": "model", "owned_by": owner, "created": 0})
    return data
