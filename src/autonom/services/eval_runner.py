"""Asks an eval set's questions of one model configuration and scores every answer.

Cases with a ``collection`` are answered from the documents (retrieval, evidence, the
chosen answer mode, citations); other cases go through the gateway as a streamed chat, the
same path an API client takes, so time to first token is what a client would see. A fixed
number of workers (``concurrency``) pull cases from a shared iterator: the number of
requests in flight is bounded, and so is memory, whatever the size of the set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from autonom.errors import DeadlineError, InvalidRequestError, NotFoundError
from autonom.evals.checks import DocumentText, Judge, Outcome, score
from autonom.evals.dataset import EvalCase, EvalSet
from autonom.evals.metrics import CaseResult, by_tag, summarize
from autonom.knowledge.answer import EXTRACTIVE_MODEL, Mode
from autonom.knowledge.base import KnowledgeBase
from autonom.services.gateway import CallContext, Gateway
from autonom.store.evals import EvalStore, ResultRow, RunData, RunRecord, new_run_id
from autonom.types import ChatRequest, GenerationOptions

MAX_REPEAT = 100
MAX_CONCURRENCY = 64
"""Extra reasons why an answer is unsupported (empty: the judge found nothing)."""


@dataclass(frozen=True)
class Target:
    """One configuration under test: a model name as the API knows it, or ``extractive``
    (answers from documents without a model), with the answer mode for document cases."""

    label: str
    model: str | None
    answer_mode: Mode = "read"

    @classmethod
    def parse(cls, text: str, answer_mode: Mode) -> Target:
        text = text.strip()
        if not text:
            raise InvalidRequestError("empty --model")
        if text == EXTRACTIVE_MODEL:
            return cls(text, None, "extractive")
        return cls(text, text, answer_mode)

    def applies(self, case: EvalCase) -> bool:
        """Extractive answers exist only for questions to documents."""
        return self.model is not None or case.collection is not None

    def cases(self, cases: tuple[EvalCase, ...]) -> tuple[EvalCase, ...]:
        chosen = tuple(c for c in cases if self.applies(c))
        if not chosen:
            raise InvalidRequestError(
                f"no case of the set applies to {self.label!r} ('extractive' answers only "
                "cases with a collection)")
        return chosen


def check_limits(concurrency: int, repeat: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidRequestError(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
    if not 1 <= repeat <= MAX_REPEAT:
        raise InvalidRequestError(f"--repeat must be 1 to {MAX_REPEAT}")


class Runner:
    def __init__(self, gateway: Gateway, knowledge: KnowledgeBase | None,
                 documents: DocumentText | None = None, judge: Judge | None = None,
                 options: GenerationOptions | None = None, timeout_s: float = 300.0) -> None:
        self.gateway = gateway
        self.knowledge = knowledge
        self.documents = documents
        self.judge = judge
        self.options = options or GenerationOptions(temperature=0.0, seed=0, max_tokens=256)
        self.timeout_s = timeout_s

    def check(self, cases: tuple[EvalCase, ...], target: Target) -> None:
        """Refuses a run that cannot work before any question is asked."""
        collections = sorted({c.collection for c in cases if c.collection})
        if collections and self.knowledge is None:
            raise InvalidRequestError("this eval set needs document collections")
        for name in collections:
            assert self.knowledge is not None
            try:
                self.knowledge.store.collection(name)
            except NotFoundError as exc:
                raise NotFoundError(
                    f"the eval set asks collection {name!r}, which does not exist "
                    f"(index documents with 'autonom docs add PATH --collection {name}')"
                ) from exc
        target.cases(cases)

    async def run(self, cases: tuple[EvalCase, ...], target: Target, concurrency: int = 1,
                  repeat: int = 1, advance: Callable[[], None] | None = None
                  ) -> list[CaseResult]:
        check_limits(concurrency, repeat)
        self.check(cases, target)
        cases = target.cases(cases)
        work: Iterator[tuple[int, EvalCase]] = ((r, c) for r in range(repeat) for c in cases)
        results: list[CaseResult] = []

        async def worker() -> None:
            for round_, case in work:
                results.append(await self.one(case, target, round_))
                if advance is not None:
                    advance()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        order = {c.id: i for i, c in enumerate(cases)}
        results.sort(key=lambda r: (r.round, order[r.case_id]))
        return results

    async def one(self, case: EvalCase, target: Target, round_: int = 0) -> CaseResult:
        try:
            async with asyncio.timeout(self.timeout_s):
                if case.collection:
                    outcome = await self._from_documents(case, target)
                else:
                    outcome = await self._chat(case, target)
        except TimeoutError:
            outcome = _failed(DeadlineError(f"no answer within {self.timeout_s:g} s"))
        except Exception as exc:  # every failure is a result of the run, not its end
            outcome = _failed(exc)
        result = score(case, outcome, self.documents)
        if self.judge is not None and outcome.error is None and not result.abstained \
                and not case.must_abstain:
            extra = await self.judge(case, outcome)
            result.reasons += [f"judge: {reason}" for reason in extra]
            result.hallucinated = bool(result.reasons)
        return CaseResult(case.id, round_, case.tags, case.must_abstain, outcome, result)

    async def _from_documents(self, case: EvalCase, target: Target) -> Outcome:
        assert self.knowledge is not None and case.collection is not None
        started = time.perf_counter()
        answer = await self.knowledge.ask(case.prompt, case.collection, model=target.model,
                                          mode=target.answer_mode)
        total = time.perf_counter() - started
        return Outcome(text=answer.answer, abstained=answer.abstained,
                       citations=list(answer.citations), ttft_s=total, total_s=total,
                       output_tokens=answer.output_tokens, whole=True, mode=answer.mode)

    async def _chat(self, case: EvalCase, target: Target) -> Outcome:
        assert target.model is not None
        options = self.options
        if case.json_schema is not None:
            options = options.model_copy(update={"json_schema": case.json_schema})
        request = ChatRequest(model=target.model, messages=case.chat(), options=options)
        ctx = CallContext(route="eval")
        started = time.perf_counter()
        outcome = Outcome()
        parts: list[str] = []
        async with aclosing(self.gateway.stream(request, ctx)) as chunks:
            async for chunk in chunks:
                if chunk.delta:
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.perf_counter() - started
                    parts.append(chunk.delta)
                if chunk.finish_reason is not None:
                    if chunk.usage is not None:
                        outcome.prompt_tokens = chunk.usage.prompt_tokens
                        outcome.output_tokens = chunk.usage.completion_tokens
                    outcome.citations = list(chunk.citations)
                    outcome.abstained = chunk.abstained
        outcome.total_s = time.perf_counter() - started
        outcome.text = "".join(parts)
        outcome.whole = self.gateway.answers_whole(request)
        return outcome


def _failed(exc: BaseException) -> Outcome:
    return Outcome(error=type(exc).__name__, error_message=str(exc)[:500])


def to_rows(results: list[CaseResult]) -> list[ResultRow]:
    return [ResultRow(
        case_id=r.case_id, round=r.round, correct=r.score.correct,
        hallucinated=r.score.hallucinated, abstained=r.score.abstained,
        citation_ok=r.score.citation_ok, schema_ok=r.score.schema_ok, error=r.outcome.error,
        ttft_ms=None if r.outcome.ttft_s is None else r.outcome.ttft_s * 1000,
        total_ms=r.outcome.total_s * 1000, output_tokens=r.outcome.output_tokens,
        answer=r.outcome.text,
        detail={"tags": list(r.tags), "reasons": r.score.reasons,
                "citations": [c.model_dump() for c in r.outcome.citations],
                **({"answer_mode": r.outcome.mode} if r.outcome.mode else {}),
                **({"error_message": r.outcome.error_message} if r.outcome.error else {})})
        for r in results]


def select(eval_set: EvalSet, tags: list[str]) -> EvalSet:
    """The cases carrying any of ``tags`` (all cases when none are given)."""
    if not tags:
        return eval_set
    cases = tuple(c for c in eval_set.cases if set(c.tags) & set(tags))
    if not cases:
        raise InvalidRequestError(f"no case has the tag(s) {', '.join(tags)}; the set has: "
                                  f"{', '.join(eval_set.tags())}")
    return eval_set.model_copy(update={"cases": cases})


async def evaluate(runner: Runner, eval_set: EvalSet, targets: list[Target], store: EvalStore,
                   concurrency: int = 1, repeat: int = 1,
                   advance: Callable[[], None] | None = None,
                   settings: dict[str, Any] | None = None) -> list[RunData]:
    """Runs every target on the set, one after the other, and stores one run per target."""
    for target in targets:  # fail before the first question, not after the first model
        runner.check(eval_set.cases, target)
    batch = new_run_id()
    out = []
    for target in targets:
        results = await runner.run(eval_set.cases, target, concurrency, repeat, advance)
        summary = summarize(results)
        summary["by_tag"] = by_tag(results)
        asked = len(target.cases(eval_set.cases))
        record = RunRecord(
            kind="eval", label=target.label, dataset=eval_set.name, batch=batch,
            settings={"model": target.model, "answer_mode": target.answer_mode,
                      "concurrency": concurrency, "repeat": repeat, "cases": asked,
                      "skipped": len(eval_set.cases) - asked, **(settings or {})},
            summary=summary)
        rows = to_rows(results)
        store.save(record, rows)
        out.append(RunData(record, rows))
    return out
