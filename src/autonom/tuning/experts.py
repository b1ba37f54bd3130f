"""Domain experts: one model per domain (usually the version ``autonom tune`` made for that
domain's collection) and a gate that sends each question to the best one.

The gate compares the question's embedding (the knowledge embedder's, so it also
understands an English question about German documents) with the passages of each domain's
collection, as search does: a domain's score is the similarity of its ``neighbours`` closest
passages, and a softmax with a temperature fitted on the domains' training questions turns
the scores into probabilities. The passages come from the collections' current search
indexes, so a re-ingested collection routes by its new text at once.

Measured on hand-written questions of three company corpora (``benchmarks/experts.py``),
this routed 92 % right; a gate fitted on the embeddings of the training questions alone
(nearest questions, or a logistic regression) routed 77 %: the training questions are
templated from the documents, people's questions are not, and the embedder was trained to
match questions to passages.

A question the gate is not sure about (top probability below ``min_confidence``) goes to
the set's fallback model.

With ``top = 2`` (tuned models of one base model only, answering without documents) the two
likeliest experts answer together, as a mixture-of-experts layer does: their LoRA adapters
are applied at once, each scaled by its share of the two probabilities. All the set's
adapters sit in one engine instance on one copy of the base model, and each request sets
their scales, so any blend answers without a load. The fallback then answers only when the
two together are below ``min_confidence``; a second expert below ``MIN_SHARE`` is left out.

An expert set is stored as ``HOME/tuning/experts/NAME.json`` and used as the model name
``experts:NAME`` (HTTP API, ``autonom run``). With ``documents = true`` the chosen domain's
collection answers (``rag:COLLECTION@MODEL``): the gate picks the collection and its expert
words the answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autonom.errors import AutonomError, InvalidRequestError, NotFoundError

log = logging.getLogger(__name__)

PREFIX = "experts:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_CONFIDENCE = 0.5
MIN_SHARE = 0.05
"""With top-2: the least weight the second expert gets, below it the first answers alone."""
NEIGHBOURS = 1
MAX_CALIBRATION = 300
"""Training questions per domain the temperature is fitted on (spread over the list)."""
TEMPERATURES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2)

Embed = Callable[[list[str]], np.ndarray]
Passages = dict[str, np.ndarray | None]


@dataclass
class Domain:
    name: str
    """The domain, usually a collection's name."""
    model: str
    """The model that answers its questions (a tuned version, or any model)."""
    collection: str | None = None


@dataclass
class ExpertSet:
    name: str
    domains: list[Domain]
    embedder: str
    temperature: float
    fallback: str
    documents: bool = False
    neighbours: int = NEIGHBOURS
    min_confidence: float = MIN_CONFIDENCE
    top: int = 1
    """Experts that answer each question: 1, or 2 mixed by their probabilities."""
    fitted_on: dict[str, int] = field(default_factory=dict)
    """Training questions per domain the temperature was fitted on."""
    accuracy: float | None = None
    """Share of held-out questions the gate sent to their own domain, when measured."""
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExpertSet:
        data = dict(data)
        data["domains"] = [Domain(**d) for d in data["domains"]]
        return cls(**data)

    def probabilities(self, vectors: np.ndarray, passages: Passages) -> np.ndarray:
        """Per question (row) the probability of each domain, in ``domains`` order."""
        scores = domain_scores(np.atleast_2d(vectors),
                               [passages[d.name] for d in self.domains], self.neighbours)
        return _softmax(scores / self.temperature)


@dataclass(frozen=True)
class Routing:
    expert_set: str
    domain: str | None
    """None: the gate was not sure, the fallback answers."""
    confidence: float
    target: str
    """The model id the request goes to: a model, or ``rag:COLLECTION@MODEL``."""
    scores: dict[str, float]
    mix: dict[str, float] = field(default_factory=dict)
    """With top-2: every expert model of the set and its weight (0 for those not chosen);
    empty when one model answers alone."""
    shares: dict[str, float] = field(default_factory=dict)
    """With top-2: the chosen domains and their weights."""

    @property
    def label(self) -> str:
        """For the request log: which expert answered, and how sure the gate was."""
        if self.domain is not None and len(self.shares) > 1:
            return f"{PREFIX}{self.expert_set}/" + "+".join(self.shares) + " (" + \
                "/".join(f"{w:.2f}" for w in self.shares.values()) + ")"
        where = self.domain or "fallback"
        return f"{PREFIX}{self.expert_set}/{where} ({self.confidence:.2f})"


def check_top(top: int, documents: bool) -> int:
    if top not in (1, 2):
        raise InvalidRequestError(f"top must be 1 or 2 experts per question, not {top}")
    if top == 2 and documents:
        raise InvalidRequestError("top-2 mixing answers without documents: with documents "
                                  "the gate picks one collection")
    return top


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidRequestError(f"expert set name {name!r}: use letters, digits, . _ - "
                                  "(at most 64)")
    return name


def is_experts(model: str) -> bool:
    return model.startswith(PREFIX)


def set_name(model: str) -> str:
    return check_name(model[len(PREFIX):])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def domain_scores(vectors: np.ndarray, passages: list[np.ndarray | None],
                  neighbours: int) -> np.ndarray:
    """Per question and domain: the mean similarity of the domain's closest passages."""
    scores = np.full((vectors.shape[0], len(passages)), -1.0, dtype=np.float32)
    for c, matrix in enumerate(passages):
        if matrix is not None and len(matrix):
            k = min(neighbours, len(matrix))
            scores[:, c] = np.sort(vectors @ matrix.T, axis=1)[:, -k:].mean(axis=1)
    return scores


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that gives the true domains the highest likelihood."""
    best, best_loss = TEMPERATURES[0], float("inf")
    for temperature in TEMPERATURES:
        p = _softmax(scores / temperature)
        loss = -float(np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-9)))
        if loss < best_loss:
            best, best_loss = temperature, loss
    return best


def build(name: str, questions: dict[str, list[str]], models: dict[str, str],
          passages: Passages, embed: Embed, embedder: str, fallback: str,
          documents: bool = False, collections: dict[str, str] | None = None,
          heldout: dict[str, list[str]] | None = None, top: int = 1) -> ExpertSet:
    """Fit the gate's temperature on each domain's training questions; measure it on
    ``heldout`` questions when given."""
    check_name(name)
    check_top(top, documents)
    domains = sorted(questions)
    if len(domains) < 2:
        raise InvalidRequestError("an expert set needs at least two domains")
    empty = [d for d in domains if not questions[d] or passages.get(d) is None]
    if empty:
        raise InvalidRequestError(f"domain {empty[0]!r} has no searchable passages or no "
                                  "training questions (ingest its documents with the "
                                  "embedder on)")
    sample = {d: spread(questions[d], MAX_CALIBRATION) for d in domains}
    texts = [q for d in domains for q in sample[d]]
    labels = np.array([i for i, d in enumerate(domains) for _ in sample[d]])
    scores = domain_scores(np.asarray(embed(texts), dtype=np.float32),
                           [passages[d] for d in domains], NEIGHBOURS)
    expert_set = ExpertSet(
        name=name, embedder=embedder, fallback=fallback,
        temperature=fit_temperature(scores, labels),
        domains=[Domain(d, models[d], (collections or {}).get(d)) for d in domains],
        documents=documents, top=top, fitted_on={d: len(sample[d]) for d in domains})
    if heldout:
        expert_set.accuracy = gate_accuracy(expert_set, heldout, embed, passages)
    return expert_set


def spread(items: list[str], limit: int) -> list[str]:
    """At most ``limit`` items, taken evenly across the list."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def gate_accuracy(expert_set: ExpertSet, heldout: dict[str, list[str]], embed: Embed,
                  passages: Passages) -> float:
    """Share of questions the gate sends to the domain they belong to (top-1)."""
    names = [d.name for d in expert_set.domains]
    texts = [q for d in names for q in heldout.get(d, [])]
    if not texts:
        return 0.0
    truth = [d for d in names for _ in heldout.get(d, [])]
    chosen = expert_set.probabilities(embed(texts), passages).argmax(axis=1)
    return float(np.mean([names[i] == t for i, t in zip(chosen, truth, strict=True)]))


def route(expert_set: ExpertSet, question: str, embed: Embed, passages: Passages) -> Routing:
    """The expert for one question (top-1, or the two likeliest mixed with ``top = 2``), or
    the fallback when the gate is unsure."""
    if not question.strip():
        raise InvalidRequestError(f"model {PREFIX}{expert_set.name} needs a question to "
                                  "choose an expert")
    p = expert_set.probabilities(embed([question]), passages)[0]
    order = [int(i) for i in np.argsort(-p, kind="stable")]
    best = order[0]
    scores = {d.name: round(float(s), 4) for d, s in zip(expert_set.domains, p, strict=True)}
    domain = expert_set.domains[best]
    if expert_set.top == 2:
        return _mixed(expert_set, p, order[:2], scores)
    if float(p[best]) < expert_set.min_confidence:
        return Routing(expert_set.name, None, float(p[best]), expert_set.fallback, scores)
    target = domain.model
    if expert_set.documents:
        target = f"rag:{domain.collection or domain.name}@{domain.model}"
    return Routing(expert_set.name, domain.name, float(p[best]), target, scores)


def _mixed(expert_set: ExpertSet, p: np.ndarray, chosen: list[int],
           scores: dict[str, float]) -> Routing:
    """The two likeliest experts, weighted by their share of the two probabilities."""
    together = float(p[chosen].sum())
    if together < expert_set.min_confidence:
        return Routing(expert_set.name, None, together, expert_set.fallback, scores)
    shares = {expert_set.domains[i].name: float(p[i]) / together for i in chosen}
    shares = {d: w for d, w in shares.items() if w >= MIN_SHARE}
    total = sum(shares.values())
    shares = {d: round(w / total, 4) for d, w in shares.items()}
    mix = {d.model: 0.0 for d in expert_set.domains}
    models = {d.name: d.model for d in expert_set.domains}
    for name, weight in shares.items():
        mix[models[name]] += weight
    first = expert_set.domains[chosen[0]]
    return Routing(expert_set.name, first.name, together, first.model, scores, mix, shares)


def query_embedder(embedder: Any) -> Embed:
    """Questions as the knowledge embedder embeds queries, one row each."""
    def embed(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.vstack([embedder.embed_query(t) for t in texts])
    return embed


def collection_passages(knowledge: Any, collections: dict[str, str]) -> Passages:
    """Per domain, the passage embeddings of its collection (``collections`` maps domain to
    collection), from the collection's current search index."""
    return {domain: knowledge.retriever.index(collection).vectors
            for domain, collection in collections.items()}


def resolve(home: Path, knowledge: Any, model: str, question: str) -> Routing:
    """Where a request to ``experts:NAME`` goes (every front door asks this)."""
    expert_set = load(home, set_name(model))
    embedder = knowledge.embedder
    if embedder is None:
        raise InvalidRequestError("expert sets need an embedder (knowledge.embedder)")
    if embedder.name != expert_set.embedder:
        raise InvalidRequestError(
            f"expert set {expert_set.name!r} was fitted with {expert_set.embedder}, the "
            f"embedder is now {embedder.name}: fit it again with 'autonom tune experts'")
    passages = collection_passages(knowledge, {d.name: d.collection or d.name
                                               for d in expert_set.domains})
    return route(expert_set, question, query_embedder(embedder), passages)


def folder(home: Path) -> Path:
    return home / "tuning" / "experts"


def save(home: Path, expert_set: ExpertSet) -> Path:
    path = folder(home) / f"{expert_set.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(expert_set.to_json(), ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


_CACHE: dict[Path, tuple[float, ExpertSet]] = {}


def load(home: Path, name: str) -> ExpertSet:
    """The stored set (re-read when its file changes, so a refitted gate is used at once)."""
    path = folder(home) / f"{check_name(name)}.json"
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise NotFoundError(f"no expert set {name!r}; make one with 'autonom tune experts "
                            f"{name} --domain COLLECTION=MODEL …'") from None
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    expert_set = ExpertSet.from_json(json.loads(path.read_text(encoding="utf-8")))
    _CACHE[path] = (mtime, expert_set)
    return expert_set


def stored(home: Path) -> list[ExpertSet]:
    """Every stored set that can be read (a damaged file is skipped with a warning)."""
    found = []
    for path in sorted(folder(home).glob("*.json")):
        try:
            found.append(load(home, path.stem))
        except (AutonomError, OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("expert set %s cannot be read: %s", path, exc)
    return found
