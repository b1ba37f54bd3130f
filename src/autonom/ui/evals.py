"""The web UI's evaluation pages (``admin`` scope): stored eval runs, their report, and the
comparison of two runs — the same store and report code as ``autonom eval list``,
``report`` and ``compare``.

The HTML report is the self-contained file ``autonom eval report`` writes; it is served with
its own Content-Security-Policy: a sandbox without scripts, inline styles allowed.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from autonom.errors import AutonomError, InvalidRequestError
from autonom.evals import report
from autonom.store.evals import EvalStore
from autonom.ui.admin import admin_visitor, error_page
from autonom.ui.pages import render

router = APIRouter(prefix="/ui/evals", include_in_schema=False)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
MAX_SIDE_BY_SIDE = 6


@router.get("", response_model=None)
async def runs_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    runs = EvalStore(request.app.state.services.db).runs(limit=100)
    return render(request, "evals.html", {
        "visitor": visitor, "runs": runs, "cell": report.cell,
        "when": lambda t: time.strftime("%Y-%m-%d %H:%M", time.localtime(t))},
        lang=visitor.lang)


@router.get("/report", response_model=None)
async def report_page(request: Request) -> Response:
    visitor = admin_visitor(request)
    if isinstance(visitor, Response):
        return visitor
    wanted = request.query_params.getlist("run")
    try:
        if not 1 <= len(wanted) <= MAX_SIDE_BY_SIDE:
            raise InvalidRequestError(f"choose 1 to {MAX_SIDE_BY_SIDE} runs")
        store = EvalStore(request.app.state.services.db)
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
        store = EvalStore(request.app.state.services.db)
        before, after = store.load(wanted[0]), store.load(wanted[1])
    except AutonomError as exc:
        return error_page(request, visitor, exc)
    diff = report.compare(before, after)
    return render(request, "eval_compare.html", {
        "visitor": visitor, "before": before.run, "after": after.run, "diff": diff,
        "columns": report.COLUMNS, "cell": report.cell}, lang=visitor.lang)
