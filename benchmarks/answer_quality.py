"""Answer quality per question set and mode: right, abstentions, stale answers, time.

    python benchmarks/answer_quality.py                       # every set, extractive mode
    python benchmarks/answer_quality.py --sets xquad-measure --modes extractive,read
    python benchmarks/answer_quality.py --failures out.json   # details, tuning sets only

Right = an expected string in the answer *and* the expected file cited (not abstained).
Abstained = share of unanswerable questions answered with an abstention. False abstentions =
answerable questions abstained; of those, *pointed*: the closest passages the abstention shows
include the expected file with an expected string. Stale = answers citing a superseded file.
Time = end-to-end ``ask`` in seconds (p50 / p95). Details of failures are printed only for
sets whose status is ``tuning``: looking at a blind set's failures would turn it into a
tuning set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autonom.config import load_settings
from autonom.knowledge import SAMPLE_DIR
from autonom.services import Services
from qa_sets import QASet, company_sets, judge, sample_sets, xquad_sets


@dataclass
class Tally:
    name: str
    status: str
    mode: str
    answerable: int = 0
    unanswerable: int = 0
    right: int = 0
    abstained_ok: int = 0
    false_abstentions: int = 0
    pointed: int = 0
    stale: int = 0
    times: list[float] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def row(self) -> str:
        p50 = statistics.median(self.times) if self.times else 0.0
        p95 = float(np.percentile(self.times, 95)) if self.times else 0.0
        right = self.right / self.answerable if self.answerable else 0.0
        abst = self.abstained_ok / self.unanswerable if self.unanswerable else 0.0
        return (f"| {self.name} ({self.status}; {self.answerable} + {self.unanswerable}) | "
                f"{self.mode} | {self.right}/{self.answerable} = **{right:.0%}** | "
                f"{self.abstained_ok}/{self.unanswerable} = {abst:.0%} | "
                f"{self.false_abstentions} ({self.pointed} pointed) | {self.stale} | "
                f"{p50:.3f} / {p95:.3f} |")


HEADER = ("| set (status; answerable + unanswerable) | mode | right | unanswerables abstained | "
          "false abstentions (pointed) | stale answers | time p50 / p95 s |\n"
          "|---|---|---|---|---|---|---|")


def run_set(services: Services, qa: QASet, mode: str, model: str | None,
            parameters: int | None) -> Tally:
    kb = services.knowledge
    collection = qa.name.replace("_", "-")[:60]
    kb.ingest([qa.docs], collection)
    tally = Tally(qa.name, qa.status, mode)
    for case in qa.cases:
        began = time.perf_counter()
        answer = asyncio.run(kb.ask(case.question, collection, model=model, mode=mode,
                                    model_parameters=parameters))
        tally.times.append(time.perf_counter() - began)
        cited = [c.source for c in answer.citations]
        verdict = judge(case, answer.answer, answer.abstained, cited)
        tally.stale += verdict.stale
        if case.must_abstain:
            tally.unanswerable += 1
            tally.abstained_ok += verdict.abstained
        else:
            tally.answerable += 1
            tally.right += verdict.right
            tally.false_abstentions += answer.abstained
            tally.pointed += answer.abstained and any(
                judge(case, c.quote, False, [c.source]).right for c in answer.related)
        if not verdict.right or verdict.stale:
            tally.failures.append({"id": case.id, "question": case.question,
                                   "expected": case.expected, "source": case.expected_source,
                                   "answer": answer.answer, "cited": cited,
                                   "abstained": answer.abstained})
    return tally


def all_sets(folder: Path, names: list[str] | None) -> list[QASet]:
    sets = [*sample_sets(SAMPLE_DIR), *company_sets(), *xquad_sets(folder)]
    return [s for s in sets if names is None or s.name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", help="comma-separated set names (default: all)")
    parser.add_argument("--modes", default="extractive")
    parser.add_argument("--model", default=None, help="answer model for read mode")
    parser.add_argument("--failures", type=Path, help="write failures of tuning sets here")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-quality-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    parameters = None
    if args.model:
        from autonom.models.pull import pull
        parameters = pull(args.model, services.registry, services.settings).info.parameters
    names = args.sets.split(",") if args.sets else None
    tallies = []
    print(HEADER)
    for qa in all_sets(home / "sets", names):
        for mode in args.modes.split(","):
            tally = run_set(services, qa, mode, args.model, parameters)
            tallies.append(tally)
            print(tally.row(), flush=True)
    if args.failures:
        studied = {t.name + "/" + t.mode: t.failures for t in tallies if t.status == "tuning"}
        args.failures.write_text(json.dumps(studied, ensure_ascii=False, indent=1),
                                 encoding="utf-8")
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
