"""One object for everything a caller does with collections: ingest, search, ask, manage.

Entry points (CLI, HTTP server, MCP server) build a :class:`KnowledgeBase` from settings and
the database; the embedder is created on first use, so commands that only list documents
start fast.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from autonom.backends.base import Backend
from autonom.config import KnowledgeSettings
from autonom.errors import InvalidRequestError
from autonom.knowledge import db_index
from autonom.knowledge.answer import Answer, Answerer, Mode
from autonom.knowledge.embed import Embedder, make_embedder
from autonom.knowledge.ingest import Ingestor, IngestReport
from autonom.knowledge.retrieve import Hit, Retriever
from autonom.models.pull import Progress
from autonom.store import Database
from autonom.store.documents import DocumentStore, check_collection_name

MAX_QUESTION_CHARS = 2000


def check_question(text: str) -> str:
    """The question with its whitespace tidied; refuses an empty or overlong one before any
    work is done (the same rule for the CLI, the HTTP API and MCP)."""
    question = " ".join(text.split())
    if not question:
        raise InvalidRequestError("a question for the documents must not be empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidRequestError(f"a question for the documents may have at most "
                                  f"{MAX_QUESTION_CHARS} characters (this one has "
                                  f"{len(question)})")
    return question


class KnowledgeBase:
    def __init__(self, db: Database, settings: KnowledgeSettings,
                 backend: Backend | None = None, threads: int | None = None,
                 embedder: Embedder | None = None, default_model: str | None = None,
                 model_parameters: Callable[[str], int | None] | None = None) -> None:
        self.settings = settings
        self.store = DocumentStore(db)
        self.backend = backend
        self.default_model = default_model
        self._parameters = model_parameters
        self._threads = threads
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    @cached_property
    def embedder(self) -> Embedder | None:
        return make_embedder(self.settings.embedder, self._threads)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder)

    def collection_name(self, name: str | None) -> str:
        return check_collection_name(name or self.settings.default_collection)

    def ingest(self, paths: list[Path], collection: str | None = None, prune: bool = False,
               reindex: bool = False, progress: Progress | None = None) -> IngestReport:
        ingestor = Ingestor(self.store, self.embedder, self.settings)
        name = self.collection_name(collection)
        report = ingestor.run(paths, name, prune=prune, reindex=reindex, progress=progress)
        if db_index.searches_in_database(self.store.db):
            self.retriever.index(name)  # the shared search rows, now rather than at a question
        return report

    def remove(self, collection: str | None, sources: list[str]) -> int:
        """Removes documents from a collection (the files stay where they are); every source
        must be there, or nothing is removed."""
        name = self.collection_name(collection)
        for source in sources:
            self.store.document(name, source, chunks=False)  # not found → error
        return self.store.remove(name, sources)

    def search(self, query: str, collection: str | None = None,
               k: int | None = None) -> list[Hit]:
        return self.retriever.search(query, self.collection_name(collection),
                                     k or self.settings.top_k)

    def answer_model(self, model: str | None) -> tuple[str | None, int | None]:
        """The model that words answers and its parameter count (None when unknown).

        Without an explicit ``model`` the default model is used only when it is installed;
        otherwise answers are extractive and need no model at all."""
        name = model or self.default_model
        parameters = self._parameters(name) if name and self._parameters else None
        if model is None and parameters is None:
            return None, None
        return name, parameters

    async def ask(self, question: str, collection: str | None = None,
                  model: str | None = None, mode: Mode | None = None,
                  model_parameters: int | None = None) -> Answer:
        """A grounded answer; ``model_parameters`` overrides the looked-up model size."""
        question = check_question(question)
        name, parameters = self.answer_model(model)
        answerer = Answerer(self.retriever, self.store, self.backend,
                            closest=self.settings.closest_passages)
        return await answerer.ask(question, self.collection_name(collection), model=name,
                                  mode=mode or self.settings.answer_mode,
                                  model_parameters=model_parameters or parameters,
                                  read_min_parameters=self.settings.read_min_parameters)
