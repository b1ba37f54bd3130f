"""Fit the linear part of the planted-instruction detector (src/autonom/guard/injection_model.json).

    .venv/bin/python scripts/fit_injection_detector.py [--max-fp 0.005] [--no-write]

Only the *tuning* parts of the benchmark texts (see benchmarks/injection.py) are used:
attacks are labelled 1, benign company and book text 0. Features are the detector's own
hashed word and word-pair counts; an L2-regularised logistic regression with balanced class
weights is fitted by full-batch gradient descent (numpy only). The threshold is the lowest
score at which at most ``--max-fp`` of the benign tuning texts are flagged by the model
alone, so that the model adds recall on long role-play jailbreaks without adding noticeable
false positives to the patterns.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from autonom.guard.injection import BUCKETS, MODEL_FILE, features  # noqa: E402
from injection import sets  # noqa: E402


def matrix(texts: list[str]) -> np.ndarray:
    rows = np.zeros((len(texts), BUCKETS), dtype=np.float32)
    for i, text in enumerate(texts):
        for bucket, value in features(text).items():
            rows[i, bucket] = value
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 400) -> tuple[np.ndarray, float]:
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(x.shape[1], dtype=np.float64), 0.0
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    for step in range(1, steps + 1):  # Adam on the weighted log-loss
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = weight * (p - y) / len(y)
        grad_w, grad_b = x.T @ g + l2 * w, float(g.sum())
        m_w = 0.9 * m_w + 0.1 * grad_w
        v_w = 0.999 * v_w + 0.001 * grad_w**2
        m_b = 0.9 * m_b + 0.1 * grad_b
        v_b = 0.999 * v_b + 0.001 * grad_b**2
        correction = np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        w -= 0.05 * correction * m_w / (np.sqrt(v_w) + 1e-8)
        b -= 0.05 * correction * m_b / (np.sqrt(v_b) + 1e-8)
    return w, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-fp", type=float, default=0.005)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    attacks, benign = [], []
    for text_set in sets():
        if text_set.status == "tuning":
            (attacks if text_set.attack else benign).extend(text_set.texts)
    x = matrix(attacks + benign)
    y = np.array([1.0] * len(attacks) + [0.0] * len(benign))
    w, b = fit(x, y, args.l2)
    scores = 1 / (1 + np.exp(-(x @ w + b)))
    benign_scores = np.sort(scores[len(attacks):])[::-1]
    allowed = int(args.max_fp * len(benign_scores))
    threshold = float(min(0.99, benign_scores[allowed] + 1e-6))
    recall = float((scores[:len(attacks)] >= threshold).mean())
    print(f"{len(attacks)} attack and {len(benign)} benign tuning texts; threshold "
          f"{threshold:.4f}: model alone flags {recall:.1%} of the attacks and "
          f"{(benign_scores >= threshold).mean():.2%} of the benign texts")
    if not args.no_write:
        MODEL_FILE.write_text(json.dumps({
            "about": "fitted by scripts/fit_injection_detector.py on the tuning parts of "
                     "benchmarks/injection.py",
            "buckets": BUCKETS, "bias": round(b, 5), "threshold": round(threshold, 5),
            "weights": [round(float(v), 4) for v in w]}, separators=(",", ":")) + "\n",
            encoding="utf-8")
        print(f"wrote {MODEL_FILE}")


if __name__ == "__main__":
    main()
