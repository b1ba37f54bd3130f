"""Fit the answer selector (src/autonom/knowledge/selector.json) on question sets.

    .venv/bin/python scripts/fit_answer_selector.py [--precision P] [--no-write]

Every set whose status is ``tuning`` (the sample company's questions, the company corpora
marked ``tuning`` in benchmarks/data/sets.json, the fit half of XQuAD) is indexed; for each
question the candidate units of the retrieved chunks get their features, labelled 1 when the
unit comes from the expected file and contains an expected answer. Two L2-regularised
logistic regressions are fitted (Newton's method, numpy only): one on the cheap features of
all units, one on the best units by the first plus their embedding similarity; a third, the
decision model, gives the probability that answering with the best unit is right.

The abstention threshold is calibrated on probabilities that each company set gets from
models fitted without it (what a new company's documents will see). By default it is the
lowest threshold whose share of answerable questions answered right plus share of
unanswerable ones abstained from (both count the same) is within BALANCE_TOLERANCE of the
best. ``--precision P`` calibrates to a precision of the answers given instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from autonom.config import load_settings  # noqa: E402
from autonom.knowledge import SAMPLE_DIR, evidence  # noqa: E402
from autonom.knowledge.selector import PARAMETERS, Logistic  # noqa: E402
from autonom.services import Services  # noqa: E402
from qa_sets import QASet, company_sets, sample_sets, xquad_sets  # noqa: E402

L2 = 1.0
READ_SHARE = 5
"""Read mode asks the model unless the selector's confidence is below threshold / READ_SHARE:
a model that reads can still find what the selector ranks low, and says when the passages
do not answer; only hopeless questions are abstained from without asking it."""


def fit_logistic(rows: list[dict[str, float]], labels: list[int], names: list[str],
                 l2: float = L2, weights: list[float] | None = None) -> Logistic:
    x = np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    c = np.array(weights if weights is not None else [1.0] * len(rows), dtype=np.float64)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    penalty = np.full(x1.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x1 @ w, -30, 30)))
        gradient = x1.T @ (c * (p - y)) + penalty * w
        hessian = (x1 * (c * p * (1 - p))[:, None]).T @ x1 + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return Logistic(dict(zip(names, map(float, w[:-1]), strict=True)), float(w[-1]))


def fit_conditional(groups: list[tuple[list[dict[str, float]], list[int]]], names: list[str],
                    l2: float = L2) -> Logistic:
    """A conditional logit: scores whose softmax over a question's units puts the
    probability on its right units (groups without a right unit teach nothing here)."""
    data = []
    for rows, labels in groups:
        if sum(labels) == 0 or len(rows) < 2:
            continue
        x = np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=np.float64)
        t = np.array(labels, dtype=np.float64)
        data.append((x, t / t.sum()))

    def loss(w: np.ndarray) -> float:
        total = 0.5 * l2 * float(w @ w)
        for x, t in data:
            z = x @ w
            top = z.max()
            total -= float(t @ (z - top - np.log(np.exp(z - top).sum())))
        return total

    w = np.zeros(len(names))
    current = loss(w)
    for _ in range(100):
        gradient = l2 * w
        hessian = np.diag(np.full(len(names), l2))
        for x, t in data:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            gradient += x.T @ (p - t)
            mean = x.T @ p
            hessian += (x * p[:, None]).T @ x - np.outer(mean, mean)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4 and loss(w - size * step) > current:
            size /= 2  # Newton's step overshoots far from the optimum: damp it
        w = w - size * step
        previous, current = current, loss(w)
        if previous - current < 1e-9:
            break
    return Logistic(dict(zip(names, map(float, w), strict=True)), 0.0)


def positive(unit: evidence.Candidate, expected: list[str], source: str | None) -> int:
    text = " ".join(unit.quote.split()) + " " + unit.readable
    return int(unit.source == source and any(" ".join(e.split()) in text for e in expected))


def collect(services: Services, qa: QASet) -> list[dict]:
    """Per question: its units (cheap features, labels) and what the dense stage needs."""
    kb = services.knowledge
    collection = qa.name[:60]
    kb.ingest([qa.docs], collection)
    retriever, index = kb.retriever, kb.retriever.index(collection)
    out = []
    for case in qa.cases:
        vector = retriever.query_vector(index, case.question)
        hits = retriever.rank(index, case.question, 10, vector)
        texts = kb.store.texts({h.entry.document.id for h in hits})
        terms = evidence.analyse(case.question)
        units = evidence.scored_units(terms, hits, texts, index)
        labels = [0 if case.must_abstain else positive(u, case.expected, case.expected_source)
                  for u in units]
        out.append({"set": qa.name, "units": units, "labels": labels, "vector": vector,
                    "hits": hits, "terms": terms,
                    "index": index, "answerable": not case.must_abstain})
    return out


def add_dense(questions: list[dict], first: Logistic, embed) -> None:
    """The best units of each question by the first model, with their embedding cosine."""
    for q in questions:
        labels = {id(u): y for u, y in zip(q["units"], q["labels"], strict=True)}
        q["top"] = evidence.dense_stage(q["units"], first)  # sorts the units
        q["labels"] = [labels[id(u)] for u in q["units"]]
        q["top_labels"] = q["labels"][:len(q["top"])]
        evidence.add_dense(q["top"], q["index"], q["vector"], embed)


def decisions(questions: list[dict], second: Logistic) -> None:
    """Per question: the decision features of its best unit, and whether it is right."""
    for q in questions:
        top = list(q["top"])  # rescore sorts it; q["top"] stays aligned with its labels
        labels = {id(u): y for u, y in zip(top, q["top_labels"], strict=True)}
        evidence.rescore(top, second)
        q["decision"] = (evidence.decision_features(top, q["hits"], second, q["terms"],
                                                    q["index"]) if top else None)
        q["right"] = bool(top) and bool(labels[id(top[0])])


def outcomes(questions: list[dict], decide: Logistic) -> list[tuple[float, bool]]:
    """(probability that the best unit is right, whether it is) per question."""
    return [(decide(q["decision"]) if q["decision"] else 0.0, q["right"]) for q in questions]


def fit_decide(questions: list[dict]) -> Logistic:
    """The decision model on the questions' decision features (set by ``decisions``)."""
    asked = [q for q in questions if q["decision"]]
    names = sorted(asked[0]["decision"])
    # company questions (near misses among the unanswerable ones) weigh as much in all as
    # the many public questions, whose unanswerable ones are about absent articles
    public = sum(q["set"].startswith("xquad") for q in asked)
    share = public / max(1, len(asked) - public) if public else 1.0
    return fit_logistic([q["decision"] for q in asked], [int(q["right"]) for q in asked],
                        names, weights=[1.0 if q["set"].startswith("xquad") else share
                                        for q in asked])


def held_out_outcomes(questions: list[dict], cheap: list[str]) -> list[tuple[float, bool]]:
    """Per question, the outcome under second and decision models fitted on the other sets
    (the first model, which only picks the units to embed, stays the one fitted on all)."""
    out: list[tuple[float, bool]] = [(0.0, False)] * len(questions)
    for name in sorted({q["set"] for q in questions}):
        rest = [q for q in questions if q["set"] != name]
        mine = [i for i, q in enumerate(questions) if q["set"] == name]
        second = fit_conditional([([u.features for u in q["top"]], q["top_labels"])
                                  for q in rest], [*cheap, "dense"])
        decisions(questions, second)
        decide = fit_decide(rest)
        for i in mine:
            q = questions[i]
            out[i] = (decide(q["decision"]) if q["decision"] else 0.0, q["right"])
    return out


BALANCE_TOLERANCE = 0.02
"""Where the balance is flat, answer: the lowest threshold within this much of the best
(a few hundred held-out questions cannot tell smaller differences apart)."""


def balance_score(results: list[tuple[float, bool]], answerable: list[bool], t: float) -> float:
    """Share of answerable questions answered right plus share of unanswerable ones
    abstained from, at threshold ``t``."""
    total_yes = max(1, sum(answerable))
    total_no = max(1, len(answerable) - sum(answerable))
    right = sum(p >= t and ok for (p, ok), a in zip(results, answerable, strict=True) if a)
    kept = sum(p < t for (p, _), a in zip(results, answerable, strict=True) if not a)
    return right / total_yes + kept / total_no


def balance(results: list[tuple[float, bool]], answerable: list[bool],
            tolerance: float = BALANCE_TOLERANCE) -> float:
    """The lowest threshold whose balance score is within ``tolerance`` of the best."""
    candidates = sorted({round(p, 4) for p, _ in results})
    scores = [balance_score(results, answerable, t) for t in candidates]
    best = max(scores)
    return next(t for t, v in zip(candidates, scores, strict=True) if v >= best - tolerance)


def calibrate(results: list[tuple[float, bool]], precision: float) -> float:
    """The lowest threshold whose answered questions are right with ``precision``."""
    for t in sorted({round(p, 4) for p, _ in results}):
        answered = [ok for p, ok in results if p >= t]
        if answered and sum(answered) / len(answered) >= precision:
            return t
    return 1.0


def summary(results: list[tuple[float, bool]], questions: list[dict], t: float) -> str:
    lines = []
    for name in sorted({q["set"] for q in questions}):
        pairs = [(r, q) for r, q in zip(results, questions, strict=True) if q["set"] == name]
        answerable = [r for r, q in pairs if q["answerable"]]
        unanswerable = [r for r, q in pairs if not q["answerable"]]
        right = sum(p >= t and ok for p, ok in answerable)
        abstained = sum(p < t for p, _ in unanswerable)
        best = sum(ok for _, ok in answerable)
        lines.append(f"  {name}: right {right}/{len(answerable)} (best unit right: {best}), "
                     f"unanswerables abstained {abstained}/{len(unanswerable)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", type=float, default=None,
                        help="calibrate to this precision instead of the best balance")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--sets", help="only these tuning sets (comma-separated)")
    parser.add_argument("--dense-units", type=int, default=evidence.DENSE_UNITS,
                        help="units per question that get their embedding similarity")
    parser.add_argument("--dense-across", type=int,
                        default=evidence.DENSE_UNITS_ACROSS_LANGUAGES,
                        help="the same for a question in another language than its documents")
    args = parser.parse_args()
    evidence.DENSE_UNITS = args.dense_units
    evidence.DENSE_UNITS_ACROSS_LANGUAGES = args.dense_across
    home = Path(tempfile.mkdtemp(prefix="autonom-fit-"))
    services = Services(load_settings(home=home))
    sets = [s for s in [*sample_sets(SAMPLE_DIR), *company_sets(), *xquad_sets(home / "sets")]
            if s.status == "tuning" and (not args.sets or s.name in args.sets.split(","))]
    questions = [q for qa in sets for q in collect(services, qa)]
    cheap = sorted({n for q in questions for u in q["units"] for n in u.features})
    first = fit_conditional([([u.features for u in q["units"]], q["labels"])
                             for q in questions], cheap)
    embedder = services.knowledge.embedder
    add_dense(questions, first, embedder.embed_passages if embedder else None)
    second = fit_conditional([([u.features for u in q["top"]], q["top_labels"])
                              for q in questions], [*cheap, "dense"])
    print(first, second, sep="\n")
    # the threshold is calibrated on each set's probabilities from models fitted without
    # that set: fitted on a set, the models are surer of its answers than of a new company's
    held_out = held_out_outcomes(questions, cheap)
    company_held_out = [held_out[i] for i, q in enumerate(questions)
                        if not q["set"].startswith("xquad")]
    answerable = [q["answerable"] for q in questions if not q["set"].startswith("xquad")]

    def choose(results: list[tuple[float, bool]]) -> float:
        return (calibrate(results, args.precision) if args.precision is not None
                else balance(results, answerable))

    threshold = choose(company_held_out)
    for t in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        print(f"  held-out balance at {t:.2f}: "
              f"{balance_score(company_held_out, answerable, t):.3f}")
    decisions(questions, second)
    decide = fit_decide(questions)
    results = outcomes(questions, decide)
    company = [r for r, q in zip(results, questions, strict=True)
               if not q["set"].startswith("xquad")]
    print(f"threshold {threshold:.3f} from held-out sets; fitted in-sample it would be "
          f"{choose(company):.3f}")
    print("answers on the held-out sets at that threshold:")
    print(summary(held_out, questions, threshold))
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        answered = [ok for p, ok in company if p >= t]
        print(f"  threshold {t:.1f}: company questions answered {len(answered)}, right "
              f"{sum(answered)}, precision {sum(answered) / max(1, len(answered)):.0%}")
    recall = sum(ok for _, ok in results) / max(1, sum(q["answerable"] for q in questions))
    print(f"fitted on {len(questions)} questions from {', '.join(s.name for s in sets)}")
    given = [ok for p, ok in company_held_out if p >= threshold]
    print(f"best unit right (no abstention): {recall:.1%}; threshold {threshold:.3f}: "
          f"precision of the answers on held-out sets {sum(given) / max(1, len(given)):.0%}")
    print(summary(results, questions, threshold))
    data = {"fitted_on": {s.name: len(s.cases) for s in sets},
            "calibration": ("balance" if args.precision is None
                            else f"precision {args.precision}"),
            "threshold": threshold, "read_threshold": round(threshold / READ_SHARE, 4),
            "first": first.to_json(), "second": second.to_json(), "decide": decide.to_json()}
    if not args.no_write:
        PARAMETERS.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"written: {PARAMETERS}")
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
