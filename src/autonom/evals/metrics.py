"""Summaries of eval runs, and gates over them.

Definitions (each answer of each repeat counts once):

* ``accuracy`` — answerable cases answered with an expected fact (and valid JSON where a
  schema is given), over all answerable cases; failed requests count as wrong;
* ``citation_accuracy`` — answers from documents that cite an expected document with quotes
  that occur in it, over cases that name an expected document;
* ``hallucinations_per_1000`` — answers with a rule- or judge-found unsupported statement
  (including answers to questions that must be abstained from), per 1000 answers received;
* ``abstention_precision`` — abstentions where abstaining was right, over all abstentions;
  ``abstention_recall`` — abstentions over the cases that must be abstained from;
* ``schema_validity`` — answers that parse and validate, over cases with a schema;
* latency: time to first token and total time, p50/p95 in milliseconds; ``output_tok_s`` —
  output tokens over generation time (after the first token for streamed answers, the
  whole time for answers that arrive in one piece), over the answers that report tokens;
* ``error_rate`` — failed requests over all requests, with a count per error kind.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from autonom.errors import InvalidRequestError
from autonom.evals.checks import Outcome, Score


@dataclass
class CaseResult:
    case_id: str
    round: int
    tags: tuple[str, ...]
    must_abstain: bool
    outcome: Outcome
    score: Score


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    answered = [r for r in results if r.outcome.error is None]
    answerable = [r for r in results if not r.must_abstain]
    abstained = [r for r in answered if r.score.abstained]
    unanswerable = [r for r in results if r.must_abstain]
    cited = [r for r in results if r.score.citation_ok is not None]
    schemas = [r for r in results if r.score.schema_ok is not None]
    ttft = [r.outcome.ttft_s * 1000 for r in answered if r.outcome.ttft_s is not None]
    total = [r.outcome.total_s * 1000 for r in answered]
    with_tokens = [r for r in answered if r.outcome.output_tokens > 0]
    seconds = sum(r.outcome.total_s - (r.outcome.ttft_s or 0) * (not r.outcome.whole)
                  for r in with_tokens)
    hallucinated = sum(r.score.hallucinated for r in answered)
    return {
        "requests": len(results),
        "answers": len(answered),
        "accuracy": _share(sum(r.score.correct for r in answerable), len(answerable)),
        "citation_accuracy": _share(sum(bool(r.score.citation_ok) for r in cited), len(cited)),
        "hallucinations": hallucinated,
        "hallucinations_per_1000": (1000 * hallucinated / len(answered)) if answered else None,
        "abstention_precision": _share(sum(r.must_abstain for r in abstained), len(abstained)),
        "abstention_recall": _share(sum(r.score.abstained for r in unanswerable),
                                    len(unanswerable)),
        "schema_validity": _share(sum(bool(r.score.schema_ok) for r in schemas), len(schemas)),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p95_ms": percentile(ttft, 95),
        "total_p50_ms": percentile(total, 50),
        "total_p95_ms": percentile(total, 95),
        "output_tok_s": (sum(r.outcome.output_tokens for r in with_tokens) / seconds
                         if seconds > 0 else None),
        "output_tokens": sum(r.outcome.output_tokens for r in answered),
        "busy_s": sum(r.outcome.total_s for r in answered),
        "error_rate": _share(len(results) - len(answered), len(results)),
        "errors": dict(Counter(r.outcome.error for r in results if r.outcome.error)),
    }


def by_tag(results: list[CaseResult]) -> dict[str, dict[str, Any]]:
    tags = sorted({t for r in results for t in r.tags})
    out = {}
    for tag in tags:
        subset = [r for r in results if tag in r.tags]
        summary = summarize(subset)
        out[tag] = {k: summary[k] for k in ("requests", "accuracy", "hallucinations_per_1000",
                                            "abstention_recall", "citation_accuracy")}
    return out


# -- gates ----------------------------------------------------------------------------------

GATE_METRICS = ("accuracy", "citation_accuracy", "hallucinations_per_1000",
                "abstention_precision", "abstention_recall", "schema_validity",
                "ttft_p50_ms", "ttft_p95_ms", "total_p50_ms", "total_p95_ms",
                "output_tok_s", "error_rate")
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_CONDITION = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_gate(text: str, known: tuple[str, ...] | None = None) -> list[Condition]:
    """``"accuracy<0.9,hallucinations_per_1000>50"``: conditions under which to fail;
    ``known`` are the metrics that may be named (default: the eval metrics)."""
    known = known or GATE_METRICS
    conditions = []
    for part in filter(str.strip, text.split(",")):
        match = _CONDITION.match(part)
        if not match:
            raise InvalidRequestError(
                f"invalid condition {part.strip()!r}: write METRIC<VALUE or METRIC>VALUE, "
                "e.g. accuracy<0.9")
        if match[1] not in known:
            raise InvalidRequestError(f"unknown metric {match[1]!r} in condition; known: "
                                      f"{', '.join(known)}")
        conditions.append(Condition(match[1], match[2], float(match[3])))
    if not conditions:
        raise InvalidRequestError("empty --fail-if")
    return conditions


def failures(summary: dict[str, Any], conditions: list[Condition]) -> list[str]:
    """The conditions that hold (so the gate fails), each with the measured value; a metric
    that was not measured fails too, since it cannot be shown to pass."""
    out = []
    for condition in conditions:
        value = summary.get(condition.metric)
        if value is None:
            out.append(f"{condition}: not measured in this run")
        elif _OPS[condition.op](value, condition.value):
            out.append(f"{condition}: measured {value:.4g}")
    return out
