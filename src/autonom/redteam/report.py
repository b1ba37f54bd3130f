"""Attack success rates per OWASP LLM Top 10 (2025) category, with 95 % confidence
intervals (Wilson), as a summary for the eval store, JSON and one self-contained HTML page."""

from __future__ import annotations

import math
import time
from html import escape
from typing import Any

from autonom.redteam.attacks import CATEGORIES
from autonom.redteam.runner import Attempt
from autonom.store.evals import ResultRow


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate (0, 0 for no attempts)."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(attempts: list[Attempt]) -> dict[str, Any]:
    ran = [a for a in attempts if a.succeeded is not None]
    summary: dict[str, Any] = {"attempts": len(ran),
                               "skipped": len(attempts) - len(ran),
                               "successes": sum(bool(a.succeeded) for a in ran)}
    summary.update(_rate(summary["successes"], len(ran)))
    categories = {}
    for code, name in CATEGORIES.items():
        mine = [a for a in ran if a.attack.category == code]
        if mine:
            hits = sum(bool(a.succeeded) for a in mine)
            categories[code] = {"name": name, "attempts": len(mine), "successes": hits,
                                **_rate(hits, len(mine))}
            summary[f"asr_{code.lower()}"] = categories[code]["asr"]
    summary["categories"] = categories
    return summary


def _rate(hits: int, n: int) -> dict[str, Any]:
    low, high = wilson(hits, n)
    return {"asr": hits / n if n else None, "ci95": [round(low, 4), round(high, 4)]}


def rows(attempts: list[Attempt]) -> list[ResultRow]:
    """One stored row per attempt: ``correct`` means the attack was defended."""
    return [ResultRow(
        case_id=a.attack.id, round=1, correct=a.succeeded is False, hallucinated=False,
        abstained=a.succeeded is None, citation_ok=None, schema_ok=None,
        error=None if a.status is None or a.status < 400 else f"HTTP {a.status}",
        ttft_ms=None, total_ms=a.ms, output_tokens=0, answer=a.evidence,
        detail={"category": a.attack.category, "technique": a.attack.technique,
                "source": a.attack.source, "succeeded": a.succeeded, "status": a.status,
                "reason": a.reason, "request": a.request}) for a in attempts]


def to_json(summary: dict[str, Any], attempts: list[Attempt], target: str) -> dict[str, Any]:
    return {"target": target, "created_at": time.time(), "summary": summary,
            "attempts": [{"id": a.attack.id, "category": a.attack.category,
                          "technique": a.attack.technique, "source": a.attack.source,
                          "succeeded": a.succeeded, "status": a.status, "reason": a.reason,
                          "evidence": a.evidence, "request": a.request, "ms": round(a.ms, 1)}
                         for a in attempts]}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def html(summary: dict[str, Any], attempts: list[Attempt], target: str) -> str:
    rows_html = "".join(
        f"<tr><td>{code}</td><td>{escape(c['name'])}</td><td>{c['attempts']}</td>"
        f"<td>{c['successes']}</td><td>{_pct(c['asr'])}</td>"
        f"<td>{_pct(c['ci95'][0])} – {_pct(c['ci95'][1])}</td></tr>"
        for code, c in summary["categories"].items())
    detail = "".join(
        f"<tr class='{'hit' if a.succeeded else 'skip' if a.succeeded is None else 'ok'}'>"
        f"<td>{escape(a.attack.id)}</td><td>{a.attack.category}</td>"
        f"<td>{escape(a.attack.technique)}</td><td>{escape(a.attack.source)}</td>"
        f"<td>{'succeeded' if a.succeeded else 'skipped' if a.succeeded is None else 'defended'}"
        f"</td><td>{a.status or '–'}</td><td>{escape(a.reason)}</td>"
        f"<td><pre>{escape(a.evidence)}</pre></td></tr>" for a in attempts)
    return f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<title>autonom redteam – {escape(target)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top;text-align:left}}pre{{white-space:pre-wrap;max-width:40rem;margin:0}}
tr.hit{{background:#fde2e2}}tr.ok{{background:#e6f4ea}}tr.skip{{color:#888}}
</style></head><body>
<h1>Red-team report</h1>
<p>Target <code>{escape(target)}</code>: {summary['attempts']} attempts
({summary['skipped']} skipped), {summary['successes']} succeeded —
attack success rate <b>{_pct(summary['asr'])}</b>
(95 % CI {_pct(summary['ci95'][0])} – {_pct(summary['ci95'][1])}).</p>
<table><tr><th>OWASP</th><th>category</th><th>attempts</th><th>succeeded</th><th>ASR</th>
<th>95 % CI</th></tr>{rows_html}</table>
<h2>Attempts</h2>
<table><tr><th>attack</th><th>OWASP</th><th>technique</th><th>source</th><th>result</th>
<th>status</th><th>why</th><th>answer</th></tr>{detail}</table>
</body></html>
"""
