"""The fitted answer selector: its parameter file matches the features the code computes,
and the fitting script's optimisers recover what they are fitted on."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

from autonom.knowledge.answer import Answerer
from autonom.knowledge.evidence import analyse, decision_features
from autonom.knowledge.selector import PARAMETERS, default_selector

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))


def test_the_parameter_file_names_exactly_the_features_the_code_computes(sample_kb):
    answerer = Answerer(sample_kb.retriever, sample_kb.store)
    question = "Wie viel wiegt die KP-55?"
    found = answerer._evidence(question, "pumpenwerk")
    unit = found.ranked[0]
    selector = default_selector()
    assert set(selector.first.weights) == set(unit.features) - {"dense", "dense_gap"}
    assert set(selector.second.weights) == set(selector.first.weights) | {"dense"}
    hits = sample_kb.retriever.search(question, "pumpenwerk", 10)
    decision = decision_features(found.ranked, hits, selector.second, analyse(question),
                                 sample_kb.retriever.index("pumpenwerk"))
    assert set(selector.decide.weights) == set(decision)
    data = json.loads(PARAMETERS.read_text(encoding="utf-8"))
    assert data["fitted_on"] and 0 < data["threshold"] < 1 and data["calibration"]


def test_abstention_follows_the_calibrated_threshold(sample_kb):
    answerer = Answerer(sample_kb.retriever, sample_kb.store)
    question = "Wie viel wiegt die KP-55?"
    found = answerer._evidence(question, "pumpenwerk")
    strict = Answerer(sample_kb.retriever, sample_kb.store,
                      selector=_with_threshold(default_selector(), found.confidence + 0.01))
    lenient = Answerer(sample_kb.retriever, sample_kb.store,
                       selector=_with_threshold(default_selector(), found.confidence - 0.01))
    assert asyncio.run(strict.ask(question, "pumpenwerk")).abstained
    assert not asyncio.run(lenient.ask(question, "pumpenwerk")).abstained


def _with_threshold(selector, threshold):
    from dataclasses import replace

    return replace(selector, threshold=threshold)


def test_the_fitters_recover_a_known_ranking_and_a_known_boundary():
    from fit_answer_selector import balance, calibrate, fit_conditional, fit_logistic

    rng = random.Random(3)
    groups = []
    for _ in range(150):
        rows = [{"a": rng.random(), "b": rng.random()} for _ in range(8)]
        best = max(range(8), key=lambda i: 3 * rows[i]["a"] - rows[i]["b"])
        groups.append((rows, [int(i == best) for i in range(8)]))
    ranker = fit_conditional(groups, ["a", "b"])
    assert ranker.weights["a"] > 0 > ranker.weights["b"]
    assert ranker.weights["a"] > 2 * abs(ranker.weights["b"])

    rows = [{"x": rng.uniform(-3, 3)} for _ in range(400)]
    labels = [int(r["x"] + rng.gauss(0, 0.3) > 0.5) for r in rows]
    boundary = fit_logistic(rows, labels, ["x"])
    assert boundary({"x": 2.0}) > 0.9 and boundary({"x": -1.0}) < 0.1
    assert calibrate([(0.9, True), (0.8, True), (0.6, False), (0.4, True)], 0.9) == 0.8
    # balance: answerable questions right plus unanswerable ones abstained, equally weighted
    results = [(0.9, True), (0.7, True), (0.5, True), (0.6, False), (0.3, False)]
    answerable = [True, True, True, False, False]
    assert balance(results, answerable, tolerance=0.0) == 0.7  # 2/3 right + 2/2 abstained
    assert balance(results, answerable, tolerance=0.2) == 0.5  # 3/3 + 1/2, within 0.2
