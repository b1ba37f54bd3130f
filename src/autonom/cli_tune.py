"""CLI commands for post-training: build data from a collection, train a LoRA adapter.

Registered on the main ``autonom`` app by :mod:`autonom.cli`.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from autonom import console
from autonom.config import compute_threads, load_settings
from autonom.services import Services
from autonom.tuning import service
from autonom.tuning.data import read_train
from autonom.tuning.train import Report, TrainSettings

tune_app = typer.Typer(help="Post-train the company's own model on its documents.",
                       no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@tune_app.command("data")
def data(
    collection: Annotated[str, typer.Option("--collection", "-c", help="the collection")],
    out: Annotated[Path | None, typer.Option(help="folder (default: HOME/tuning/data/"
                                             "COLLECTION)")] = None,
    test_share: Annotated[float, typer.Option(min=0.0, max=0.9, help="share of facts held "
                                              "out for testing")] = 0.2,
    as_json: AsJson = False,
) -> None:
    """Training data from a collection: questions and answers with provenance, reading and
    refusal examples, a held-out eval set split by fact."""
    settings = load_settings()
    services = Services(settings)
    folder, manifest, made = service.make_data(services.knowledge.store, settings.home,
                                               collection, out, test_share)
    if as_json:
        console.out.print_json(json.dumps({"folder": str(folder), **manifest},
                                          ensure_ascii=False))
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in manifest["kinds"].items())
    console.out.print(f"[bold]{collection}[/]: {manifest['facts']} facts "
                      f"({manifest['test_facts']} held out), {manifest['train']} training "
                      f"examples ({kinds}), {manifest['heldout']} held-out eval cases")
    for what, n in manifest["excluded"].items():
        console.out.print(f"left out: {n} {what}")
    console.out.print(f"written to {folder} (train.jsonl, heldout.jsonl, manifest.json)")
    for example in random.Random(0).sample(made.train, min(3, len(made.train))):
        question = example.messages[-2]["content"].rsplit("Frage: ", 1)[-1]
        console.out.print(f"  [dim]{example.kind}[/] {question} → "
                          f"{example.messages[-1]['content']}", markup=True)


@tune_app.command("train")
def train(
    data_dir: Annotated[Path, typer.Option("--data", help="folder made by autonom tune data")],
    base: Annotated[str | None, typer.Option(help="model from the store (default: the "
                                             "default model)")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default: HOME/tuning/runs/"
                                             "TIME)")] = None,
    epochs: Annotated[int, typer.Option(min=1, max=100)] = 4,
    rank: Annotated[int, typer.Option(min=1, max=256)] = 16,
    lr: Annotated[float, typer.Option(help="learning rate")] = 1e-3,
    batch_size: Annotated[int, typer.Option(min=1, max=512)] = 8,
    max_minutes: Annotated[float | None, typer.Option(help="stop after this long and write "
                                                      "the adapter so far")] = None,
    as_json: AsJson = False,
) -> None:
    """LoRA-train a model on the data; writes a GGUF adapter the engine loads. Interrupted
    runs resume from their checkpoint with the same command and --out."""
    settings = load_settings()
    services = Services(settings)
    options = TrainSettings(epochs=epochs, rank=rank, alpha=2.0 * rank, lr=lr,
                            batch_size=batch_size, max_minutes=max_minutes)
    examples = len(read_train(data_dir))
    console.err.print(f"training {base or settings.default_model} on {examples} examples …")
    with _terminated_as_interrupt(), _bar() as report:
        made = service.train_adapter(services.registry, settings.home,
                                     base or settings.default_model, data_dir, out, options,
                                     progress=report, threads=compute_threads())
    if as_json:
        console.out.print_json(json.dumps(made.to_json()))
        return
    state = "complete" if made.complete else f"stopped at step {made.steps} of {made.total_steps}"
    last = made.losses[-10:]
    loss = sum(last) / len(last) if last else float("nan")
    console.out.print(f"adapter: {made.adapter} ({state}; {made.steps} steps on {made.device}, "
                      f"{made.wall_seconds / 60:.1f} min, peak memory "
                      f"{made.peak_rss_mb / 1024:.1f} GB, final loss {loss:.3f})")


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM stops training like Ctrl-C: the checkpoint is kept."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _bar() -> Iterator[Report]:
    if not console.err.is_terminal:
        last = [0.0]

        def lines(step: int, total: int, loss: float | None) -> None:
            if time.monotonic() - last[0] > 10 or step == total:
                last[0] = time.monotonic()
                console.err.print(f"step {step}/{total} loss {loss:.3f}", markup=False)
        yield lines
        return
    bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                   console=console.err)
    with bar:
        task = bar.add_task("training", total=None, loss="-")

        def update(step: int, total: int, loss: float | None) -> None:
            bar.update(task, completed=step, total=total,
                       loss=f"{loss:.3f}" if loss is not None else "-")
        yield update
