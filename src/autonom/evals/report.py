"""Eval results for people and programs: a terminal table, JSON, one self-contained HTML
page with charts, and case-by-case comparisons of two runs."""

from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path
from typing import Any

from autonom.evals import charts
from autonom.store.evals import RunData

COLUMNS = (  # (summary key, heading, format)
    ("accuracy", "accuracy", "pct"),
    ("citation_accuracy", "citations", "pct"),
    ("hallucinations_per_1000", "halluc./1000", "num"),
    ("abstention_precision", "abst. prec.", "pct"),
    ("abstention_recall", "abst. recall", "pct"),
    ("schema_validity", "valid JSON", "pct"),
    ("ttft_p50_ms", "TTFT p50 ms", "num"),
    ("ttft_p95_ms", "TTFT p95 ms", "num"),
    ("total_p50_ms", "total p50 ms", "num"),
    ("total_p95_ms", "total p95 ms", "num"),
    ("output_tok_s", "tok/s", "num"),
    ("error_rate", "errors", "pct"),
)


def cell(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.0f} %"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def summary_rows(runs: list[RunData]) -> tuple[list[str], list[list[str]]]:
    headers = ["RUN", "MODEL", "ANSWERS", *(h.upper() for _, h, _ in COLUMNS)]
    rows = [[d.run.id, d.run.label, str(d.run.summary.get("answers", 0)),
             *(cell(d.run.summary.get(key), kind) for key, _, kind in COLUMNS)]
            for d in runs]
    return headers, rows


def to_json(runs: list[RunData]) -> dict[str, Any]:
    return {"runs": [{
        "id": d.run.id, "kind": d.run.kind, "label": d.run.label, "dataset": d.run.dataset,
        "batch": d.run.batch, "created_at": d.run.created_at, "settings": d.run.settings,
        "summary": d.run.summary,
        "results": [{
            "case_id": r.case_id, "round": r.round, "correct": r.correct,
            "hallucinated": r.hallucinated, "abstained": r.abstained,
            "citation_ok": r.citation_ok, "schema_ok": r.schema_ok, "error": r.error,
            "ttft_ms": r.ttft_ms, "total_ms": r.total_ms, "output_tokens": r.output_tokens,
            "answer": r.answer, **r.detail} for r in d.results],
    } for d in runs]}


def write(runs: list[RunData], directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    json_path.write_text(json.dumps(to_json(runs), ensure_ascii=False, indent=1),
                         encoding="utf-8")
    html_path.write_text(html(runs), encoding="utf-8")
    return json_path, html_path


# -- comparison -----------------------------------------------------------------------------

def compare(before: RunData, after: RunData) -> dict[str, Any]:
    """Metric differences and the cases whose outcome changed (first repeat of each)."""
    metrics = {}
    for key, _, _ in COLUMNS:
        a, b = before.run.summary.get(key), after.run.summary.get(key)
        metrics[key] = {"before": a, "after": b,
                        "change": None if a is None or b is None else b - a}
    old = {r.case_id: r for r in before.results if r.round == 0}
    new = {r.case_id: r for r in after.results if r.round == 0}
    changes = []
    for case_id in [c for c in new if c in old]:
        a, b = old[case_id], new[case_id]
        what = []
        if a.correct != b.correct:
            what.append("now right" if b.correct else "now wrong")
        if a.hallucinated != b.hallucinated:
            what.append("now hallucinates" if b.hallucinated else "no longer hallucinates")
        if a.abstained != b.abstained:
            what.append("now abstains" if b.abstained else "no longer abstains")
        if a.error != b.error:
            what.append(f"error {a.error or 'none'} → {b.error or 'none'}")
        if what:
            changes.append({"case_id": case_id, "changes": what,
                            "before": a.answer, "after": b.answer})
    only = {"only_before": sorted(set(old) - set(new)), "only_after": sorted(set(new) - set(old))}
    return {"before": before.run.id, "after": after.run.id, "metrics": metrics,
            "cases": changes, **only}


# -- HTML -----------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ddd;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
td.ok{color:#2a7a3b}td.bad{color:#b5443c;font-weight:bold}.small{color:#666;font-size:12px}
figure{margin:1.5em 0}"""


def html(runs: list[RunData]) -> str:
    dataset = runs[0].run.dataset if runs else ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(runs[0].run.created_at)) if runs \
        else ""
    labels = [f"{d.run.label} ({d.run.id})" for d in runs]
    headers, rows = summary_rows(runs)
    body = [f"<h1>Evaluation: {escape(dataset)}</h1>",
            f'<p class="small">{escape(when)} · {len(runs)} configuration(s) · settings: '
            f"{escape(json.dumps(runs[0].run.settings, ensure_ascii=False)) if runs else ''}"
            "</p>",
            "<h2>Summary</h2>", _table(headers, rows), _definitions(), "<h2>Charts</h2>"]
    body.append(_figure(charts.bars(
        "Accuracy per configuration (%)", ["accuracy", "citations", "abstention recall"],
        {label: [_pct(d.run.summary.get(k)) for k in
                 ("accuracy", "citation_accuracy", "abstention_recall")]
         for label, d in zip(labels, runs, strict=True)}, top=100)))
    body.append(_figure(charts.bars(
        "Hallucinations per 1000 answers", ["hallucinations per 1000"],
        {label: [d.run.summary.get("hallucinations_per_1000")]
         for label, d in zip(labels, runs, strict=True)})))
    tags = sorted({t for d in runs for t in d.run.summary.get("by_tag", {})})
    if tags:
        body.append(_figure(charts.bars(
            "Accuracy per tag (%)", tags,
            {label: [_pct(d.run.summary.get("by_tag", {}).get(t, {}).get("accuracy"))
                     for t in tags] for label, d in zip(labels, runs, strict=True)},
            top=100)))
        body.append(_figure(charts.bars(
            "Hallucinations per 1000 answers per tag", tags,
            {label: [d.run.summary.get("by_tag", {}).get(t, {}).get("hallucinations_per_1000")
                     for t in tags] for label, d in zip(labels, runs, strict=True)})))
    body.append(_figure(charts.boxes("Total time per answer", {
        label: [r.total_ms for r in d.results if r.error is None]
        for label, d in zip(labels, runs, strict=True)})))
    body += ["<h2>Cases</h2>", _cases(runs)]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>autonom eval – {escape(dataset)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _definitions() -> str:
    return ('<p class="small">accuracy: answerable cases with an expected fact in the answer; '
            "citations: answers citing an expected document with quotes found in it; "
            "hallucinations: answers stating numbers or codes not in their evidence, quoting "
            "what the document does not say, or answering where the right answer is an "
            "abstention; abstention precision/recall: over abstentions / over cases that must "
            "be abstained from; TTFT: time to first token.</p>")


def _cases(runs: list[RunData]) -> str:
    case_ids = list(dict.fromkeys(r.case_id for d in runs for r in d.results if r.round == 0))
    by_run = [{r.case_id: r for r in d.results if r.round == 0} for d in runs]
    head = "<tr><th>case</th>" + "".join(
        f"<th>{escape(d.run.label)}</th>" for d in runs) + "</tr>"
    rows = []
    for case_id in case_ids:
        cells = []
        for results in by_run:
            r = results.get(case_id)
            if r is None:
                cells.append("<td>–</td>")
                continue
            verdict = "right" if r.correct else ("error" if r.error else "wrong")
            flags = " · hallucinated" if r.hallucinated else ""
            reasons = "; ".join(r.detail.get("reasons", []))
            css = "ok" if r.correct and not r.hallucinated else "bad"
            cells.append(f'<td class="{css}">{verdict}{flags}<br><span class="small">'
                         f"{escape(r.answer[:300])}</span>"
                         + (f'<br><span class="small">{escape(reasons)}</span>'
                            if reasons else "") + "</td>")
        rows.append(f"<tr><td>{escape(case_id)}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"
