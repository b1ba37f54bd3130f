"""Scoring one answer: right or wrong, abstained, hallucinated, cited correctly, valid JSON.

Hallucinations are counted by rules, without a model:

* **answered the unanswerable** — the case must be abstained from, and the answer was not an
  abstention;
* **unsupported numbers** — a number in the answer occurs nowhere in its evidence. Evidence is
  the cited quotes for answers from documents; for other cases it is the case's ``reference``,
  its expected facts and the messages sent (a number from the question may be repeated);
* **unsupported codes** — the same for identifiers mixing letters and digits (``KP-55``,
  ``DN50``), the names most often invented for products and parts;
* **fabricated quote** — a citation whose quote does not occur in the cited document.

An optional judge model (:mod:`autonom.evals.judge`) can add claims the rules cannot see.
Rules are strict on purpose: a number the model adds from general knowledge counts, because
the user cannot tell it from an invented one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import jsonschema

from autonom.evals import facts
from autonom.evals.dataset import EvalCase
from autonom.knowledge.evidence import unsupported_numbers
from autonom.types import Citation

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)

DocumentText = Callable[[str, str], str | None]
"""(collection, source) → the document's text, or None when there is no such document."""


@dataclass
class Outcome:
    """What came back for one case."""

    text: str = ""
    abstained: bool | None = None
    """Set by answers from documents; None: decided from the wording."""
    citations: list[Citation] = field(default_factory=list)
    error: str | None = None
    """The error's kind (its class name) when the request failed."""
    error_message: str | None = None
    ttft_s: float | None = None
    total_s: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0
    whole: bool = False
    """The answer arrived in one piece (documents, tools): its first token is its last."""
    mode: str | None = None
    """For answers from documents: generate, extractive (also a replaced generated answer)
    or abstained."""


Judge = Callable[[EvalCase, Outcome], Awaitable[list[str]]]
"""A second opinion on an answer: the problems a judge model finds (none: fine)."""


@dataclass
class Score:
    correct: bool
    abstained: bool
    hallucinated: bool
    reasons: list[str] = field(default_factory=list)
    citation_ok: bool | None = None
    """None when the case names no expected document or must be abstained from."""
    schema_ok: bool | None = None
    """None when the case has no schema."""


def score(case: EvalCase, outcome: Outcome, documents: DocumentText | None = None) -> Score:
    if outcome.error is not None:
        return Score(correct=False, abstained=False, hallucinated=False,
                     reasons=[f"error: {outcome.error}"],
                     citation_ok=False if _wants_citation(case) else None,
                     schema_ok=False if case.json_schema is not None else None)
    text = outcome.text
    abstained = (outcome.abstained if outcome.abstained is not None
                 else facts.is_abstention(text))
    reasons = unsupported(case, outcome, abstained, documents)
    schema_ok = None if case.json_schema is None else schema_valid(text, case.json_schema)
    if case.must_abstain:
        correct = abstained
    else:
        correct = (not abstained
                   and (not case.expected or facts.any_fact(text, case.expected))
                   and schema_ok is not False)
    citation_ok = None
    if _wants_citation(case):
        citation_ok = (not abstained and any(c.source in case.expected_sources
                                             for c in outcome.citations)
                       and not any(r.startswith("fabricated quote") for r in reasons))
    return Score(correct=correct, abstained=abstained, hallucinated=bool(reasons),
                 reasons=reasons, citation_ok=citation_ok, schema_ok=schema_ok)


def unsupported(case: EvalCase, outcome: Outcome, abstained: bool,
                documents: DocumentText | None) -> list[str]:
    """Why the answer states something its evidence does not; empty when it does not."""
    if abstained:
        return []
    if case.must_abstain:
        return ["answered although the right answer is an abstention"]
    reasons = []
    for citation in outcome.citations:
        if case.collection and documents is not None and not quote_in(
                citation, documents(case.collection, citation.source)):
            reasons.append(f"fabricated quote from {citation.source}")
    backing = evidence_texts(case, outcome)
    if bad := unsupported_numbers(outcome.text, backing):
        reasons.append(f"unsupported numbers: {', '.join(dict.fromkeys(bad))}")
    known_codes = {c for text in backing for c in codes(text)}
    if bad := [c for c in codes(outcome.text) if c not in known_codes]:
        reasons.append(f"unsupported codes: {', '.join(dict.fromkeys(bad))}")
    return reasons


def evidence_texts(case: EvalCase, outcome: Outcome) -> list[str]:
    """What may back the answer's facts."""
    if case.collection:
        return [c.quote for c in outcome.citations] + [case.prompt]
    texts = [m.content for m in case.chat()]
    texts += [f.text for f in case.expected if f.text]
    if case.reference:
        texts.append(case.reference)
    if case.json_schema is not None:
        texts.append(json.dumps(case.json_schema, ensure_ascii=False))
    return texts


def codes(text: str) -> list[str]:
    """Identifiers mixing letters and digits, upper-cased: ``kp-55`` → ``KP-55``."""
    words = (m.group() for m in _WORD.finditer(text))
    return [w.upper() for w in words if w[0].isalpha() and any(ch.isdigit() for ch in w)]


def quote_in(citation: Citation, text: str | None) -> bool:
    if text is None:
        return False
    return " ".join(citation.quote.split()) in " ".join(text.split())


def schema_valid(text: str, schema: dict) -> bool:
    """Whether the answer parses as JSON (a ``` fence around it is allowed) and validates."""
    match = _FENCE.match(text)
    try:
        value = json.loads(match.group(1) if match else text)
        jsonschema.validate(value, schema)
    except (ValueError, jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return True


def _wants_citation(case: EvalCase) -> bool:
    return bool(case.collection and case.expected_sources and not case.must_abstain)
