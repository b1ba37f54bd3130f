"""Load tests of a chat endpoint (``autonom bench``): the levels are checked before the first
request, every request is kept as a row of one stored run (kind ``bench``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from autonom.errors import InvalidRequestError
from autonom.evals import loadgen
from autonom.services.assembly import Services
from autonom.store.evals import ResultRow, RunRecord, new_run_id

Counting = Callable[[str, int], AbstractContextManager[Callable[[], None]]]
"""Progress per level: ``counting(description, total)`` yields the function that counts one
request done."""


@dataclass(frozen=True)
class BenchPlan:
    url: str
    model: str
    api: Literal["openai", "ollama"]
    levels: list[int]
    requests: int
    prompt_tokens: int
    max_tokens: int
    timeout_s: float = 120.0
    max_seconds: float = 1800.0
    api_key: str | None = field(default=None, repr=False)


def plan(services: Services, target: str, *, model: str | None, api: str, concurrency: str,
         requests: int, prompt_tokens: int, max_tokens: int, timeout_s: float,
         max_seconds: float, api_key: str | None, allow_remote: bool) -> BenchPlan:
    """A checked load test: API, levels (``"1,4,8"``), counts and the target (this machine
    unless ``allow_remote``)."""
    if api not in ("openai", "ollama"):
        raise InvalidRequestError("--api must be openai or ollama")
    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError as exc:
        raise InvalidRequestError(f"invalid --concurrency {concurrency!r}: use e.g. 1,4,8") \
            from exc
    if not levels or not 1 <= requests <= loadgen.MAX_REQUESTS or prompt_tokens < 1 \
            or max_tokens < 1 or any(not 1 <= c <= loadgen.MAX_CONCURRENCY for c in levels):
        raise InvalidRequestError(
            f"levels must be 1 to {loadgen.MAX_CONCURRENCY}, --requests 1 to "
            f"{loadgen.MAX_REQUESTS}, token counts at least 1")
    url = loadgen.check_target(target, allow_remote)
    return BenchPlan(url=url, model=model or services.settings.default_model,
                     api=api,  # type: ignore[arg-type]
                     levels=levels, requests=requests, prompt_tokens=prompt_tokens,
                     max_tokens=max_tokens, timeout_s=timeout_s, max_seconds=max_seconds,
                     api_key=api_key)


def _no_progress(description: str, total: int) -> AbstractContextManager[Callable[[], None]]:
    return nullcontext(lambda: None)


async def run(services: Services, bench: BenchPlan,
              counting: Counting = _no_progress) -> tuple[RunRecord, list[dict[str, Any]]]:
    """Runs every level (after one uncounted calibration request) and stores the run; the
    record and each level's summary."""
    config = loadgen.BenchConfig(url=bench.url, model=bench.model, api=bench.api,
                                 prompt_tokens=bench.prompt_tokens,
                                 max_tokens=bench.max_tokens, timeout_s=bench.timeout_s,
                                 api_key=bench.api_key, salt=new_run_id())
    config = await loadgen.calibrate(config)
    summaries: list[dict[str, Any]] = []
    rows: list[ResultRow] = []
    offset = 0
    for conc in bench.levels:
        with counting(f"concurrency {conc}", bench.requests) as advance:
            summary, results = await loadgen.level(config, conc, bench.requests, advance,
                                                   offset, bench.max_seconds)
        summaries.append(summary)
        rows.extend(ResultRow(
            case_id=f"c{conc}-{i}", round=conc, correct=r.ok, hallucinated=False,
            abstained=False, citation_ok=None, schema_ok=None, error=r.error,
            ttft_ms=None if r.ttft_s is None else r.ttft_s * 1000,
            total_ms=r.e2el_s * 1000, output_tokens=r.output_tokens, answer="",
            detail={"prompt_tokens": r.prompt_tokens}) for i, r in enumerate(results))
        offset += bench.requests
    record = RunRecord(kind="bench", label=f"{bench.model} @ {bench.url}",
                       dataset=f"synthetic ~{bench.prompt_tokens} → ≤{bench.max_tokens} tokens",
                       batch=new_run_id(),
                       settings={"url": bench.url, "api": bench.api, "model": bench.model,
                                 "levels": bench.levels, "requests": bench.requests,
                                 "prompt_tokens": bench.prompt_tokens,
                                 "max_tokens": bench.max_tokens},
                       summary={"levels": summaries})
    services.runs.save(record, rows)
    return record, summaries
