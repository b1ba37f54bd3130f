"""The web UI's document pages: collections, their documents with flags, the hygiene report,
and uploading or removing documents.

Reading needs the ``chat`` scope and a grant for the collection, as the API's knowledge
routes do; changing a collection also needs the ``ingest`` scope. Uploads are stored below
``uploads/COLLECTION`` in autonom's home and ingested from there with the same ingest as
``autonom ingest``, so a file keeps its name as its source and the identity rules (a name
taken by another file is refused, not overwritten) hold here too.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from autonom.errors import AutonomError, InvalidRequestError
from autonom.server.state import state
from autonom.services import documents
from autonom.services.access import check_scope
from autonom.services.gateway import CallContext, new_request_id
from autonom.services.grounding import open_collection
from autonom.services.offered import readable_collections
from autonom.ui.pages import (
    Visitor,
    checked_form,
    checked_visitor,
    error_page,
    reading,
    render,
    to_login,
    visitor_of,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
_FILE_NAME = re.compile(r"[^\W][\w .,()+-]{0,150}", re.UNICODE)
MAX_DEPTH = 8
"""Folders inside an uploaded folder."""


@router.get("/collections", response_model=None)
async def collections_page(request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    try:
        check_scope(visitor.key, "chat")
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    found = readable_collections(state(request).services, visitor.key)
    return render(request, "collections.html", {"visitor": visitor, "collections": found},
                 lang=visitor.lang)


@router.get("/collections/{collection}", response_model=None)
async def collection_page(collection: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    knowledge = state(request).services.knowledge
    try:
        listing = await reading(request, visitor, collection, "/ui/collections",
                                lambda name: documents.listing(knowledge, name))
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    may_change = visitor.key is None or "ingest" in visitor.key.scopes
    return render(request, "collection.html", {"visitor": visitor, "may_change": may_change,
                                              "supported": ",".join(documents.SUPPORTED),
                                              "name": listing.name,
                                              "documents": listing.documents},
                  lang=visitor.lang)


@router.get("/collections/{collection}/hygiene", response_model=None)
async def hygiene_page(collection: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    knowledge = state(request).services.knowledge
    try:
        report = await reading(request, visitor, collection, "/ui/hygiene",
                                lambda name: documents.hygiene(knowledge, name))
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    return render(request, "hygiene.html", {"visitor": visitor, "report": report,
                                           "counts": report.counts()}, lang=visitor.lang)


# -- changing a collection ----------------------------------------------------------------


def _changing(request: Request, collection: str) -> tuple[Visitor, str]:
    """The visitor (CSRF checked) and the collection's name, if the key may change it."""
    visitor = checked_visitor(request)
    check_scope(visitor.key, "ingest")
    store = state(request).services.knowledge.store
    return visitor, open_collection(visitor.key, collection, store).name


def upload_path(uploads: Path, collection: str, file_path: str) -> Path:
    """Where an uploaded file is kept: its name, or its path inside an uploaded folder
    (``handbuch/montage.pdf``); refuses odd names, ``..`` and deep nesting."""
    parts = file_path.strip().split("/")
    if not 1 <= len(parts) <= MAX_DEPTH or not all(
            _FILE_NAME.fullmatch(part) and part not in (".", "..") for part in parts):
        raise InvalidRequestError(f"not a usable file name: {file_path!r}")
    if Path(parts[-1]).suffix.lower() not in documents.SUPPORTED:
        raise InvalidRequestError(f"{parts[-1]}: not a supported document type "
                                  f"({', '.join(documents.SUPPORTED)})")
    return uploads.joinpath(collection, *parts)


@router.put("/collections/{collection}/files/{file_name:path}")
async def upload(collection: str, file_name: str, request: Request) -> JSONResponse:
    _, name = _changing(request, collection)
    settings = state(request).services.settings
    path = upload_path(settings.uploads_dir, name, file_name)
    body = await request.body()  # bounded by server.max_body_bytes before it is read
    if not body:
        raise InvalidRequestError(f"{file_name}: the file is empty")

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(body)
        partial.replace(path)

    await asyncio.to_thread(save)
    return JSONResponse({"file": file_name, "bytes": len(body)})


@router.post("/collections/{collection}/ingest")
async def ingest(collection: str, request: Request) -> JSONResponse:
    visitor, name = _changing(request, collection)
    services = state(request).services
    folder = services.settings.uploads_dir / name
    if not folder.is_dir():
        raise InvalidRequestError("nothing uploaded to this collection yet")
    ctx = CallContext(route="/ui/ingest", key=visitor.key, request_id=new_request_id(),
                      body={"collection": name})

    async def work() -> Any:
        return await asyncio.to_thread(services.knowledge.ingest, [folder], name)

    report = await state(request).gateway.documents(ctx, name, work)
    return JSONResponse({"added": report.added, "updated": report.updated,
                         "unchanged": report.unchanged,
                         "skipped": [{"file": f, "reason": r} for f, r in report.skipped],
                         "flagged": report.flagged, "chunks": report.chunks})


@router.post("/collections/{collection}/remove", response_model=None)
async def remove(collection: str, request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    form = await checked_form(request, visitor)
    if isinstance(form, Response):
        return form
    knowledge = state(request).services.knowledge
    source = form.get("source", "")
    try:
        check_scope(visitor.key, "ingest")
        name = open_collection(visitor.key, collection, knowledge.store).name
        await asyncio.to_thread(knowledge.remove, name, [source])
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    try:  # an uploaded file goes too, or the next ingest of the uploads would bring it back
        uploaded = upload_path(state(request).services.settings.uploads_dir, name, source)
    except InvalidRequestError:
        uploaded = None
    if uploaded is not None and uploaded.is_file():
        uploaded.unlink()
    return RedirectResponse(f"/ui/collections/{name}", status_code=303)
