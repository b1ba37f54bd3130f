"""Post-training on a company's documents: what it buys over the base model, and at what cost.

    python benchmarks/tune.py                                  # the sample company
    python benchmarks/tune.py --docs benchmarks/data/logistik/docs --collection logistik
    python benchmarks/tune.py --documents                      # also answers from documents

In a fresh home: index the documents, build training data (``autonom tune data``), LoRA-train
the default model (``tune train``), register the run and evaluate it against the base model on
the held-out set (``tune eval``), the way a user would, through the service functions the CLI
calls. Prints training time, peak memory, and per tag: accuracy, hallucinations per 1000
answers, abstention on questions about products that do not exist.

Tags of the held-out set: ``new-wording`` — trained facts asked in a wording not trained on;
``unseen-fact`` — facts held out of training (closed-book, the model cannot know them: a
right answer there would be a guess; what matters is that it does not invent more);
``refusal`` — questions about invented products; ``documents`` — the same questions answered
from the documents in read mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from autonom.config import compute_threads, load_settings
from autonom.knowledge import SAMPLE_DIR
from autonom.models.pull import pull
from autonom.services import Services
from autonom.services import tuning as service
from autonom.services.gateway import Gateway
from autonom.tuning.train import TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=SAMPLE_DIR / "pumpenwerk")
    parser.add_argument("--collection", default="pumpenwerk")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--max-minutes", type=float, default=15.0)
    parser.add_argument("--documents", action="store_true",
                        help="also evaluate answers from documents (read mode; slow)")
    parser.add_argument("--unknown-share", type=float, default=None,
                        help="share of trained facts taught closed-book as not known "
                        "(default: autonom's)")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="autonom-tune-bench-"))
    services = Services(load_settings(home=home))
    pull(services.settings.default_model, services.registry, services.settings)
    services.knowledge.ingest([args.docs], args.collection)
    shares = {} if args.unknown_share is None else {"unknown_share": args.unknown_share}
    folder, manifest, _ = service.make_data(services.knowledge.store, home, args.collection,
                                            **shares)
    print(f"data: {manifest['facts']} facts ({manifest['test_facts']} held out), "
          f"{manifest['train']} examples {manifest['kinds']}, {manifest['heldout']} eval cases")

    started = time.monotonic()

    def progress(step: int, total: int, loss: float | None) -> None:
        if step % 10 == 0 or step == total:
            print(f"  step {step}/{total} loss {loss:.3f} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)

    settings = TrainSettings(epochs=args.epochs, rank=args.rank, alpha=2.0 * args.rank,
                             lr=args.lr, max_minutes=args.max_minutes)
    report = service.train_adapter(services.registry, home, services.settings.default_model,
                                   folder, home / "run", settings, progress=progress,
                                   threads=compute_threads())
    print(f"training: {report.steps}/{report.total_steps} steps, {report.wall_seconds / 60:.1f} "
          f"min, peak RSS {report.peak_rss_mb / 1024:.1f} GiB, device {report.device}")

    version = service.register(services, home / "run", f"{args.collection}-tuned")
    gateway = Gateway(services.router, services.db, services.settings.server,
                      knowledge=services.knowledge, max_concurrent=services.max_in_flight)
    tags = None if args.documents else ["closed-book"]
    eval_started = time.monotonic()
    measured = asyncio.run(service.evaluate(services, gateway, version,
                                            [folder / "heldout.jsonl"], tags))
    print(f"evaluation: {time.monotonic() - eval_started:.0f} s")
    _table(measured)
    print("gate:", "passed" if measured["passed"] else "; ".join(measured["refusals"]))
    if args.out:
        args.out.write_text(json.dumps({"manifest": manifest, "training": report.to_json(),
                                        "metrics": measured}, indent=2))
    services.close()


def _table(measured: dict) -> None:
    mine = measured["candidate"]["heldout"]
    theirs = measured["production"]["heldout"]
    print("| tag | cases | accuracy base → tuned | hallucinations/1000 base → tuned | "
          "abstained base → tuned |\n|---|---|---|---|---|")
    for tag in sorted(mine["by_tag"]):
        a, b = theirs["by_tag"][tag], mine["by_tag"][tag]
        print(f"| {tag} | {b['requests']} | {_pct(a['accuracy'])} → {_pct(b['accuracy'])} | "
              f"{_num(a['hallucinations_per_1000'])} → {_num(b['hallucinations_per_1000'])} | "
              f"{_pct(a['abstention_recall'])} → {_pct(b['abstention_recall'])} |")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    main()
