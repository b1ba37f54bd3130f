"""The answer selector's fitted parameters: two logistic models and the abstention threshold.

``selector.json`` beside this module is written by ``scripts/fit_answer_selector.py`` from
question sets whose right answers are known (which sets, how many questions and how the
threshold was calibrated are recorded in the file). Three logistic models:

* ``first`` scores every candidate unit on cheap features;
* ``second`` rescores the best few with their embedding similarity as well; a softmax over
  those scores says how likely each is to be *the* answer among them (both are conditional
  logit models: fitted to pick the right unit among a question's candidates);
* ``decide`` gives the probability that answering with the best unit is right, from
  question-level features; below ``threshold`` autonom abstains.

Refit after changing a feature: the script prints the numbers it reached.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PARAMETERS = Path(__file__).with_name("selector.json")


@dataclass(frozen=True)
class Logistic:
    weights: dict[str, float]
    bias: float

    def score(self, features: dict[str, float]) -> float:
        return self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())

    def __call__(self, features: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, self.score(features)))))

    def to_json(self) -> dict[str, object]:
        return {"weights": {k: round(v, 6) for k, v in self.weights.items()},
                "bias": round(self.bias, 6)}


@dataclass(frozen=True)
class Selector:
    first: Logistic
    second: Logistic
    decide: Logistic
    threshold: float
    """The lowest probability at which the best unit is given as the answer."""
    read_threshold: float = 0.0
    """In ``read`` mode, the model answers from passages whose best unit has at least this
    probability (lower, since the model's own judgement takes part)."""

    @classmethod
    def from_json(cls, data: dict) -> Selector:
        models = [Logistic(data[name]["weights"], data[name]["bias"])
                  for name in ("first", "second", "decide")]
        first, second, decide = models
        return cls(first, second, decide, float(data["threshold"]),
                   float(data.get("read_threshold", 0.0)))


def softmax(scores: list[float]) -> list[float]:
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


@cache
def default_selector() -> Selector:
    return Selector.from_json(json.loads(PARAMETERS.read_text(encoding="utf-8")))
