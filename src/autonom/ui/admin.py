"""The web UI's administration pages (``admin`` scope): API keys, the request log, models
and backends.

Keys are created, granted and revoked through the same
:class:`~autonom.services.access.Access` as ``autonom keys``; a new key's secret is shown once
on the page that created it and is never stored. The request log is read through it too, as
``autonom logs`` does. Models are pulled and removed through :meth:`Services.pull` and
:meth:`Services.remove` (licence policy and source rules as on ``POST /api/pull``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from autonom.errors import AutonomError, InvalidRequestError, NotFoundError, http_status
from autonom.server.state import state
from autonom.services.access import check_scope
from autonom.store.keys import SCOPES
from autonom.ui.pages import (
    Form,
    Visitor,
    checked_form,
    checked_visitor,
    error_page,
    render,
    to_login,
    visitor_of,
)

router = APIRouter(prefix="/ui/admin", include_in_schema=False)
LOG_PAGE = 100


def admin_visitor(request: Request) -> Visitor | Response:
    visitor = visitor_of(request)
    if visitor is None:
        return to_login(request)
    try:
        check_scope(visitor.key, "admin")
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    return visitor


def _keys_page(request: Request, visitor: Visitor, created: Any = None, secret: str = "",
               error: str = "", status: int = 200) -> Response:
    keys = state(request).access.list_keys()
    return render(request, "admin_keys.html", {
        "visitor": visitor, "keys": keys, "scopes": SCOPES, "created": created,
        "secret": secret, "error": error},
        status=status, lang=visitor.lang)


@router.get("/keys", response_model=None)
async def keys_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    return _keys_page(request, visitor)


async def _changing(request: Request) -> tuple[Visitor, Form] | Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    form = await checked_form(request, visitor)
    return form if isinstance(form, Response) else (visitor, form)


def _limit(text: str, label: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidRequestError(f"{label} must be a whole number")
    return int(text)


@router.post("/keys", response_model=None)
async def create_key(request: Request) -> Response:
    checked = await _changing(request)
    if isinstance(checked, Response):
        return checked
    visitor, form = checked
    try:
        key, secret = state(request).access.create(
            form.get("name", ""), ",".join(s for s in SCOPES if form.get(f"scope_{s}")),
            form.get("collections", ""), _limit(form.get("rpm", ""), "rpm"),
            _limit(form.get("tpm", ""), "tpm"))
    except AutonomError as exc:
        return _keys_page(request, visitor, error=str(exc), status=http_status(exc))
    return _keys_page(request, visitor, created=key, secret=secret)


@router.post("/keys/{key_id}/revoke", response_model=None)
async def revoke_key(key_id: str, request: Request) -> Response:
    checked = await _changing(request)
    if isinstance(checked, Response):
        return checked
    visitor, _ = checked
    try:
        state(request).access.revoke(key_id)
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    return RedirectResponse("/ui/admin/keys", status_code=303)


@router.post("/keys/{key_id}/grant", response_model=None)
async def grant_key(key_id: str, request: Request) -> Response:
    checked = await _changing(request)
    if isinstance(checked, Response):
        return checked
    visitor, form = checked
    try:
        state(request).access.grant(key_id, form.get("collections", ""),
                                    remove=form.get("remove") == "1")
    except AutonomError as exc:
        return _keys_page(request, visitor, error=str(exc), status=http_status(exc))
    return RedirectResponse("/ui/admin/keys", status_code=303)


# -- request log --------------------------------------------------------------------------


@router.get("/logs", response_model=None)
async def logs_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    query = request.query_params
    try:
        status = _limit(query.get("status", ""), "status")
        hours = _limit(query.get("hours", ""), "hours")
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    entries = state(request).access.log(
        model=query.get("model") or None,
        key_id=query.get("key") or None, status=status,
        since=time.time() - hours * 3600 if hours else None, limit=LOG_PAGE)
    return render(request, "admin_logs.html", {
        "visitor": visitor, "entries": entries, "filters": dict(query)},
        lang=visitor.lang)


@router.get("/logs/{entry_id}", response_model=None)
async def log_entry(entry_id: str, request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    entry = state(request).access.logged(entry_id)
    if entry is None:
        return error_page(request, visitor, NotFoundError(f"no logged request {entry_id!r}"))
    return render(request, "admin_log_entry.html", {
        "visitor": visitor, "entry": entry,
        "detail": json.dumps(entry.to_dict(), ensure_ascii=False, indent=2)},
        lang=visitor.lang)


# -- models and backends ------------------------------------------------------------------


@router.get("/models", response_model=None)
async def models_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    services = state(request).services
    models = []
    for record in services.registry.list():
        try:
            services.check_licence(record.name)
            licence = ""
        except AutonomError as exc:
            licence = str(exc)
        models.append({"record": record, "refused": licence,
                       "licence": record.info.license or "–"})
    backends = await services.router.probe()
    return render(request, "admin_models.html", {
        "visitor": visitor, "models": models, "backends": backends,
        "loaded": set(services.router.loaded())}, lang=visitor.lang)


@router.post("/models/delete", response_model=None)
async def delete_model(request: Request) -> Response:
    checked = await _changing(request)
    if isinstance(checked, Response):
        return checked
    visitor, form = checked
    try:
        await asyncio.to_thread(state(request).services.remove, form.get("name", ""))
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    return RedirectResponse("/ui/admin/models", status_code=303)


class PullBody(BaseModel):
    source: str = Field(min_length=1, max_length=2000)


@router.post("/models/pull")
async def pull_model(body: PullBody, request: Request) -> StreamingResponse:
    visitor = checked_visitor(request)
    check_scope(visitor.key, "admin")
    services = state(request).services
    services.check_pull(body.source, remote=True)  # refusals as a status, before streaming
    lines = (json.dumps(event, ensure_ascii=False) + "\n"
             async for event in services.pull_progress(body.source))
    return StreamingResponse(lines, media_type="application/x-ndjson")


# -- metrics ------------------------------------------------------------------------------


def metrics_overview(metrics: Any) -> dict[str, Any]:
    """The server's Prometheus metrics in a few tables: requests per route and status with
    their mean duration, time to first token and tokens per model, and the gauges."""
    requests: dict[tuple[str, str], float] = {}
    durations: dict[str, list[float]] = {}
    ttft: dict[str, list[float]] = {}
    tokens: dict[tuple[str, str], float] = {}
    gauges: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "autonom_requests_total":
                requests[(labels["route"], labels["status"])] = value
            elif sample.name.startswith("autonom_request_duration_seconds_"):
                kind = sample.name.rsplit("_", 1)[1]
                if kind in ("sum", "count"):
                    pair = durations.setdefault(labels["route"], [0.0, 0.0])
                    pair[0 if kind == "sum" else 1] = value
            elif sample.name.startswith("autonom_time_to_first_token_seconds_"):
                kind = sample.name.rsplit("_", 1)[1]
                if kind in ("sum", "count"):
                    pair = ttft.setdefault(labels["model"], [0.0, 0.0])
                    pair[0 if kind == "sum" else 1] = value
            elif sample.name == "autonom_tokens_total":
                tokens[(labels["model"], labels["kind"])] = value
            elif family.type == "gauge":
                gauges[sample.name] = value
    return {
        "requests": sorted(([route, status, int(n),
                             1000 * durations[route][0] / durations[route][1]
                             if durations.get(route, [0, 0])[1] else None]
                            for (route, status), n in requests.items()),
                           key=lambda row: -row[2]),
        "ttft": sorted([model, int(count), 1000 * total / count]
                       for model, (total, count) in ttft.items() if count),
        "tokens": sorted([model, kind, int(n)] for (model, kind), n in tokens.items()),
        "gauges": sorted(gauges.items()),
    }


@router.get("/metrics", response_model=None)
async def metrics_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    return render(request, "admin_metrics.html", {
        "visitor": visitor, **metrics_overview(state(request).metrics)}, lang=visitor.lang)
