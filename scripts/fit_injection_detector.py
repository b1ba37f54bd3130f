"""Fit the model of the planted-instruction detector (src/autonom/guard/injection_model.npz).

    .venv/bin/python scripts/fit_injection_detector.py [--max-fp 0.01] [--l2 3e-6] [--no-write]
                                                       [--user-only]

Only the *tuning* parts of the benchmark texts (see benchmarks/injection.py) are used:
attacks are labelled 1, benign company and book text 0. Features are the detector's own
hashed word and word-pair counts and the kinds of pattern seen; an L2-regularised logistic
regression with balanced class weights is fitted by full-batch Adam on the sparse rows
(numpy only).

The threshold is calibrated on held-out scores: each written set (one writer, one brief)
is scored by a model fitted without it, so the scores are those of attacks and benign texts
from a writer the model has not seen. A text's score is what the detector decides on:
short texts by their patterns, texts with a standalone pattern flagged, any other by the
highest probability over the whole text and each window of sentences in it (so that a
planted sentence inside a long text is judged on its own). The threshold is the lowest at
which at most ``--max-fp`` of the written sets' benign texts (hard cases: instructions to
staff, AI policies, chatbot documentation) are flagged. The model written out is then
fitted on all tuning texts. Takes about 25 minutes on two cores.

Users' own messages get a threshold of their own (``--user-only`` recalibrates just that):
the model learnt planted text, and a long legitimate request ("antworte nur mit …, erwähne
keine Gehälter") reads like one. It is the lowest threshold, not below the documents', at
which at most ``--max-fp`` of the tuning set of long legitimate requests
(``data/injection/user-requests``) are refused; the model is never fitted on them.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from autonom.guard import injection  # noqa: E402
from autonom.guard.injection import BUCKETS, MODEL_FILE, features  # noqa: E402
from injection import TextSet, sets  # noqa: E402


class Rows:
    """Sparse rows of feature values: what ``x @ w`` and ``x.T @ g`` need."""

    def __init__(self, texts: list[str]) -> None:
        index: list[int] = []
        values: list[float] = []
        lengths = []
        for text in texts:
            found = features(text)
            index.extend(found)
            values.extend(found.values())
            lengths.append(len(found))
        self.n = len(texts)
        self.index = np.array(index, dtype=np.int64)
        self.values = np.array(values, dtype=np.float64)
        self.row = np.repeat(np.arange(self.n), lengths)

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=self.values * w[self.index], minlength=self.n)

    def tdot(self, g: np.ndarray) -> np.ndarray:
        return np.bincount(self.index, weights=self.values * g[self.row], minlength=BUCKETS)


def fit(x: Rows, y: np.ndarray, l2: float, steps: int = 300) -> tuple[np.ndarray, float]:
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(BUCKETS, dtype=np.float64), 0.0
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    for step in range(1, steps + 1):  # Adam on the weighted log-loss
        p = 1 / (1 + np.exp(-(x.dot(w) + b)))
        g = weight * (p - y) / len(y)
        grad_w, grad_b = x.tdot(g) + l2 * w, float(g.sum())
        m_w = 0.9 * m_w + 0.1 * grad_w
        v_w = 0.999 * v_w + 0.001 * grad_w**2
        m_b = 0.9 * m_b + 0.1 * grad_b
        v_b = 0.999 * v_b + 0.001 * grad_b**2
        correction = math.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        w -= 0.05 * correction * m_w / (np.sqrt(v_w) + 1e-8)
        b -= 0.05 * correction * m_b / (math.sqrt(v_b) + 1e-8)
    return w, b


def probabilities(x: Rows, w: np.ndarray, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x.dot(w) + b)))


def training(parts: list[TextSet]) -> tuple[Rows, np.ndarray]:
    attacks = [t for part in parts if part.attack for t in part.texts]
    benign = [t for part in parts if not part.attack for t in part.texts]
    return Rows(attacks + benign), np.array([1.0] * len(attacks) + [0.0] * len(benign))


class Decision:
    """Scores that decide as :func:`~autonom.guard.injection.find_injections` does: a short
    text by its patterns (1 or 0), a text with a standalone pattern 1, any other the
    highest model probability over the whole text and its windows of sentences. The
    features are computed once per text and reused by every fold's model."""

    def __init__(self) -> None:
        self.known: dict[str, float | list[dict[int, float]]] = {}

    def _pieces(self, text: str) -> float | list[dict[int, float]]:
        scanned = injection.scan(text)
        if injection.letters(text) < injection.MODEL_FROM:
            return 1.0 if scanned.findings else 0.0
        if any(f.kind in injection.STANDALONE for f in scanned.findings):
            return 1.0
        windows = [text[start:end] for start, end in injection.windows(text, injection.MODEL_FROM)]
        return [features(text, scanned.cues), *(features(w) for w in windows)]

    def scores(self, texts: list[str], w: np.ndarray, b: float) -> np.ndarray:
        found = []
        for text in texts:
            if text not in self.known:
                self.known[text] = self._pieces(text)
            pieces = self.known[text]
            if isinstance(pieces, float):
                found.append(pieces)
                continue
            z = max((b + sum(w[k] * v for k, v in piece.items()) for piece in pieces if piece),
                    default=-30.0)  # a text without words scores 0, as model_score says
            found.append(1 / (1 + math.exp(-max(-30.0, min(30.0, z)))))
        return np.array(found)


def held_out(tuning: list[TextSet], l2: float,
             decision: Decision) -> list[tuple[TextSet, np.ndarray]]:
    """Each written set's decision scores from a model fitted without it."""
    scored = []
    for written in sorted({p.name for p in tuning if p.name.startswith("written")}):
        x, y = training([p for p in tuning if p.name != written])
        w, b = fit(x, y, l2)
        for part in tuning:
            if part.name == written:
                scored.append((part, decision.scores(part.texts, w, b)))
        print(f"  {written}: fitted without it", flush=True)
    return scored


def calibrate(scored: list[tuple[TextSet, np.ndarray]], max_fp: float) -> tuple[float, float]:
    """The lowest threshold at which at most ``max_fp`` of the held-out benign texts are
    flagged, and the held-out recall there."""
    benign = np.sort(np.concatenate([s for part, s in scored if not part.attack]))[::-1]
    attacks = np.concatenate([s for part, s in scored if part.attack])
    allowed = int(round(max_fp * len(benign), 6))
    threshold = float(min(0.99, benign[allowed] + 1e-6)) if allowed < len(benign) else 0.5
    if (benign >= threshold).mean() > max_fp:  # flagged by patterns, whatever the model says
        print(f"warning: {(benign >= threshold).mean():.1%} of the held-out benign texts are "
              f"flagged at any threshold, more than {max_fp:.1%}", file=sys.stderr)
    return threshold, float((attacks >= threshold).mean())


def calibrate_user(texts: list[str], floor: float, max_fp: float) -> float:
    """The threshold for users' own messages: the lowest, not below the documents'
    ``floor``, at which at most ``max_fp`` of these legitimate long requests are refused
    (messages that patterns refuse count at any threshold)."""
    injection.model.cache_clear()
    scores = np.sort([injection.user_request_score(t) for t in texts])[::-1]
    allowed = int(round(max_fp * len(scores), 6))
    if allowed >= len(scores):
        return floor
    return float(max(floor, min(0.999, scores[allowed] + 1e-6)))


def write_user_threshold(max_fp: float) -> None:
    """Recalibrate only the threshold for users' messages of the model file."""
    requests = [t for part in sets() if part.user and part.status == "tuning"
                and part.name.startswith("user requests") for t in part.texts]
    with np.load(MODEL_FILE) as data:
        arrays = {key: data[key] for key in data.files}
    threshold = calibrate_user(requests, float(arrays["threshold"]), max_fp)
    arrays["user_threshold"] = np.float64(threshold)
    np.savez_compressed(MODEL_FILE, **arrays)
    injection.model.cache_clear()
    refused = sum(injection.user_request_is_suspicious(t) for t in requests)
    print(f"users' messages: threshold {threshold:.4f}, {refused} of {len(requests)} "
          "legitimate long requests refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-fp", type=float, default=0.01)
    parser.add_argument("--l2", type=float, default=3e-6)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--user-only", action="store_true",
                        help="keep the model; recalibrate only the threshold for users' messages")
    args = parser.parse_args()
    if args.user_only:
        write_user_threshold(args.max_fp)
        return
    tuning = [s for s in sets() if s.status == "tuning" and not s.user]
    scored = held_out(tuning, args.l2, Decision())
    threshold, recall = calibrate(scored, args.max_fp)
    print(f"threshold {threshold:.4f}: held-out recall {recall:.1%} at most "
          f"{args.max_fp:.1%} false positives (written sets)")
    x, y = training(tuning)
    w, b = fit(x, y, args.l2)
    print(f"fitted on {int(y.sum())} attack and {int((1 - y).sum())} benign tuning texts")
    if not args.no_write:
        used = np.flatnonzero(np.abs(w) >= 1e-4).astype(np.int32)
        np.savez_compressed(MODEL_FILE, index=used, weights=w[used].astype(np.float16),
                            bias=np.float64(b), threshold=np.float64(threshold))
        print(f"wrote {MODEL_FILE} ({len(used)} weights)")
        write_user_threshold(args.max_fp)


if __name__ == "__main__":
    main()
