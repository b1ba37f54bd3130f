"""The web UI's evaluation pages (``admin`` scope): start a run of a stored set, the stored
runs, their report, and the comparison of two runs — the same code as ``autonom eval run``
(:mod:`autonom.services.evals`), ``list``, ``report`` and ``compare``.

A run started here is a background job on the server's own gateway (its limits and request
log apply); one at a time, its progress shown on the runs page.

The HTML report is the self-contained file ``autonom eval report`` writes; it is served with
its own Content-Security-Policy: a sandbox without scripts, inline styles allowed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autonom.errors import AutonomError, InvalidRequestError, http_status
from autonom.evals import report
from autonom.server.state import state
from autonom.services import evals as eval_service
from autonom.ui.admin import admin_visitor
from autonom.ui.pages import checked_form, error_page, render

LOG = logging.getLogger("autonom.ui")

router = APIRouter(prefix="/ui/evals", include_in_schema=False)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
MAX_SIDE_BY_SIDE = 6


@dataclass
class Job:
    """An eval run started from the UI."""

    id: str
    label: str
    total: int
    done: int = 0
    state: str = "running"
    """running | done | failed"""
    error: str = ""
    runs: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


def _jobs(request: Request) -> dict[str, Job]:
    jobs: dict[str, Job] = state(request).eval_jobs
    return jobs


def _runs_page(request: Request, visitor: Any, error: str = "", status: int = 200) -> Response:
    services = state(request).services
    runs = services.runs.runs(limit=100)
    models = ["extractive", *(r.name for r in services.registry.list())]
    return render(request, "evals.html", {
        "visitor": visitor, "runs": runs, "cell": report.cell, "error": error,
        "sets": eval_service.stored_sets(services), "models": models,
        "jobs": sorted(_jobs(request).values(), key=lambda j: j.id, reverse=True)},
        status=status, lang=visitor.lang)


@router.get("", response_model=None)
async def runs_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    return _runs_page(request, visitor)


@router.post("/run", response_model=None)
async def start_run(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    form = await checked_form(request, visitor, max_fields=50)
    if isinstance(form, Response):
        return form
    models = form.getlist("model")
    jobs = _jobs(request)
    services = state(request).services
    try:
        if any(job.state == "running" for job in jobs.values()):
            raise InvalidRequestError("an eval run is already running; wait for it to finish")
        path = eval_service.stored_set_path(services, form.get("set", ""))
        tags = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
        plan = await asyncio.to_thread(
            eval_service.prepare, services, path, models,
            answer_mode=form.get("answer_mode", "read"), tags=tags)  # type: ignore[arg-type]
    except AutonomError as exc:
        return _runs_page(request, visitor, error=str(exc), status=http_status(exc))
    job = Job("job_" + secrets.token_hex(4), f"{plan.eval_set.name}: {', '.join(models)}",
              plan.total)

    def advance() -> None:
        job.done += 1

    async def work() -> None:
        try:
            runs = await eval_service.execute(services, state(request).gateway, plan,
                                               advance)
            job.runs, job.state = [r.run.id for r in runs], "done"
        except Exception as exc:  # a failed job is shown, never raised into the server
            LOG.exception("eval run %s failed", job.id)
            job.state, job.error = "failed", str(exc)

    job.task = asyncio.create_task(work())
    jobs[job.id] = job
    return RedirectResponse("/ui/evals", status_code=303)


@router.get("/report", response_model=None)
async def report_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    wanted = request.query_params.getlist("run")
    try:
        if not 1 <= len(wanted) <= MAX_SIDE_BY_SIDE:
            raise InvalidRequestError(f"choose 1 to {MAX_SIDE_BY_SIDE} runs")
        store = state(request).services.runs
        runs = [store.load(ref) for ref in wanted]
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    return HTMLResponse(report.html(runs), headers={"content-security-policy": REPORT_CSP})


@router.get("/compare", response_model=None)
async def compare_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    wanted = request.query_params.getlist("run")
    try:
        if len(wanted) != 2:
            raise InvalidRequestError("choose exactly two runs to compare")
        store = state(request).services.runs
        before, after = store.load(wanted[0]), store.load(wanted[1])
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    diff = report.compare(before, after)
    return render(request, "eval_compare.html", {
        "visitor": visitor, "before": before.run, "after": after.run, "diff": diff,
        "columns": report.COLUMNS, "cell": report.cell}, lang=visitor.lang)
