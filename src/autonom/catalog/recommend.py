"""A ranked shortlist of catalog models for a use case, a language and a machine.

Hard requirements leave a model out (with the reason): it must fit the machine, follow
instructions (base models only for code completion), speak the language, call tools for
agents, and its licence must allow the use. The rest are ranked by an effective size —
``sqrt(total × active parameters)``, so a Mixture-of-Experts model counts for more than its
active part and less than its total — scaled down when it decodes slower than the use case
needs or reads a typical prompt of the use case slower than it should, with small bonuses
for what the use case profits from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autonom.catalog import fit
from autonom.catalog.catalog import ModelFacts, license_of, load
from autonom.catalog.policy import Finding, decide
from autonom.config import PolicySettings

USE_CASES = ("chat", "rag", "code", "classify", "agent")
CONTEXT = {"chat": 8192, "rag": 16384, "code": 16384, "classify": 2048, "agent": 16384}
MIN_TOK_S = {"chat": 10.0, "rag": 10.0, "code": 15.0, "classify": 5.0, "agent": 10.0}
"""Decode speed per user below which answers feel slow for the use case."""
PROMPT_TOKENS = {"chat": 500, "rag": 2000, "code": 1000, "classify": 300, "agent": 1500}
MAX_WAIT_S = {"chat": 5.0, "rag": 10.0, "code": 5.0, "classify": 5.0, "agent": 10.0}
"""A typical prompt of the use case, and how long its first token may take."""
QUANT_PREFERENCE = ("Q8_0", "Q5_K_M", "Q4_K_M")
"""Best quality first: the first quantization that fits and is fast enough is chosen."""


@dataclass
class Candidate:
    facts: ModelFacts
    verdict: fit.Verdict
    score: float
    reasons: list[str] = field(default_factory=list)
    tradeoffs: list[str] = field(default_factory=list)

    def commands(self) -> list[str]:
        get = self.facts.get
        found = []
        if get.autonom:
            found.append(f"autonom pull {get.autonom}")
        elif get.gguf:
            found.append(f"autonom pull {get.gguf_for(self.verdict.estimate.quant)}")
        if get.ollama:
            found.append(f"ollama pull {get.ollama}")
        if not found and get.hf:
            found.append(f"weights: https://huggingface.co/{get.hf} (convert to GGUF or serve "
                         "with vLLM)")
        return found

    def to_json(self) -> dict[str, object]:
        return {"model": self.facts.id, "name": self.facts.name, "score": round(self.score, 2),
                **{k: v for k, v in self.verdict.to_json().items() if k != "model"},
                "reasons": self.reasons, "tradeoffs": self.tradeoffs,
                "commands": self.commands()}


@dataclass
class Shortlist:
    ranked: list[Candidate]
    left_out: dict[str, str]
    """model id → why it was left out"""


def effective_b(facts: ModelFacts) -> float:
    return math.sqrt(facts.params_b * facts.active_b)


def recommend(use_case: str, hw: fit.Hardware, policy: PolicySettings, lang: str | None = None,
              users: int = 1, context: int | None = None) -> Shortlist:
    context = context or CONTEXT[use_case]
    ranked: list[Candidate] = []
    left_out: dict[str, str] = {}
    for facts in load():
        why = _unsuitable(facts, use_case, lang, context)
        decision = decide(facts.id, policy)
        if why is None and decision.violations and not decision.allowed_by_agreement:
            why = "licence: " + "; ".join(f.message for f in decision.violations)
        if why is not None:
            left_out[facts.id] = why
            continue
        candidate = _place(facts, use_case, hw, context, users)
        if candidate is None:
            left_out[facts.id] = f"does not fit ({context:,} tokens × {users} slot(s))"
            continue
        _explain(candidate, use_case, lang, decision.flags)
        ranked.append(candidate)
    ranked.sort(key=lambda c: c.score, reverse=True)
    return Shortlist(ranked, left_out)


def _unsuitable(facts: ModelFacts, use_case: str, lang: str | None, context: int) -> str | None:
    if facts.kind == "base" and use_case != "code":
        return "a pretrained base model: it continues text but does not follow instructions"
    if facts.kind == "code" and use_case != "code":
        return "a code completion model"
    if lang and lang.lower() not in facts.languages:
        return f"language {lang} is not among those its card names"
    if use_case == "agent" and facts.tools != "native":
        return "no native tool calling"
    if facts.context < min(context, 8192):
        return f"context {facts.context:,} tokens is too short"
    return None


def _place(facts: ModelFacts, use_case: str, hw: fit.Hardware, context: int,
           users: int) -> Candidate | None:
    """The quantization to recommend: fast enough if any is, on the GPU if it can be, then
    the best quality."""
    fitting = []
    for quant in QUANT_PREFERENCE:
        verdict = fit.judge(facts, quant, hw, context, users)
        if verdict.fits != "no":
            fitting.append(verdict)
    if not fitting:
        return None
    tiers = {"vram": 0, "partial": 1, "ram": 2}

    def preference(v: fit.Verdict) -> tuple[bool, int, float]:
        slow = (v.decode_tok_s or 0) / max(1, users) < MIN_TOK_S[use_case]
        # fast enough first, then all on the GPU before split before RAM, then quality
        return slow, tiers[v.fits], -fit.BITS_PER_WEIGHT[v.estimate.quant]

    verdict = min(fitting, key=preference)
    speed = (verdict.decode_tok_s or 0) / max(1, users)
    score = math.log1p(effective_b(facts)) * min(1.0, speed / MIN_TOK_S[use_case]) ** 2
    wait = first_token_s(verdict, use_case)
    if wait is not None:
        score *= min(1.0, MAX_WAIT_S[use_case] / wait)
    score *= {"Q8_0": 1.0, "Q5_K_M": 0.98, "Q4_K_M": 0.95}.get(verdict.estimate.quant, 0.9)
    bonus = 1.0
    if use_case == "code" and ("code" in facts.strengths or "fim" in facts.strengths):
        bonus += 0.15
    if use_case == "rag" and "rag" in facts.strengths:
        bonus += 0.15
    if use_case == "agent" and facts.thinking == "hybrid":
        bonus += 0.1
    if use_case in ("chat", "rag", "classify", "agent") and facts.tools == "native":
        bonus += 0.05
    return Candidate(facts, verdict, score * bonus)


def first_token_s(verdict: fit.Verdict, use_case: str) -> float | None:
    """Seconds to read a typical prompt of the use case (None when compute is unknown)."""
    if not verdict.prompt_tok_s:
        return None
    return PROMPT_TOKENS[use_case] / verdict.prompt_tok_s


def _explain(c: Candidate, use_case: str, lang: str | None, flags: list[Finding]) -> None:
    f, v = c.facts, c.verdict
    where = {"vram": "fits in GPU memory", "ram": "fits in RAM",
             "partial": f"fits with {v.gpu_layers} of {f.layers} layers on the GPU"}[v.fits]
    c.reasons.append(f"{where}: {v.estimate.memory_gb:.1f} GB at {v.estimate.quant}")
    speed = v.decode_tok_s or 0
    c.reasons.append(f"≈ {speed:.0f} tokens/s decode"
                     + (f", ≈ {v.prompt_tok_s:.0f} tokens/s prompt" if v.prompt_tok_s else ""))
    size = f"{f.params_b:g}B" + (f" total, {f.active_b:g}B active (MoE)" if f.is_moe else "")
    c.reasons.append(f"size {size}")
    if lang:
        count = f" (one of {f.language_count})" if f.language_count else ""
        c.reasons.append(f"language {lang}: named on the model card{count}")
    if f.tools != "none":
        c.reasons.append(f"tool calling: {f.tools}")
    if f.thinking == "hybrid":
        c.reasons.append("thinking mode switchable (/think, /no_think)")
    licence = license_of(f)
    c.reasons.append(f"licence: {licence.name}"
                     + (" — commercial use allowed" if licence.commercial else ""))
    if speed < MIN_TOK_S[use_case]:
        c.tradeoffs.append(f"slow here: {speed:.0f} tokens/s is below the "
                           f"{MIN_TOK_S[use_case]:.0f} a {use_case} user expects")
    wait = first_token_s(v, use_case)
    if wait is not None and wait > MAX_WAIT_S[use_case]:
        c.tradeoffs.append(f"slow to start: ≈ {wait:.0f} s to read a {PROMPT_TOKENS[use_case]:,}"
                           f"-token {use_case} prompt")
    if f.context < CONTEXT[use_case]:
        c.tradeoffs.append(f"context {f.context:,} tokens")
    if "image" in f.modalities:
        c.tradeoffs.append("the estimate covers text only (vision encoder memory included in "
                           "the parameters)")
    for flag in flags:
        c.tradeoffs.append(f"check: {flag.message}")
    if not f.source.verified:
        c.tradeoffs.append("facts from the model card, not verified offline")
