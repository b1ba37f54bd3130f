"""The evaluation gate: a tuned version replaces the serving one only if it is not worse.

Both are measured on the same eval cases in the same run. The default policy refuses a
candidate whose accuracy is lower on any tag (closed-book, from documents, unseen facts,
new wordings, the company's own tags …), whose hallucinations per 1000 answers are higher,
or whose abstention recall (questions the documents do not answer) is lower. ``tolerance``
allows a drop of that many points of accuracy or recall per tag (for small, noisy sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GatePolicy:
    tolerance: float = 0.0
    """Accuracy and abstention recall may drop by at most this share (0.02 = 2 points)."""


def refusals(candidate: dict[str, Any], production: dict[str, Any],
             policy: GatePolicy = GatePolicy()) -> list[str]:
    """Why the candidate may not replace production (empty: it passes)."""
    out = []
    for tag, theirs in sorted((production.get("by_tag") or {}).items()):
        mine = (candidate.get("by_tag") or {}).get(tag) or {}
        out += _not_lower(f"accuracy on {tag}", mine.get("accuracy"), theirs.get("accuracy"),
                          policy.tolerance)
    out += _not_lower("accuracy", candidate.get("accuracy"), production.get("accuracy"),
                      policy.tolerance)
    out += _not_lower("abstention recall", candidate.get("abstention_recall"),
                      production.get("abstention_recall"), policy.tolerance)
    mine, theirs = (candidate.get("hallucinations_per_1000"),
                    production.get("hallucinations_per_1000"))
    if theirs is not None and (mine is None or mine > theirs):
        out.append(f"hallucinations per 1000 answers {_n(mine)} > {_n(theirs)}")
    return out


def _not_lower(what: str, mine: float | None, theirs: float | None,
               tolerance: float) -> list[str]:
    if theirs is None:
        return []
    if mine is None:
        return [f"{what}: not measured for the candidate"]
    if mine < theirs - tolerance - 1e-9:
        return [f"{what} {mine:.1%} < {theirs:.1%}"]
    return []


def _n(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.0f}"
