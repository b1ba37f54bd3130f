"""Answers from documents behind a model id, so every chat client can ask the company's files.

``rag:COLLECTION`` on any chat route answers the last user message from that collection,
with the default model when it is installed (extractively otherwise);
``rag:COLLECTION@MODEL`` names the model that words the answer. The reply's text ends with
its sources, so clients that show only the text still show them; structured ``citations`` and
``abstained`` travel beside it in the response.

A caller reads only the collections its API key was granted.
"""

from __future__ import annotations

from dataclasses import dataclass

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.knowledge.answer import CLOSEST, Answer
from autonom.knowledge.base import KnowledgeBase, check_question
from autonom.knowledge.text import guess_language
from autonom.store.documents import CollectionInfo, DocumentStore, check_collection_name
from autonom.store.keys import ApiKey
from autonom.types import ChatRequest, ChatResponse, Message

PREFIX = "rag:"
SOURCES = {"de": "Quellen", "en": "Sources"}


@dataclass(frozen=True)
class Target:
    collection: str
    model: str | None = None


def parse_target(model: str) -> Target | None:
    """The collection (and answer model) a ``rag:`` model id names; None for other ids."""
    if not model.startswith(PREFIX):
        return None
    collection, _, answer_model = model[len(PREFIX):].partition("@")
    return Target(check_collection_name(collection), answer_model.strip() or None)


def open_collection(key: ApiKey | None, collection: str,
                    store: DocumentStore) -> CollectionInfo:
    """The collection ``collection`` if the caller may read it (no key: auth is off). One
    that does not exist and one the key was not granted get the same 404 with the same
    words, so a key cannot find out which collections exist."""
    collection = check_collection_name(collection)
    if key is not None and not key.may_read(collection):
        raise NotFoundError(_unknown(collection))
    try:
        return store.collection(collection)
    except NotFoundError:
        if key is None:
            raise
        raise NotFoundError(_unknown(collection)) from None


def _unknown(collection: str) -> str:
    return f"no collection {collection!r} that this API key may read"


def readable(key: ApiKey | None, collections: list[CollectionInfo]) -> list[CollectionInfo]:
    """The collections this caller may read (all of them when auth is off)."""
    return [info for info in collections if key is None or key.may_read(info.name)]


def question_of(request: ChatRequest) -> str:
    """The question: the raw prompt, or the last user message of a chat."""
    text = request.user_text.strip()
    if not text:
        raise InvalidRequestError("a question for the documents needs a user message")
    return check_question(text)


def render(answer: Answer, question: str) -> str:
    """The answer followed by its numbered sources (or, with an abstention, the closest
    passages), in the question's language."""
    listed = answer.citations or answer.related
    if not listed:
        return answer.answer
    heading = (SOURCES if answer.citations else CLOSEST)[guess_language(question)]
    lines = [answer.answer, "", heading + ":"]
    for number, citation in enumerate(listed, 1):
        lines.append(f"[{number}] {citation.source}: „{' '.join(citation.quote.split())}“")
    return "\n".join(lines)


def answer_part(text: str) -> str:
    """The answer of a text :func:`render` made, without its list of sources."""
    for heading in [*SOURCES.values(), *CLOSEST.values()]:
        text = text.split(f"\n\n{heading}:\n", 1)[0]
    return text


async def answer(knowledge: KnowledgeBase, target: Target, request: ChatRequest,
                 key: ApiKey | None) -> ChatResponse:
    open_collection(key, target.collection, knowledge.store)
    question = question_of(request)
    result = await knowledge.ask(question, target.collection, model=target.model)
    return ChatResponse(
        model=request.model,
        message=Message(role="assistant", content=render(result, question)),
        finish_reason="stop", citations=tuple(result.citations), abstained=result.abstained,
        related=tuple(result.related),
    )
