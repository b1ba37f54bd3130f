"""A collection's documents as people look at them, the same in ``autonom docs``, the web UI
and the hygiene report: which documents are outdated (and by which newer one), which files
were skipped, which formats are read."""

from __future__ import annotations

from dataclasses import dataclass

from autonom.knowledge.base import KnowledgeBase
from autonom.knowledge.hygiene import HygieneReport
from autonom.knowledge.hygiene import check as check_hygiene
from autonom.knowledge.parse import PARSERS
from autonom.knowledge.versions import outdated_documents
from autonom.store.documents import DocumentRecord

SUPPORTED = tuple(sorted(PARSERS))
"""File suffixes ingest reads (``.md``, ``.pdf``, …)."""


@dataclass(frozen=True)
class Listed:
    record: DocumentRecord
    outdated: bool
    """Replaced by a newer version in the collection, or marked outdated by itself."""
    replaced_by: str | None = None
    """The newer document's source, when there is one."""


@dataclass(frozen=True)
class Listing:
    name: str
    documents: list[Listed]
    skipped: list[tuple[str, str]]
    """Files that were not indexed: source and reason."""


def listing(knowledge: KnowledgeBase, collection: str | None) -> Listing:
    """The documents of a collection (default: the configured one) with their version
    state; an unknown collection is a 404."""
    name = knowledge.collection_name(collection)
    store = knowledge.store
    store.collection(name)
    docs = store.documents(name)
    outdated = outdated_documents(docs)
    by_id = {d.id: d.source for d in docs}
    return Listing(name, [
        Listed(d, d.id in outdated,
               by_id.get(outdated[d.id]) if d.id in outdated else None)
        for d in docs], store.skipped(name))


def hygiene(knowledge: KnowledgeBase, collection: str | None) -> HygieneReport:
    """Duplicates, superseded versions, conflicting facts, unreadable or undated files and
    planted instructions of a collection."""
    return check_hygiene(knowledge.store, knowledge.collection_name(collection))
