"""Starting an eval run: what ``autonom eval run`` and the web UI share.

:func:`prepare` checks everything that can be refused before the first question (the set,
its tags, the models, the limits, the collections it needs) and returns a :class:`Plan`;
:func:`execute` asks the questions through the given gateway, stores one run per model and
returns them. The CLI runs a plan in the foreground; the server runs it as a background job
on its own gateway, so its limits and request log apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.evals import dataset
from autonom.evals.dataset import EvalSet
from autonom.knowledge import SAMPLE_DIR
from autonom.services.assembly import Services
from autonom.services.eval_runner import Runner, Target, check_limits, evaluate, select
from autonom.services.gateway import Gateway
from autonom.store.evals import EvalStore, RunData
from autonom.types import GenerationOptions

SAMPLE_SET = Path(dataset.__file__).parent / "sample" / "pumpenwerk.yaml"
MIXED_SET = SAMPLE_SET.with_name("gemischt.yaml")
"""Easy and hard questions without documents, for routing by complexity."""
BUILT_IN = {"sample": SAMPLE_SET, "mixed": MIXED_SET}
SAMPLE_COLLECTION = "pumpenwerk"
AnswerMode = Literal["read", "generate", "extractive", "auto"]


def set_path(file: str) -> Path:
    return BUILT_IN.get(file) or Path(file)


def stored_sets(services: Services) -> list[str]:
    """The sets the web UI offers: the built-in ones and the files in ``HOME/evals``."""
    folder = services.settings.home / "evals"
    files = sorted(p.name for p in folder.glob("*") if p.suffix in (".yaml", ".yml", ".jsonl")) \
        if folder.is_dir() else []
    return [*BUILT_IN, *files]


def stored_set_path(services: Services, name: str) -> Path:
    """A set the UI may start: built-in, or a file directly in ``HOME/evals``."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if name not in stored_sets(services):
        raise NotFoundError(f"no stored eval set {name!r}")
    return services.settings.home / "evals" / name


@dataclass
class Plan:
    eval_set: EvalSet
    targets: list[Target]
    file: Path
    concurrency: int
    repeat: int
    options: GenerationOptions
    judge: str | None

    @property
    def total(self) -> int:
        """Questions to ask in all."""
        return sum(len(t.cases(self.eval_set.cases)) for t in self.targets) * self.repeat

    def skipped(self) -> list[tuple[str, int]]:
        """Per target: cases it does not answer (extractive needs a collection)."""
        return [(t.label, n) for t in self.targets
                if (n := len(self.eval_set.cases) - len(t.cases(self.eval_set.cases)))]


def prepare(services: Services, file: Path, models: list[str], *, concurrency: int = 1,
            repeat: int = 1, answer_mode: AnswerMode = "read", tags: list[str] | None = None,
            max_tokens: int = 256, temperature: float = 0.0, judge: str | None = None,
            say: Callable[[str], None] | None = None) -> Plan:
    if answer_mode not in ("read", "generate", "extractive", "auto"):
        raise InvalidRequestError("--answer-mode must be generate, extractive or auto")
    if not models:
        raise InvalidRequestError("name at least one model to evaluate")
    check_limits(concurrency, repeat)
    eval_set = select(dataset.load(file), tags or [])
    targets = [Target.parse(m, answer_mode) for m in models]
    if file == SAMPLE_SET:
        index_sample_if_missing(services, say)
    return Plan(eval_set, targets, file, concurrency, repeat,
                GenerationOptions(temperature=temperature, seed=0, max_tokens=max_tokens),
                judge or services.settings.eval.judge_model)


async def execute(services: Services, gateway: Gateway, plan: Plan,
                  advance: Callable[[], None] | None = None) -> list[RunData]:
    judge_fn = None
    if plan.judge:
        from autonom.evals.judge import judge_with

        judge_fn = judge_with(services.router, plan.judge)
    runner = Runner(gateway, services.knowledge, documents_reader(services), judge_fn,
                    plan.options, timeout_s=services.settings.server.request_timeout_s)
    return await evaluate(
        runner, plan.eval_set, plan.targets, EvalStore(services.db), plan.concurrency,
        plan.repeat, advance,
        settings={"judge": plan.judge, "max_tokens": plan.options.max_tokens,
                  "temperature": plan.options.temperature, "file": str(plan.file)})


def documents_reader(services: Services) -> Callable[[str, str], str | None]:
    """A document's stored text by collection and source (cached), for citation checks."""
    cache: dict[tuple[str, str], str | None] = {}

    def text(collection: str, source: str) -> str | None:
        if (collection, source) not in cache:
            try:
                record = services.knowledge.store.document(collection, source, chunks=False)
                cache[(collection, source)] = record.text
            except NotFoundError:
                cache[(collection, source)] = None
        return cache[(collection, source)]

    return text


def index_sample_if_missing(services: Services,
                            say: Callable[[str], None] | None = None) -> None:
    try:
        services.knowledge.store.collection(SAMPLE_COLLECTION)
    except NotFoundError:
        if say is not None:
            say(f"indexing the sample documents into {SAMPLE_COLLECTION} …")
        services.knowledge.ingest([SAMPLE_DIR / SAMPLE_COLLECTION], SAMPLE_COLLECTION)
