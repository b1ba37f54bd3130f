"""How well the expert gate routes questions people wrote to the right domain.

    python benchmarks/experts.py [--sets stadtwerke medtech elektrogrosshandel] [--no-write]

In a fresh home each set's documents become one collection (a domain); ``autonom tune
experts`` fits the gate on the questions the training data of each collection teaches. It
is then measured on questions it never saw: the templated questions about facts the
training data holds out, and the questions written by hand for each corpus
(``benchmarks/data/SET/questions.jsonl``: paraphrases, English ones, near misses), which
nobody looked at while building the gate. A question counts as routed right when the gate
picks its own corpus (top-1); "confident" means above the set's ``min_confidence`` (below,
the fallback model answers).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from autonom.config import load_settings
from autonom.services import Services
from autonom.services import tuning as service
from autonom.tuning import experts
from results_file import machine, publish

DATA = Path(__file__).parent / "data"
START, END = "<!-- experts:start -->", "<!-- experts:end -->"


def questions(name: str) -> tuple[list[str], list[str]]:
    answerable, near_miss = [], []
    for line in (DATA / name / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            (near_miss if row.get("must_abstain") else answerable).append(row["question"])
    return answerable, near_miss


def routed(expert_set: experts.ExpertSet, embed: experts.Embed, passages: experts.Passages,
           texts: list[str], domain: str) -> tuple[int, int]:
    """(routed to their own domain, of those confidently) for questions of ``domain``."""
    if not texts:
        return 0, 0
    p = expert_set.probabilities(embed(texts), passages)
    names = [d.name for d in expert_set.domains]
    right = [names[int(i)] == domain for i in p.argmax(axis=1)]
    sure = p.max(axis=1) >= expert_set.min_confidence
    return sum(right), sum(r and s for r, s in zip(right, sure, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["stadtwerke", "medtech",
                                                       "elektrogrosshandel"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-experts-"))
    services = Services(load_settings(home=home))
    started = time.perf_counter()
    for name in args.sets:
        services.knowledge.ingest([DATA / name / "docs"], name)
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    made = service.make_experts(services, "bench", {n: services.settings.default_model
                                                     for n in args.sets})
    fitted = time.perf_counter() - started
    embed = experts.query_embedder(services.knowledge.embedder)
    passages = experts.collection_passages(services.knowledge, {n: n for n in args.sets})
    rows, totals = [], {"held": [0, 0, 0], "answerable": [0, 0, 0], "near": [0, 0, 0]}
    for name in args.sets:
        _, held = service.domain_questions(services.knowledge.store, name)
        answerable, near_miss = questions(name)
        cells = [name, str(made.fitted_on[name])]
        for label, texts in (("held", held), ("answerable", answerable), ("near", near_miss)):
            right, sure = routed(made, embed, passages, texts, name)
            totals[label] = [totals[label][0] + right, totals[label][1] + sure,
                             totals[label][2] + len(texts)]
            cells.append(f"{right}/{len(texts)} ({sure} confident)")
        rows.append(cells)
    latency = []
    for text in questions(args.sets[0])[0][:30]:
        t = time.perf_counter()
        experts.route(made, text, embed, passages)
        latency.append(time.perf_counter() - t)
    latency.sort()
    services.close()

    def share(label: str) -> str:
        right, sure, n = totals[label]
        return f"**{right}/{n} = {right / max(n, 1):.0%}** ({sure} confident)"

    today = time.strftime("%Y-%m-%d")
    lines = [START, f"### Expert gate: routing questions to their domain ({today})",
             "", f"Command: `python benchmarks/experts.py --sets {' '.join(args.sets)}`", "",
             f"Machine: {machine()}; embedder {made.embedder}; ingest of the "
             f"{len(args.sets)} corpora {ingested:.0f} s, gate fitted in {fitted:.1f} s "
             f"(temperature {made.temperature}); routing one "
             f"question p50 {latency[len(latency) // 2] * 1000:.0f} ms (the embedding).", "",
             "Domains are the corpora (all three blind for the answer step). Columns: "
             "templated questions about facts the training data holds out; hand-written "
             "answerable questions of the corpus; hand-written near-miss questions (not "
             "answerable from the corpus, but on its topic).", "",
             "| domain | calibration questions | held-out facts | hand-written answerable "
             "| hand-written near misses |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    lines += [f"| all | {sum(made.fitted_on.values())} | {share('held')} | "
              f"{share('answerable')} | {share('near')} |", END]
    publish(START, END, "\n".join(lines), not args.no_write)


if __name__ == "__main__":
    main()
