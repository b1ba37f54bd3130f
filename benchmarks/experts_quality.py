"""Domain experts against one adapter for all domains and against the base model.

    python benchmarks/experts_quality.py [--sets stadtwerke medtech elektrogrosshandel]
        [--minutes 5] [--cases 40] [--no-write]

In a fresh home each corpus becomes one collection (a domain) and gets its training data
(``autonom tune data``). Then, with the same training time in total:

- one expert per domain: the default model LoRA-trained on that domain's data for
  ``--minutes`` each (as ``autonom tune run`` does per collection);
- one adapter for all domains: trained on the three domains' data together for the sum of
  the experts' minutes;

and two expert sets over the three experts (``autonom tune experts``): top-1 (the gate's
likeliest expert answers) and top-2 (the two likeliest, their adapters mixed by the gate's
probabilities in one engine instance).

Each is measured closed-book (no documents) on the held-out cases of every domain's training
data, at most ``--cases`` per domain and tag group: ``new-wording`` (trained facts in a
wording not trained on), ``unseen-fact`` (facts held out of training: a right answer is a
guess, an invented value a hallucination), ``refusal`` (products that do not exist). The
expert's own adapter asked directly ("own expert") shows what perfect routing would give.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from autonom.config import compute_threads, load_settings
from autonom.models.pull import pull
from autonom.services import Services
from autonom.services import evals as eval_service
from autonom.services import tuning as service
from autonom.services.gateway import Gateway
from autonom.tuning import data as tune_data
from autonom.tuning.train import TrainSettings
from results_file import machine, publish

DATA = Path(__file__).parent / "data"
START, END = "<!-- experts-quality:start -->", "<!-- experts-quality:end -->"
GROUPS = ("new-wording", "unseen-fact", "refusal")
MAX_TOKENS = 64


def _records(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _write_records(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items),
                    encoding="utf-8")


def merged_data(folders: list[Path], out: Path) -> Path:
    """The training examples of several domains in one data folder (shuffled together)."""
    rows: list[str] = []
    for folder in folders:
        rows += [line for line in (folder / "train.jsonl").read_text(encoding="utf-8")
                 .splitlines() if line.strip()]
    random.Random(0).shuffle(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (out / "heldout.jsonl").write_text("", encoding="utf-8")
    manifest = {"format": tune_data.FORMAT, "collection": "alle",
                "digest": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
                "created_at": time.time(), "train": len(rows), "heldout": 0,
                "merged_from": [str(f) for f in folders]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def subset(folder: Path, out: Path, facts: int) -> Path:
    """The domain's data for its first ``facts`` trained facts (in the order of their ids,
    which are hashes): the examples about them, the held-out cases asking them in new words,
    and all cases about facts held out and about products that do not exist."""
    rows = _records(folder / "train.jsonl")
    kept = set(sorted({r["fact"] for r in rows if r["kind"] in ("closed", "unknown")})[:facts])
    rows = [r for r in rows if r["fact"] in kept]
    cases = [c for c in _records(folder / "heldout.jsonl")
             if "new-wording" not in c["tags"] or c["id"][:16] in kept]
    out.mkdir(parents=True, exist_ok=True)
    _write_records(out / "train.jsonl", rows)
    _write_records(out / "heldout.jsonl", cases)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(train=len(rows), heldout=len(cases), facts_kept=len(kept),
                    digest=hashlib.sha256(json.dumps([rows, cases]).encode()).hexdigest())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def eval_file(folder: Path, out: Path, per_group: int) -> tuple[Path, dict[str, int]]:
    """The domain's closed-book held-out cases, at most ``per_group`` of each group."""
    chosen: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    cases = _records(folder / "heldout.jsonl")
    for group in GROUPS:
        found = [c for c in cases if "closed-book" in c["tags"] and group in c["tags"]]
        random.Random(group).shuffle(found)
        chosen += found[:per_group]
        counts[group] = len(found[:per_group])
    _write_records(out, chosen)
    return out, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["stadtwerke", "medtech",
                                                       "elektrogrosshandel"])
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="training minutes per expert (the single adapter gets the sum)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--facts", type=int, default=60,
                        help="trained facts per domain (all: a full corpus needs about 30 "
                        "minutes per epoch on two cores)")
    parser.add_argument("--cases", type=int, default=40,
                        help="held-out cases per domain and group at most")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="autonom-experts-quality-"))
    services = Services(load_settings(home=home))
    base = services.settings.default_model
    pull(base, services.registry, services.settings)
    threads = compute_threads()
    folders, trainings, sizes = {}, {}, {}
    for name in args.sets:
        services.knowledge.ingest([DATA / name / "docs"], name)
        full, manifest, _ = service.make_data(services.knowledge.store, home, name)
        folders[name] = subset(full, home / "subsets" / name, args.facts)
        kept = json.loads((folders[name] / "manifest.json").read_text(encoding="utf-8"))
        print(f"{name}: {manifest['facts']} facts, {manifest['train']} examples; trained on "
              f"{kept['facts_kept']} facts, {kept['train']} examples", flush=True)
        sizes[name] = {"facts": manifest["facts"], "examples": manifest["train"],
                       "facts_kept": kept["facts_kept"], "examples_kept": kept["train"]}

    def trained(name: str, folder: Path, minutes: float) -> str:
        settings = TrainSettings(epochs=args.epochs, rank=16, alpha=32.0, lr=1e-3,
                                 max_minutes=minutes)
        run = home / "runs" / name
        report = service.train_adapter(services.registry, home, base, folder, run, settings,
                                       threads=threads)
        trainings[name] = {"steps": report.steps, "total_steps": report.total_steps,
                           "minutes": round(report.wall_seconds / 60, 1),
                           "peak_gib": round(report.peak_rss_mb / 1024, 1)}
        print(f"trained {name}: {trainings[name]}", flush=True)
        return service.register(services, run, f"{name}-tuned").model

    own = {name: trained(name, folders[name], args.minutes) for name in args.sets}
    single = trained("alle", merged_data(list(folders.values()), home / "merged"),
                     args.minutes * len(args.sets))
    top1 = service.make_experts(services, "top1", own)
    service.make_experts(services, "top2", own, top=2)
    print(f"gate accuracy on held-out facts: {top1.accuracy:.0%}", flush=True)

    gateway = Gateway(services.router, services.db, services.settings.server,
                      knowledge=services.knowledge, max_concurrent=services.max_in_flight,
                      experts_home=home)
    labels = {"base": base, "one adapter for all": single, "experts top-1": "experts:top1",
              "experts top-2": "experts:top2"}
    results: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in
                                                      [*labels, "own expert"]}
    cases: dict[str, dict[str, int]] = {}
    mixed = {0: 0, 1: 0, 2: 0}  # top-2: questions to the fallback, to one, to two experts
    started = time.perf_counter()
    for name in args.sets:
        file, cases[name] = eval_file(folders[name], home / f"eval-{name}.jsonl", args.cases)
        models = {**labels, "own expert": own[name]}
        plan = eval_service.prepare(services, file, list(models.values()),
                                    max_tokens=MAX_TOKENS)
        runs = asyncio.run(eval_service.execute(services, gateway, plan))
        for label, run in zip(models, runs, strict=True):
            results[label][name] = run.run.summary
        print(f"evaluated {name} ({time.perf_counter() - started:.0f} s)", flush=True)
        for line in file.read_text(encoding="utf-8").splitlines():
            routing = service.route(services, "top2", json.loads(line)["question"])
            mixed[len(routing.shares) if routing.domain else 0] += 1
    services.close()

    if args.out:
        args.out.write_text(json.dumps({"trainings": trainings, "cases": cases,
                                        "results": results, "mixed": mixed}, indent=2,
                                       default=str))
    publish(START, END, report(args, sizes, trainings, cases, results, top1.accuracy, mixed,
                               time.perf_counter() - started), not args.no_write)


def _cell(summaries: dict[str, dict[str, Any]], group: str) -> str:
    """Accuracy (or abstention for refusals) and hallucinations over all domains."""
    right = answered = halluc = abstained = requests = 0.0
    for summary in summaries.values():
        tag = summary["by_tag"].get(group)
        if not tag:
            continue
        n = tag["requests"]
        requests += n
        answered += tag.get("answers", n)
        right += (tag["accuracy"] or 0.0) * n
        halluc += (tag["hallucinations_per_1000"] or 0.0) * tag.get("answers", n) / 1000
        abstained += (tag["abstention_recall"] or 0.0) * n
    if not requests:
        return "-"
    if group == "refusal":
        return f"{abstained / requests:.0%} abstained"
    return f"{right / requests:.0%} · {1000 * halluc / max(answered, 1):.0f}"


def report(args: argparse.Namespace, sizes: dict[str, Any], trainings: dict[str, Any],
           cases: dict[str, Any],
           results: dict[str, dict[str, dict[str, Any]]], gate: float | None,
           mixed: dict[int, int], seconds: float) -> str:
    today = time.strftime("%Y-%m-%d")
    n = {g: sum(c[g] for c in cases.values()) for g in GROUPS}
    lines = [START, f"### Domain experts against one adapter and the base model ({today})", "",
             f"Command: `python benchmarks/experts_quality.py --sets {' '.join(args.sets)} "
             f"--minutes {args.minutes:g} --epochs {args.epochs} --facts {args.facts} "
             f"--cases {args.cases}`", "",
             f"Machine: {machine()}; default model, LoRA rank 16, {args.epochs} epochs at "
             f"most; each expert {args.minutes:g} min, the one adapter for all "
             f"{args.minutes * len(args.sets):g} min; closed-book answers of at most "
             f"{MAX_TOKENS} tokens; evaluation {seconds / 60:.0f} min; gate routing accuracy "
             f"on held-out facts {gate or 0:.0%}. Top-2 mixed two experts for {mixed[2]} of "
             f"{sum(mixed.values())} questions, one answered alone for {mixed[1]}, the "
             f"fallback for {mixed[0]}.", "",
             "Data per domain: " + "; ".join(
                 f"{k} {v['facts']} facts, {v['examples']} examples, trained on "
                 f"{v['facts_kept']} facts ({v['examples_kept']} examples)"
                 for k, v in sizes.items()) + ".", "",
             "Trainings: " + "; ".join(f"{k} {v['steps']}/{v['total_steps']} steps in "
                                       f"{v['minutes']} min, peak {v['peak_gib']} GiB"
                                       for k, v in trainings.items()) + ".", "",
             "Cells: accuracy · hallucinations per 1000 answers, over the three domains "
             f"({n['new-wording']} new-wording, {n['unseen-fact']} unseen-fact, "
             f"{n['refusal']} refusal cases).", "",
             "| model | new wordings of trained facts | facts held out of training | "
             "products that do not exist | failed requests |", "|---|---|---|---|---|"]
    for label, per_set in results.items():
        failed = sum(sum(s["errors"].values()) for s in per_set.values())
        lines.append(f"| {label} | " + " | ".join(_cell(per_set, g) for g in GROUPS)
                     + f" | {failed} |")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
