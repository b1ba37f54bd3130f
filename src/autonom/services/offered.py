"""What a caller may name: the models, aliases and backends' models it can ask, and the
document collections it may read — the same answer for the OpenAI and Ollama model lists,
the knowledge routes and the web UI."""

from __future__ import annotations

import time
from typing import Any

from autonom.services.assembly import Services
from autonom.services.grounding import PREFIX, readable
from autonom.store.documents import CollectionInfo
from autonom.store.keys import ApiKey
from autonom.tuning import experts


def readable_collections(services: Services, key: ApiKey | None) -> list[CollectionInfo]:
    """The document collections this caller may read (all of them when auth is off)."""
    return readable(key, services.knowledge.store.collections())


def embedding_model(services: Services) -> str | None:
    """The name of the document embedder when the API offers it as a model of its own
    (``multilingual-e5-small``: multilingual sentence embeddings for clients' vector
    stores, much better for search than a chat model's embeddings)."""
    embedder = services.knowledge.embedder
    return embedder.offered_as if embedder is not None else None


def usable_experts(services: Services, key: ApiKey | None) -> list[experts.ExpertSet]:
    """Expert sets this caller can use: all of them, except those that answer from
    documents when the caller may not read every one of their collections."""
    readable_names = {c.name for c in readable_collections(services, key)}
    return [s for s in experts.stored(services.settings.home)
            if not s.documents
            or all((d.collection or d.name) in readable_names for d in s.domains)]


async def routed_models(services: Services, local: set[str]) -> list[tuple[str, str]]:
    """Names the router answers besides local models: ``(name, what)`` for each alias
    (``alias`` or ``complexity alias``) and for each model a backend offers (the backend's
    name), first backend first, without repeating a name."""
    seen = set(local)
    found: list[tuple[str, str]] = []
    for alias, spec in services.settings.aliases.items():
        found.append((alias, "alias" if isinstance(spec, list) else "complexity alias"))
        seen.add(alias)
    for backend, models in (await services.router.listing()).items():
        for model in models:
            if model not in seen:
                seen.add(model)
                found.append((model, backend))
    return found


async def listed_models(services: Services, key: ApiKey | None) -> list[dict[str, Any]]:
    """What a caller may name as ``model``: local models, the collections it may read
    (``rag:NAME``), tool-loop aliases, expert sets (``experts:NAME``), then what the
    router's aliases and backends offer."""
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
    for expert_set in usable_experts(services, key):
        data.append({"id": experts.PREFIX + expert_set.name, "object": "model",
                     "owned_by": "autonom", "created": int(expert_set.created_at)})
    if (embedder := embedding_model(services)) is not None:
        data.append({"id": embedder, "object": "model", "owned_by": "autonom", "created": 0})
    for name, owner in await routed_models(services, {str(d["id"]) for d in data}):
        data.append({"id": name, "object": "model", "owned_by": owner, "created": 0})
    return data
