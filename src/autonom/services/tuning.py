"""What every front door calls to tune: where data and runs live, which base model, limits.

Training data goes to ``HOME/tuning/data/COLLECTION`` and each training run to
``HOME/tuning/runs/RUN`` unless a folder is given. A run registered as a version keeps its
adapter in ``HOME/tuning/versions/NAME/N`` and answers as the model ``NAME:vN``; the version
that passed the gate and was promoted answers as ``NAME``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autonom.errors import GateRefusedError, InvalidRequestError
from autonom.models.registry import Registry, check_mixable, normalise_name
from autonom.services import evals as eval_service
from autonom.services.assembly import Services
from autonom.services.gateway import Gateway
from autonom.services.grounding import parse_target
from autonom.store.conversations import RatedAnswer
from autonom.store.documents import DocumentStore
from autonom.store.tune_versions import TuneVersion, VersionStore
from autonom.tuning import data as tune_data
from autonom.tuning import experts, export
from autonom.tuning.gate import GatePolicy, refusals
from autonom.tuning.train import Report, TrainReport, TrainSettings, train


def tuning_dir(home: Path) -> Path:
    return home / "tuning"


def data_dir(home: Path, collection: str) -> Path:
    """Where ``tune data`` puts a collection's training data by default."""
    return tuning_dir(home) / "data" / collection


def make_data(store: DocumentStore, home: Path, collection: str, out: Path | None = None,
              test_share: float = tune_data.TEST_SHARE, rated: Sequence[RatedAnswer] = (),
              unknown_share: float = tune_data.UNKNOWN_SHARE
              ) -> tuple[Path, dict[str, Any], tune_data.TuneData]:
    """Builds and writes the training data of a collection (with the answers ``rated`` good
    about it, :func:`rated_answers`); returns folder, manifest, data."""
    data = tune_data.build(store, collection, test_share=test_share, rated=rated,
                           unknown_share=unknown_share)
    folder = out or data_dir(home, collection)
    _check_writable(folder)
    return folder, tune_data.write(data, folder), data


def rated_answers(services: Services, collection: str | None = None,
                  rating: str = "good") -> list[RatedAnswer]:
    """Answers rated in the web UI (``good`` or ``bad``), oldest first; with ``collection``
    only those a ``rag:COLLECTION`` model gave."""
    out = []
    for rated in services.conversations.rated(rating):
        if collection is None or _collection_of(rated.model) == collection:
            out.append(rated)
    return out


def _collection_of(model: str | None) -> str | None:
    try:
        target = parse_target(model or "")
    except InvalidRequestError:
        return None
    return target.collection if target else None


def train_adapter(registry: Registry, home: Path, base: str, data_dir: Path,
                  out: Path | None = None, settings: TrainSettings | None = None,
                  progress: Report | None = None, threads: int | None = None,
                  stop: Callable[[], bool] | None = None) -> TrainReport:
    """LoRA-trains the store's model ``base`` on ``data_dir``; the adapter lands in ``out``."""
    settings = settings or TrainSettings()
    settings.check()
    tune_data.read_manifest(data_dir)  # refuses a folder that is not training data, early
    record = registry.resolve(base)
    folder = out or tuning_dir(home) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    _check_writable(folder)
    return train(record.path, record.name, data_dir, folder, settings, progress=progress,
                 threads=threads, stop=stop)


def count_examples(data_dir: Path) -> int:
    """Training examples in a data folder (``autonom tune data`` made it)."""
    return len(tune_data.read_train(data_dir))


def versions(services: Services, name: str | None = None) -> list[TuneVersion]:
    """Tuned models' versions (of one model, or all)."""
    return VersionStore(services.db).list(name)


def version(services: Services, name: str, number: int | None = None) -> TuneVersion:
    """One version of a tuned model (default: the newest)."""
    return VersionStore(services.db).get(name, number)


def route(services: Services, name: str, question: str) -> experts.Routing:
    """Which expert of the set ``name`` a question goes to, with the gate's scores."""
    return experts.resolve(services.settings.home, services.knowledge,
                           experts.PREFIX + name, question)


def _check_writable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InvalidRequestError(f"{folder} exists and is not a folder")


# -- versions, the gate, promotion ------------------------------------------------------------


def register(services: Services, run: Path, name: str) -> TuneVersion:
    """Keeps a training run's adapter as the next version of ``name`` (a candidate) and makes
    it answerable as the model ``NAME:vN``."""
    name = normalise_name(name)
    if ":" in name:
        raise InvalidRequestError("a tuned model's name has no tag: versions are NAME:vN")
    try:
        report = json.loads((run / "training.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{run} is not a finished training run (training.json: "
                                  f"{exc})") from exc
    adapter = run / "adapter.gguf"
    if not export.is_adapter(adapter):
        raise InvalidRequestError(f"{adapter} is not a LoRA adapter")
    base = services.registry.resolve(report["base"])
    store = VersionStore(services.db)
    origin = str(run.resolve())
    for known in store.list(name):
        if known.training.get("run") == origin:
            return known  # this run is a version already
    number = store.next_number(name)
    kept = tuning_dir(services.settings.home) / "versions" / name / str(number) / "adapter.gguf"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(adapter, kept)
    version = TuneVersion(name=name, number=number, base=base.name, adapter=str(kept),
                          data_digest=report["data_digest"], collection=_collection(report),
                          training={"run": origin,
                                    **{k: report.get(k) for k in _TRAINING_FACTS}})
    services.registry.add_tuned(version.model, base, kept, f"tune:{version.model}")
    return store.add(version)


_TRAINING_FACTS = ("steps", "total_steps", "complete", "examples", "wall_seconds",
                   "peak_rss_mb", "device", "settings", "data_dir")


def _collection(report: dict[str, Any]) -> str | None:
    folder = report.get("data_dir")
    if not folder:
        return None
    try:
        return str(tune_data.read_manifest(Path(folder)).get("collection"))
    except InvalidRequestError:
        return None


def heldout_set(version: TuneVersion) -> Path | None:
    """The held-out eval set of the data the version was trained on, if still there."""
    folder = version.training.get("data_dir")
    path = Path(folder) / "heldout.jsonl" if folder else None
    return path if path is not None and path.is_file() else None


def production_model(services: Services, version: TuneVersion) -> str:
    """What the candidate must beat: the serving version, else its base model."""
    serving = VersionStore(services.db).serving(version.name)
    return serving.model if serving else version.base


async def evaluate(services: Services, gateway: Gateway, version: TuneVersion,
                   sets: list[Path], tags: list[str] | None = None,
                   policy: GatePolicy | None = None,
                   advance: Callable[[], None] | None = None) -> dict[str, Any]:
    """Runs each eval set for the candidate and the production model, decides the gate,
    stores and returns the metrics."""
    if not sets:
        raise InvalidRequestError("name at least one eval set (the held-out set of the "
                                  "training data is used when the run knows its data)")
    policy = policy or GatePolicy()
    against = production_model(services, version)
    cases: dict[str, dict[str, Any]] = {"candidate": {}, "production": {}}
    refused: list[str] = []
    for file in sets:
        plan = eval_service.prepare(services, file, [version.model, against],
                                    answer_mode="read", tags=tags or [])
        runs = await eval_service.execute(services, gateway, plan, advance)
        mine, theirs = runs[0].run.summary, runs[1].run.summary
        cases["candidate"][plan.eval_set.name] = mine
        cases["production"][plan.eval_set.name] = theirs
        refused += [f"{plan.eval_set.name}: {r}" for r in refusals(mine, theirs, policy)]
    metrics = {"against": against, "sets": [str(s) for s in sets], "tags": tags or [],
               "tolerance": policy.tolerance, **cases, "refusals": refused,
               "passed": not refused, "measured_at": time.time()}
    VersionStore(services.db).set_metrics(version.name, version.number, metrics)
    return metrics


def promote(services: Services, name: str, number: int | None = None,
            force: str | None = None) -> TuneVersion:
    """Points the model ``name`` at a version, only if its gate passed (or ``force`` gives
    the reason to override it, which is recorded)."""
    store = VersionStore(services.db)
    version = store.get(name, number)
    if version.state == "serving":
        raise InvalidRequestError(f"{version.model} is already serving")
    if force is not None and not force.strip():
        raise InvalidRequestError("--force needs a reason")
    if not force:
        if not version.metrics:
            raise InvalidRequestError(f"{version.model} has not been evaluated: autonom tune "
                                      "eval first")
        if version.metrics.get("against") != production_model(services, version):
            raise InvalidRequestError(f"{version.model} was measured against "
                                      f"{version.metrics.get('against')}, which no longer "
                                      "serves: evaluate it again")
        if not version.metrics.get("passed"):
            raise GateRefusedError(f"the gate refuses {version.model}: "
                                   + "; ".join(version.metrics.get("refusals", [])[:5]))
    _point(services, version)
    store.serve(name, version.number, f"forced: {force}" if force else "gate passed")
    return store.get(name, version.number)


def rollback(services: Services, name: str) -> TuneVersion:
    """The version that served before serves again; the current one is withdrawn."""
    store = VersionStore(services.db)
    current = store.serving(name)
    if current is None:
        raise InvalidRequestError(f"no version of {name!r} is serving")
    previous = store.previous(name)
    if previous is None:
        raise InvalidRequestError(f"{current.model} is the first version that served; "
                                  f"nothing to roll back to (autonom rm {name} stops serving "
                                  "it)")
    _point(services, previous)
    store.serve(name, previous.number, f"rollback from v{current.number}")
    store.set_state(name, current.number, "withdrawn")
    return store.get(name, previous.number)


def _point(services: Services, version: TuneVersion) -> None:
    base = services.registry.resolve(version.base)
    services.registry.add_tuned(version.name, base, Path(version.adapter),
                                f"tune:{version.model}")


# -- one command for short intervals --------------------------------------------------------


async def run_cycle(services: Services, gateway: Gateway, collection: str, name: str,
                    base: str, settings: TrainSettings | None = None,
                    progress: Report | None = None, say: Callable[[str], None] | None = None,
                    threads: int | None = None, tags: list[str] | None = None,
                    rated: bool = False) -> dict[str, Any]:
    """data → train → eval → promote if the gate passes. When a version of ``name`` was
    already trained on the same data, base and settings, nothing is trained. Every cycle is
    appended to ``HOME/tuning/cycles.jsonl``. With ``rated``, answers rated good about the
    collection are learnt too."""
    settings = settings or TrainSettings()
    settings.check()
    home = services.settings.home
    say = say or (lambda _: None)
    started = time.time()
    folder, manifest, _ = make_data(services.knowledge.store, home, collection,
                                    rated=rated_answers(services, collection) if rated else ())
    record = services.registry.resolve(base)
    for known in VersionStore(services.db).list(normalise_name(name)):
        if (known.data_digest == manifest["digest"] and known.base == record.name
                and known.training.get("settings") == _settings_json(settings)):
            return _log_cycle(home, {"collection": collection, "name": name,
                                     "outcome": "unchanged", "version": known.model,
                                     "started_at": started})
    say(f"training {record.name} on {manifest['train']} examples of {collection}")
    run = tuning_dir(home) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    report = train_adapter(services.registry, home, record.name, folder, run, settings,
                           progress=progress, threads=threads)
    version = register(services, run, name)
    say(f"evaluating {version.model} against {production_model(services, version)}")
    held = heldout_set(version)
    measured = await evaluate(services, gateway, version, [held] if held else [], tags)
    outcome = "refused"
    if measured["passed"]:
        promote(services, version.name, version.number)
        outcome = "promoted"
    return _log_cycle(home, {"collection": collection, "name": name, "outcome": outcome,
                             "version": version.model, "refusals": measured["refusals"],
                             "training_minutes": round(report.wall_seconds / 60, 1),
                             "started_at": started})


def _settings_json(settings: TrainSettings) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(settings)


def _log_cycle(home: Path, entry: dict[str, Any]) -> dict[str, Any]:
    entry = {**entry, "finished_at": time.time()}
    path = tuning_dir(home) / "cycles.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entry


def domain_questions(store: DocumentStore, collection: str) -> tuple[list[str], list[str]]:
    """A collection's questions for the expert gate: those its training data teaches, and
    those about facts it holds out entirely."""
    data = tune_data.build(store, collection)
    taught = sorted({e.messages[0]["content"] for e in data.train
                     if e.kind in ("closed", "unknown")})
    held = sorted({str(c["question"]) for c in data.heldout
                   if "unseen-fact" in c.get("tags", ())})
    return taught, held


def make_experts(services: Services, name: str, domains: dict[str, str],
                 fallback: str | None = None, documents: bool = False,
                 top: int = 1) -> experts.ExpertSet:
    """Fit and store the expert set ``name``: ``domains`` maps a collection to the model
    that answers its questions (e.g. the version ``autonom tune run`` made for it). With
    ``top=2`` the two likeliest experts answer mixed, which needs them all to be tuned
    models of one base model."""
    experts.check_name(name)
    experts.check_top(top, documents)
    if top == 2:
        check_mixable([services.registry.resolve(m) for m in domains.values()])
    embedder = services.knowledge.embedder
    if embedder is None:
        raise InvalidRequestError("the expert gate needs an embedder "
                                  "(knowledge.embedder.kind is 'none')")
    taught: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    for collection in domains:
        services.knowledge.store.collection(collection)  # raises NotFoundError
        taught[collection], held[collection] = domain_questions(services.knowledge.store,
                                                                collection)
    collections = {c: c for c in domains}
    passages = experts.collection_passages(services.knowledge, collections)
    made = experts.build(name, taught, domains, passages, experts.query_embedder(embedder),
                         embedder.name, fallback or services.settings.default_model,
                         documents=documents, collections=collections,
                         heldout={c: experts.spread(q, experts.MAX_CALIBRATION)
                                  for c, q in held.items()}, top=top)
    experts.save(services.settings.home, made)
    return made

