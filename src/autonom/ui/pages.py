"""The web UI at ``/ui``: sign in with an API key, chat with cited answers, read a cited
document with the quoted passage marked.

A thin client of the same functions the API uses, never of the API's own modules: the key's
scopes are checked by :func:`autonom.services.access.check_scope`, collections by
:func:`autonom.services.grounding.open_collection`, what a key may name by
:mod:`autonom.services.offered`;
chats go through :meth:`Gateway.stream` and document reads through :meth:`Gateway.documents`
(rate limits, request log, output filter — all as on the API). Pages are rendered on the
server with autoescaping; the one script is a static file, allowed by a Content-Security-Policy
without inline code. Every request that changes something carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.datastructures import ImmutableMultiDict
from starlette.types import ASGIApp, Receive, Scope, Send

from autonom.config import ServerSettings
from autonom.errors import (
    AutonomError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    http_status,
)
from autonom.server.state import state
from autonom.services import hosts
from autonom.services.access import check_scope
from autonom.services.gateway import CallContext, new_request_id
from autonom.services.grounding import answer_part, open_collection, parse_target
from autonom.services.offered import listed_models
from autonom.store.conversations import StoredMessage
from autonom.store.keys import ApiKey
from autonom.store.sessions import Session
from autonom.streams import primed
from autonom.types import ChatRequest, Citation, GenerationOptions, Message
from autonom.ui.text import LANGUAGES, WORDS, language

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.filters["when"] = lambda t, seconds=False: time.strftime(
    "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(t))
SESSION_COOKIE = "autonom_session"
LOGIN_COOKIE = "autonom_login"
LANG_COOKIE = "autonom_lang"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 20_000

router = APIRouter(prefix="/ui", include_in_schema=False)
Form = ImmutableMultiDict[str, str]
"""A posted form: ``get`` for one value, ``getlist`` for a repeated field."""


class SecurityHeaders:
    """Guards every ``/ui`` request and response: a Host or Origin that is not this server's
    gets 403 (DNS rebinding, as on ``/mcp``); responses say no inline script, no framing, no
    sniffing, and no referrer to other sites (document names in URLs stay in the company;
    ``no-referrer`` would make browsers send ``Origin: null`` on the UI's own form posts).
    A response that brings its own, stricter policy (a sandboxed report) keeps it."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if (why := hosts.refusal(headers, self.settings, own_origins=True)) is not None:
            body = why.encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"content-security-policy" for name, _ in headers):
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = [*headers, (b"x-frame-options", b"DENY"),
                                      (b"x-content-type-options", b"nosniff"),
                                      (b"referrer-policy", b"same-origin"),
                                      (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass(frozen=True)
class Visitor:
    session: Session
    key: ApiKey | None
    lang: str

    @property
    def words(self) -> dict[str, str]:
        return WORDS[self.lang]

    @property
    def owner(self) -> str:
        """Whose conversations these are: the key's (everyone's on a server without keys)."""
        return self.key.id if self.key is not None else ""


def _lang(request: Request) -> str:
    return language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def visitor_of(request: Request) -> Visitor | None:
    """Who is signed in: the session's key, looked up again (a revoked key is signed out)."""
    shared = state(request)
    session = shared.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    key = None
    if session.key_id is not None:
        try:
            key = shared.access.get(session.key_id)
        except InvalidRequestError:
            return None
        if not key.active:
            return None
    elif shared.settings.server.auth:
        return None
    return Visitor(session, key, _lang(request))


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
          lang: str | None = None) -> HTMLResponse:
    lang = lang or _lang(request)
    other = next(code for code in LANGUAGES if code != lang)
    return TEMPLATES.TemplateResponse(request, name, {"w": WORDS[lang], "lang": lang,
                                                      "other_lang": other, **context},
                                      status_code=status)


def to_login(request: Request) -> RedirectResponse:
    response = RedirectResponse("/ui/login", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/ui", httponly=True,
                        samesite="strict", secure=False)


def _signed_in(request: Request, key_id: str | None) -> RedirectResponse:
    shared = state(request)
    session = shared.sessions.create(key_id)
    response = RedirectResponse("/ui/chat", status_code=303)
    _cookie(response, SESSION_COOKIE, session.token, int(shared.sessions.lifetime_s))
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


async def read_form(request: Request, max_fields: int = 10) -> Form:
    """A posted form (``application/x-www-form-urlencoded``); more than ``max_fields`` fields
    is a 400."""
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        return Form(parse_qsl(body, max_num_fields=max_fields))
    except ValueError as exc:
        raise InvalidRequestError(f"a form with more than {max_fields} fields") from exc


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def error_page(request: Request, visitor: Visitor | None, exc: AutonomError) -> Response:
    """The error as a page, with the error's status."""
    return message_page(request, visitor, str(exc), http_status(exc))


def message_page(request: Request, visitor: Visitor | None, message: str,
                 status: int) -> Response:
    return render(request, "message.html", {"message": message, "visitor": visitor},
                  status=status, lang=visitor.lang if visitor else None)


async def checked_form(request: Request, visitor: Visitor,
                       max_fields: int = 10) -> Form | Response:
    """The visitor's posted form, or the page refusing it when its CSRF token is not the
    session's."""
    form = await read_form(request, max_fields)
    if not same_token(form.get("csrf"), visitor.session.csrf):
        return message_page(request, visitor, "CSRF", 403)
    return form


async def reading(request: Request, visitor: Visitor, collection: str, route: str,
                  work: Callable[[str], Any], **logged: str) -> Any:
    """Runs ``work(name)`` for a collection the visitor may read (``chat`` scope and a
    grant), rate-limited and logged like the API's document routes."""
    knowledge = state(request).services.knowledge
    ctx = CallContext(route=route, key=visitor.key, request_id=new_request_id(),
                      body={"collection": collection, **logged})

    async def checked() -> Any:
        check_scope(visitor.key, "chat")
        name = open_collection(visitor.key, collection, knowledge.store).name
        return await asyncio.to_thread(work, name)

    return await state(request).gateway.documents(ctx, collection, checked)


# -- sign in and out --------------------------------------------------------------------------


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/chat", status_code=303)


@router.get("/login", response_model=None)
async def login_page(request: Request) -> Response:
    if not state(request).settings.server.auth:  # loopback without keys: nobody to ask
        return _signed_in(request, None)
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"csrf": token, "error": None})
    _cookie(response, LOGIN_COOKIE, token, 600)
    return response


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    form = await read_form(request)
    if not same_token(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        return message_page(request, None, "CSRF", 403)
    key = state(request).access.verify(form.get("key", "").strip())
    if key is None:
        token = secrets.token_urlsafe(24)
        words = WORDS[_lang(request)]
        response = render(request, "login.html", {"csrf": token, "error": words["bad_key"]},
                         status=401)
        _cookie(response, LOGIN_COOKIE, token, 600)
        return response
    return _signed_in(request, key.id)


@router.post("/logout", response_model=None)
async def logout(request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is not None:
        form = await checked_form(request, visitor)
        if isinstance(form, Response):
            return form
        state(request).sessions.delete(visitor.session.token)
    return to_login(request)


@router.get("/lang/{code}")
async def switch_language(code: str, request: Request) -> RedirectResponse:
    back = request.query_params.get("back", "/ui/chat")
    response = RedirectResponse(back if back.startswith("/ui") else "/ui/chat", status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/ui",
                            samesite="strict")
    return response


# -- chat ---------------------------------------------------------------------------------


@router.get("/chat", response_model=None)
async def chat_page(request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    try:
        check_scope(visitor.key, "chat")
    except PermissionDeniedError:
        return message_page(request, visitor, visitor.words["no_chat_scope"], 403)
    models = [m["id"] for m in await listed_models(state(request).services, visitor.key)]
    # answers from documents first: that is what the people in the company come for
    models.sort(key=lambda name: (not name.startswith("rag:"), name))
    store = state(request).conversations
    current = None
    if wanted := request.query_params.get("c"):
        try:
            current = store.get(visitor.owner, wanted)
        except NotFoundError as exc:
            return error_page(request, visitor, exc)
    history = [{"role": m.role, "content": m.content} for m in current.messages] if current \
        else []
    return render(request, "chat.html", {
        "visitor": visitor, "models": models, "current": current, "history": history,
        "conversations": store.recent(visitor.owner),
        "chosen": current.model if current else request.query_params.get("model")},
        lang=visitor.lang)


@router.get("/conversations/{conversation_id}.{kind}", response_model=None)
async def export(conversation_id: str, kind: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    try:
        conversation = state(request).conversations.get(visitor.owner, conversation_id)
    except NotFoundError as exc:
        return error_page(request, visitor, exc)
    attachment = {"content-disposition": f'attachment; filename="{conversation.id}.{kind}"'}
    if kind == "json":
        return Response(json.dumps(conversation.to_json(), ensure_ascii=False, indent=1),
                        media_type="application/json", headers=attachment)
    if kind == "md":
        return Response(conversation.to_markdown(), media_type="text/markdown; charset=utf-8",
                        headers=attachment)
    return message_page(request, visitor, f"unknown export {kind!r}", 404)


@router.post("/conversations/{conversation_id}/delete", response_model=None)
async def delete_conversation(conversation_id: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    form = await checked_form(request, visitor)
    if isinstance(form, Response):
        return form
    try:
        state(request).conversations.delete(visitor.owner, conversation_id)
    except NotFoundError as exc:
        return error_page(request, visitor, exc)
    return RedirectResponse("/ui/chat", status_code=303)


class UiRating(BaseModel):
    rating: Literal["good", "bad", "none"]


@router.post("/conversations/{conversation_id}/messages/{ordinal}/rating")
async def rate_answer(conversation_id: str, body: UiRating, request: Request,
                      ordinal: int = FastPath(ge=0, le=MAX_MESSAGES)) -> dict[str, Any]:
    """Rates one answer of the visitor's conversation (``none`` takes the rating back)."""
    visitor = checked_visitor(request)
    check_scope(visitor.key, "chat")
    state(request).conversations.rate(visitor.owner, conversation_id, ordinal, body.rating)
    return {"conversation": conversation_id, "ordinal": ordinal, "rating": body.rating}


class UiMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class UiChat(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    messages: list[UiMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    conversation: str | None = Field(default=None, max_length=40)
    max_tokens: int | None = Field(default=None, ge=1)
    """At most this many tokens in the answer (the server's cap applies as on the API)."""


def checked_visitor(request: Request) -> Visitor:
    """The signed-in visitor of a request that changes something, its CSRF token checked."""
    visitor = visitor_of(request)
    if visitor is None:
        from autonom.errors import AuthenticationError

        raise AuthenticationError("not signed in (or the session expired)")
    if not same_token(request.headers.get("x-csrf-token"), visitor.session.csrf):
        raise PermissionDeniedError("missing or wrong CSRF token")
    return visitor


@router.post("/chat", response_model=None)
async def chat(body: UiChat, request: Request) -> StreamingResponse:
    visitor = checked_visitor(request)
    check_scope(visitor.key, "chat")
    ask = ChatRequest(model=body.model,
                      messages=[Message(role=m.role, content=m.content) for m in body.messages],
                      options=GenerationOptions(max_tokens=body.max_tokens))
    ctx = CallContext(route="/ui/chat", key=visitor.key, request_id=new_request_id(),
                      body=body.model_dump())
    store = state(request).conversations
    if body.conversation is not None:
        store.get(visitor.owner, body.conversation)  # another's or a deleted one: 404
    chunks = await primed(state(request).gateway.stream(ask, ctx))
    conversation = body.conversation or store.create(
        visitor.owner, body.messages[-1].content, body.model).id
    store.sync(visitor.owner, conversation, body.model,
               [(m.role, m.content) for m in body.messages])
    target = parse_target(body.model)

    def keep(message: StoredMessage) -> int:
        message.model = body.model
        return store.answer(visitor.owner, conversation, message)

    return StreamingResponse(_events(chunks, target.collection if target else None,
                                     conversation, keep),
                             media_type="text/event-stream")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def document_link(collection: str, source: str, quote_text: str) -> str:
    return (f"/ui/documents/{quote(collection, safe='')}/{quote(source)}"
            f"?quote={quote(quote_text, safe='')}#quote")


def _linked(collection: str | None, citations: Sequence[Citation]) -> list[dict[str, Any]]:
    """Numbered citations with the link that opens each quote in its document."""
    return [{"n": n, "source": c.source, "quote": c.quote,
             "href": document_link(collection or "", c.source, c.quote)}
            for n, c in enumerate(citations, 1)]


async def _events(chunks: AsyncIterator[Any], collection: str | None, conversation: str,
                  keep: Callable[[StoredMessage], int]) -> AsyncIterator[str]:
    text: list[str] = []
    yield _event("conversation", {"id": conversation})
    try:
        async for chunk in chunks:
            if chunk.delta:
                text.append(chunk.delta)
                yield _event("delta", {"text": chunk.delta})
            if chunk.finish_reason is not None:
                done: dict[str, Any] = {"finish_reason": chunk.finish_reason,
                                        "abstained": chunk.abstained}
                if chunk.abstained is not None:  # an answer from documents
                    done["answer"] = answer_part("".join(text))
                    done["citations"] = _linked(collection, chunk.citations)
                    done["related"] = _linked(collection, chunk.related)
                # an abstention keeps its list of closest passages in the stored text
                kept = StoredMessage("assistant", "".join(text) if chunk.related
                                     else done.get("answer", "".join(text)),
                                     citations=done.get("citations", []),
                                     abstained=chunk.abstained)
                done["ordinal"] = keep(kept)
                # what the page sends back as history: the stored text, so that the next
                # question keeps this answer with its citations and rating
                done["content"] = kept.content
                yield _event("done", done)
    except AutonomError as exc:
        yield _event("error", {"status": http_status(exc), "message": str(exc)})
    except asyncio.CancelledError:
        raise


# -- documents ----------------------------------------------------------------------------


@router.get("/documents/{collection}/{source:path}", response_model=None)
async def document_page(collection: str, source: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    store = state(request).services.knowledge.store
    try:
        record = await reading(request, visitor, collection, "/ui/documents",
                               lambda name: store.document(name, source, False),
                               source=source)
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    wanted = request.query_params.get("quote", "")[:5000]
    lines = _line_range(request.query_params.get("lines", ""))
    if lines and not wanted:
        before, marked, after = split_at_lines(record.text, *lines)
    else:
        before, marked, after = split_at_quote(record.text, wanted)
    return render(request, "document.html", {
        "visitor": visitor, "collection": collection, "document": record,
        "before": before, "marked": marked, "after": after,
        "quote_missing": bool(wanted) and not marked}, lang=visitor.lang)


def _line_range(text: str) -> tuple[int, int] | None:
    found = re.fullmatch(r"(\d{1,7})(?:-(\d{1,7}))?", text)
    if found is None:
        return None
    first = int(found.group(1))
    return first, max(first, int(found.group(2) or first))


def split_at_lines(text: str, first: int, last: int) -> tuple[str, str, str]:
    """The text before, of and after lines ``first`` to ``last`` (1-based, as hygiene
    reports them)."""
    lines = text.splitlines(keepends=True)
    if first < 1 or first > len(lines):
        return text, "", ""
    start = sum(len(line) for line in lines[:first - 1])
    end = start + sum(len(line) for line in lines[first - 1:last])
    return text[:start], text[start:end], text[end:]


def split_at_quote(text: str, wanted: str) -> tuple[str, str, str]:
    """The document text before, at and after the quoted passage (found verbatim, or with
    other white space); ``(text, "", "")`` when it is not there."""
    if not wanted.strip():
        return text, "", ""
    start = text.find(wanted)
    if start >= 0:
        return text[:start], wanted, text[start + len(wanted):]
    pattern = r"\s+".join(re.escape(word) for word in wanted.split())
    found = re.search(pattern, text)
    if found is None:
        return text, "", ""
    return text[:found.start()], found.group(), text[found.end():]
