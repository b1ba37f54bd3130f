"""CLI commands for post-training: data from a collection, LoRA training, the evaluation
gate, versions (promote, rollback, list, show).

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from autonom.cli import console
from autonom.config import compute_threads, load_settings
from autonom.errors import InvalidRequestError
from autonom.services import Services
from autonom.services import tuning as service
from autonom.tuning.data import UNKNOWN_SHARE
from autonom.tuning.gate import GatePolicy
from autonom.tuning.train import TrainSettings

if TYPE_CHECKING:
    from autonom.tuning.train import Report

tune_app = typer.Typer(
    rich_markup_mode=None,
    help="Post-train the company's own model on its documents.",
    no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
Rated = Annotated[bool, typer.Option("--rated", help="also learn from the answers rated good "
                                     "in the web UI (from rag:COLLECTION)")]


@tune_app.command("data")
def data(
    collection: Annotated[str, typer.Option("--collection", "-c", help="the collection")],
    out: Annotated[Path | None, typer.Option(help="folder (default: HOME/tuning/data/"
                                             "COLLECTION)")] = None,
    test_share: Annotated[float, typer.Option(min=0.0, max=0.9, help="share of facts held "
                                              "out for testing")] = 0.2,
    rated: Rated = False,
    unknown_share: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="share of the trained facts taught closed-book as not known "
        "(their passages are still read)")] = UNKNOWN_SHARE,
    as_json: AsJson = False,
) -> None:
    """Training data from a collection: questions and answers with provenance, reading and
    refusal examples, a held-out eval set split by fact."""
    settings = load_settings()
    services = Services(settings)
    answers = service.rated_answers(services, collection) if rated else []
    folder, manifest, made = service.make_data(services.knowledge.store, settings.home,
                                               collection, out, test_share, answers,
                                               unknown_share)
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
        console.out.print(f"  [dim]{example.kind}[/] {escape(question)} → "
                          f"{escape(example.messages[-1]['content'])}", markup=True)


@tune_app.command("rated")
def rated_list(
    collection: Annotated[str | None, typer.Option(
        "--collection", "-c", help="only answers from this collection (rag:COLLECTION)")]
        = None,
    bad: Annotated[bool, typer.Option("--bad", help="the answers rated bad instead")] = False,
    as_json: AsJson = False,
) -> None:
    """Answers people rated in the web UI: the good ones are what tune data --rated learns."""
    services = Services(load_settings())
    answers = service.rated_answers(services, collection, "bad" if bad else "good")
    if as_json:
        console.out.print_json(json.dumps([a.to_json() for a in answers],
                                          ensure_ascii=False))
        return
    if not answers:
        console.out.print(f"no answers rated {'bad' if bad else 'good'}")
        return
    for a in answers:
        asked = next((m.content for m in reversed(a.messages) if m.role == "user"), "")
        console.out.print(f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(a.rated_at))}  "
                          f"{a.model}  {a.conversation}#{a.ordinal}", markup=False)
        console.out.print(f"  {_short(asked)} → {_short(a.messages[-1].content)}",
                          markup=False)


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@tune_app.command("train")
def train(
    data_dir: Annotated[Path | None, typer.Option(
        "--data", help="folder made by autonom tune data")] = None,
    collection: Annotated[str | None, typer.Option(
        "--collection", "-c", help="instead of --data: the data autonom tune data made for "
        "this collection")] = None,
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
    if (data_dir is None) == (collection is None):
        raise InvalidRequestError("give either --data FOLDER or --collection NAME")
    data_dir = data_dir or service.data_dir(settings.home, str(collection))
    services = Services(settings)
    options = TrainSettings(epochs=epochs, rank=rank, alpha=2.0 * rank, lr=lr,
                            batch_size=batch_size, max_minutes=max_minutes)
    examples = service.count_examples(data_dir)
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


@tune_app.command("run")
def run_cycle(
    collection: Annotated[str, typer.Option("--collection", "-c", help="the collection")],
    name: Annotated[str | None, typer.Option(help="the tuned model (default: the "
                                             "collection's name)")] = None,
    base: Annotated[str | None, typer.Option(help="model from the store (default: the "
                                             "default model)")] = None,
    epochs: Annotated[int, typer.Option(min=1, max=100)] = 6,
    rank: Annotated[int, typer.Option(min=1, max=256)] = 16,
    lr: Annotated[float, typer.Option(help="learning rate")] = 1e-3,
    max_minutes: Annotated[float | None, typer.Option(help="training time limit")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="gate only on held-out cases with "
                                                  "this tag (e.g. closed-book)")] = None,
    rated: Rated = False,
) -> None:
    """data → train → eval → promote if the gate passes; does nothing when the documents,
    base model and settings are those of an existing version (for a timer or cron job)."""
    settings = load_settings()
    services = Services(settings)
    options = TrainSettings(epochs=epochs, rank=rank, alpha=2.0 * rank, lr=lr,
                            max_minutes=max_minutes)
    try:
        gateway = services.gateway()
        with _terminated_as_interrupt(), _bar() as report:
            cycle = asyncio.run(service.run_cycle(
                services, gateway, collection, name or collection,
                base or settings.default_model, options, progress=report,
                say=console.err.print, threads=compute_threads(), tags=tag, rated=rated))
    finally:
        services.close()
    words = {"unchanged": "nothing changed since", "promoted": "promoted",
             "refused": "the gate refused"}
    console.out.print(f"{words[cycle['outcome']]} {cycle['version']}")
    for reason in cycle.get("refusals", []):
        console.out.print(f"gate refuses: {reason}")


@tune_app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="a run folder made by autonom tune train")],
    name: Annotated[str, typer.Option(help="the tuned model's name (versions: NAME:vN)")],
    eval_set: Annotated[list[Path] | None, typer.Option(
        "--set", help="eval sets (default: the held-out set of the run's training data)")]
        = None,
    tag: Annotated[list[str] | None, typer.Option(help="only cases with this tag")] = None,
    tolerance: Annotated[float, typer.Option(min=0.0, max=1.0, help="accuracy and recall "
                                             "may drop by this share per tag")] = 0.0,
    as_json: AsJson = False,
) -> None:
    """Measure a trained run against the serving version (or the base model) and decide the
    gate; the run becomes the candidate version NAME:vN."""
    services = Services(load_settings())
    try:
        version = service.register(services, run, name)
        sets = list(eval_set or [])
        if not sets and (held := service.heldout_set(version)) is not None:
            sets.append(held)
        gateway = services.gateway()
        console.err.print(f"{version.model} against {service.production_model(services, version)}")
        measured = asyncio.run(service.evaluate(services, gateway, version, sets, tag,
                                                GatePolicy(tolerance)))
    finally:
        services.close()
    if as_json:
        console.out.print_json(json.dumps({"version": version.model, **measured}))
        return
    _print_comparison(measured)
    if measured["passed"]:
        console.out.print(f"gate passed: autonom tune promote {version.name} --version "
                          f"{version.number}")
    else:
        for reason in measured["refusals"]:
            console.out.print(f"gate refuses: {reason}")


def _print_comparison(measured: dict[str, Any]) -> None:
    rows = []
    for set_name, mine in measured["candidate"].items():
        theirs = measured["production"][set_name]
        for tag in sorted(set(mine.get("by_tag", {})) | {""}):
            a = mine.get("by_tag", {}).get(tag, mine) if tag else mine
            b = theirs.get("by_tag", {}).get(tag, theirs) if tag else theirs
            rows.append([set_name, tag or "all", _pct(a.get("accuracy")),
                         _pct(b.get("accuracy")), _num(a.get("hallucinations_per_1000")),
                         _num(b.get("hallucinations_per_1000")),
                         _pct(a.get("abstention_recall")), _pct(b.get("abstention_recall"))])
    console.table(["set", "tag", "accuracy new", "accuracy now", "halluc./1000 new",
                   "halluc./1000 now", "abstention new", "abstention now"], rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@tune_app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="the tuned model")],
    version: Annotated[int | None, typer.Option(help="version number (default: newest)")]
        = None,
    force: Annotated[str | None, typer.Option(help="promote despite the gate; the reason is "
                                              "recorded")] = None,
) -> None:
    """Serve a version under NAME, if its gate passed."""
    services = Services(load_settings())
    made = service.promote(services, name, version, force)
    console.out.print(f"{made.name} now answers with {made.model} ({made.reason}); running "
                      "servers pick it up with the next request")


@tune_app.command("rollback")
def rollback(name: Annotated[str, typer.Argument(help="the tuned model")]) -> None:
    """Serve the version that served before."""
    services = Services(load_settings())
    made = service.rollback(services, name)
    console.out.print(f"{made.name} answers with {made.model} again")


@tune_app.command("list")
def list_versions(
    name: Annotated[str | None, typer.Argument(help="only this tuned model")] = None,
    as_json: AsJson = False,
) -> None:
    """Tuned models and their versions: state, base, data, gate."""
    versions = service.versions(Services(load_settings()), name)
    if as_json:
        console.out.print_json(json.dumps([v.to_json() for v in versions]))
        return
    console.table(
        ["model", "state", "base", "collection", "data", "trained", "gate"],
        [[v.model, v.state, v.base, v.collection or "-", v.data_digest[:12],
          time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created_at)),
          _gate_word(v.metrics)] for v in versions])


@tune_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="the tuned model")],
    version: Annotated[int | None, typer.Option(help="version number (default: newest)")]
        = None,
) -> None:
    """One version with its training facts and measurements (JSON)."""
    found = service.version(Services(load_settings()), name, version)
    console.out.print_json(json.dumps(found.to_json(), ensure_ascii=False))


def _gate_word(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "not evaluated"
    return "passed" if metrics.get("passed") else "refused"


@tune_app.command("experts")
def make_experts(
    name: Annotated[str, typer.Argument(help="the expert set; used as model experts:NAME")],
    domain: Annotated[list[str], typer.Option(
        "--domain", help="COLLECTION=MODEL: questions like this collection's go to MODEL "
        "(repeat; at least two)")],
    fallback: Annotated[str | None, typer.Option(
        help="model for questions the gate is unsure about (default: the default model)")]
        = None,
    documents: Annotated[bool, typer.Option(
        "--documents", help="answer from the chosen domain's collection (rag:), worded by "
        "its expert")] = False,
    top: Annotated[int, typer.Option(
        help="experts per question: 1, or 2 mixed by the gate's probabilities (tuned models "
        "of one base model, without --documents)")] = 1,
    as_json: AsJson = False,
) -> None:
    """Domain experts: fit a gate on each collection's training questions that sends every
    question to its domain's model; reports the gate's accuracy on held-out questions."""
    domains: dict[str, str] = {}
    for item in domain:
        collection, sep, model = item.partition("=")
        if not sep or not collection.strip() or not model.strip():
            raise InvalidRequestError(f"--domain {item!r}: write COLLECTION=MODEL")
        domains[collection.strip()] = model.strip()
    services = Services(load_settings())
    made = service.make_experts(services, name, domains, fallback, documents, top)
    if as_json:
        console.out.print_json(json.dumps(made.to_json(), ensure_ascii=False))
        return
    console.table(["domain", "model", "calibration questions"],
                  [[d.name, d.model, str(made.fitted_on[d.name])] for d in made.domains])
    accuracy = "not measured" if made.accuracy is None else f"{made.accuracy:.0%}"
    console.out.print(f"gate accuracy on held-out questions: {accuracy}; use the model "
                      f"experts:{made.name}")


@tune_app.command("route")
def route(
    name: Annotated[str, typer.Argument(help="the expert set")],
    question: Annotated[str, typer.Argument(help="a question")],
) -> None:
    """Which expert a question goes to, and the gate's scores."""
    services = Services(load_settings())
    routing = service.route(services, name, question)
    if len(routing.shares) > 1:
        console.out.print(" + ".join(f"{d} {w:.2f}" for d, w in routing.shares.items())
                          + " → " + " + ".join(m for m, w in routing.mix.items() if w > 0))
    else:
        console.out.print(f"{routing.domain or 'fallback'} → {routing.target} "
                          f"(confidence {routing.confidence:.2f})")
    console.table(["domain", "score"], [[d, f"{s:.3f}"] for d, s in
                                        sorted(routing.scores.items(), key=lambda x: -x[1])])


def register(app: typer.Typer) -> None:
    app.add_typer(tune_app, name="tune")
