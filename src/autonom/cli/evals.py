"""CLI commands for evaluation: ``autonom eval run|compare|list|show|report``.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.evals import metrics, report
from autonom.services import Services
from autonom.services import bench as bench_service
from autonom.services import evals as eval_service
from autonom.store.evals import RunData

eval_app = typer.Typer(
    rich_markup_mode=None,
    help="Evaluate models on your own questions; compare and gate runs.",
    no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
FailIf = Annotated[str | None, typer.Option(
    "--fail-if", help="exit 1 when a condition holds, e.g. "
                      "'accuracy<0.9,hallucinations_per_1000>50'")]


def _services() -> Services:
    return Services(load_settings())


@eval_app.command("run")
def run(
    file: Annotated[str, typer.Argument(help="eval set (.yaml or .jsonl); 'sample' is the "
                                        "sample company's set, 'mixed' easy and hard "
                                        "questions without documents")],
    model: Annotated[list[str], typer.Option(
        "--model", "-m", help="model to evaluate (repeat to compare); 'extractive' answers "
                              "from documents without a model")],
    concurrency: Annotated[int, typer.Option(help="requests in flight")] = 1,
    repeat: Annotated[int, typer.Option(help="ask every case this many times")] = 1,
    answer_mode: Annotated[str, typer.Option(
        help="for cases with a collection: read, extractive or auto")] = "read",
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="only cases with this tag (repeatable)")] = None,
    max_tokens: Annotated[int, typer.Option(help="answer length limit")] = 256,
    temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.0,
    judge: Annotated[str | None, typer.Option(
        help="judge model for unsupported claims (default: eval.judge_model)")] = None,
    out: Annotated[Path | None, typer.Option(
        help="folder for the JSON and HTML report (default: HOME/reports)")] = None,
    fail_if: FailIf = None,
    as_json: AsJson = False,
) -> None:
    """Ask every question of the set with each model; print, store and report the results."""
    gate = metrics.parse_gate(fail_if) if fail_if else None
    services = _services()
    settings = services.settings
    try:
        plan = eval_service.prepare(
            services, eval_service.set_path(file), model, concurrency=concurrency,
            repeat=repeat, answer_mode=answer_mode, tags=tag or [],  # type: ignore[arg-type]
            max_tokens=max_tokens, temperature=temperature, judge=judge,
            say=console.err.print)
        for label, skipped in plan.skipped():
            console.err.print(f"{label}: {skipped} case(s) without a collection skipped "
                              "(extractive answers come only from documents)")
        gateway = services.gateway()
        with console.counting(f"{plan.eval_set.name}: {len(plan.targets)} model(s)",
                              plan.total) as advance:
            runs = asyncio.run(eval_service.execute(services, gateway, plan, advance))
    finally:
        services.close()
    stem = f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{runs[0].run.batch}"
    paths = report.write(runs, out or settings.reports_dir, stem)
    _print(runs, as_json)
    if not as_json:
        console.err.print(f"report: {paths[1]}  (JSON: {paths[0]})")
    if gate:
        _gate(runs, gate)


def _print(runs: list[RunData], as_json: bool) -> None:
    if as_json:
        console.out.print_json(json.dumps(report.to_json(runs), ensure_ascii=False))
        return
    headers, rows = report.summary_rows(runs)
    console.table(headers, rows)
    for data in runs:
        errors = data.run.summary.get("errors") or {}
        if errors:
            kinds = ", ".join(f"{k} ×{n}" for k, n in errors.items())
            console.err.print(f"{data.run.label}: errors {kinds}")


def _gate(runs: list[RunData], gate: list[metrics.Condition]) -> None:
    failed = False
    for data in runs:
        for problem in metrics.failures(data.run.summary, gate):
            console.err.print(f"[bold red]gate failed[/] {data.run.label} ({data.run.id}): "
                              f"{problem}")
            failed = True
    if failed:
        raise typer.Exit(1)
    console.err.print("gate passed: " + ", ".join(str(c) for c in gate) + " hold for no run")


@eval_app.command("compare")
def compare(
    before: Annotated[str, typer.Argument(help="run id (or prefix) to compare against")],
    after: Annotated[str, typer.Argument(help="run id (or prefix) of the candidate")],
    fail_if: FailIf = None,
    as_json: AsJson = False,
) -> None:
    """What changed between two runs: metrics, and case by case."""
    gate = metrics.parse_gate(fail_if) if fail_if else None
    store = _services().runs
    a, b = store.load(before), store.load(after)
    diff = report.compare(a, b)
    if as_json:
        console.out.print_json(json.dumps(diff, ensure_ascii=False))
    else:
        rows = [[key, report.cell(v["before"], kind), report.cell(v["after"], kind),
                 _change(v["change"], kind)]
                for key, _, kind in report.COLUMNS
                for v in [diff["metrics"][key]]]
        console.out.print(f"[bold]{a.run.label}[/] ({a.run.id}) → [bold]{b.run.label}[/] "
                          f"({b.run.id})")
        console.table(["METRIC", "BEFORE", "AFTER", "CHANGE"], rows)
        if diff["cases"]:
            console.out.print(f"\n{len(diff['cases'])} case(s) changed:")
            console.table(["CASE", "CHANGE", "AFTER"],
                          [[c["case_id"], ", ".join(c["changes"]), c["after"][:80]]
                           for c in diff["cases"]])
        else:
            console.out.print("\nno case changed its outcome")
        for key, words in (("only_before", "only in the first run"),
                           ("only_after", "only in the second run")):
            if diff[key]:
                console.out.print(f"{len(diff[key])} case(s) {words}: {', '.join(diff[key])}")
    if gate:
        _gate([b], gate)


def _change(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:+.0f} pt"
    return f"{value:+.1f}"


@eval_app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(help="how many runs")] = 20,
    as_json: AsJson = False,
) -> None:
    """The latest eval and bench runs."""
    runs = _services().runs.runs(limit=limit)
    if as_json:
        console.out.print_json(json.dumps([{
            "id": r.id, "kind": r.kind, "label": r.label, "dataset": r.dataset,
            "batch": r.batch, "created_at": r.created_at, "summary": r.summary}
            for r in runs], ensure_ascii=False))
        return
    console.table(["RUN", "KIND", "MODEL / TARGET", "SET", "BATCH", "WHEN", "ACCURACY",
                   "HALLUC./1000"],
                  [[r.id, r.kind, r.label, r.dataset, r.batch,
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
                    report.cell(r.summary.get("accuracy"), "pct"),
                    report.cell(r.summary.get("hallucinations_per_1000"), "num")]
                   for r in runs])


@eval_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="run id or prefix")],
    as_json: AsJson = False,
) -> None:
    """One run: its summary and every case."""
    data = _services().runs.load(run_id)
    if as_json:
        console.out.print_json(json.dumps(report.to_json([data]), ensure_ascii=False))
        return
    _print([data], False)
    console.table(["CASE", "ROUND", "RESULT", "ANSWER", "WHY"], [
        [r.case_id, str(r.round), ("right" if r.correct else r.error or "wrong")
         + (" · hallucinated" if r.hallucinated else ""), " ".join(r.answer.split())[:70],
         "; ".join(r.detail.get("reasons", []))[:70]] for r in data.results])


@eval_app.command("report")
def write_report(
    run_ids: Annotated[list[str], typer.Argument(help="run ids (or prefixes) side by side")],
    out: Annotated[Path, typer.Option(help="folder for the JSON and HTML files")] = Path("."),
) -> None:
    """Write the HTML and JSON report for stored runs."""
    store = _services().runs
    runs = [store.load(r) for r in run_ids]
    paths = report.write(runs, out, "eval-" + "-".join(d.run.id for d in runs))
    console.out.print(f"report: {paths[1]}  (JSON: {paths[0]})")


BENCH_COLUMNS = (("concurrency", "CONC", "{:.0f}"), ("completed", "OK", "{:.0f}"),
                 ("failed", "FAILED", "{:.0f}"), ("prompt_tokens_mean", "PROMPT TOK", "{:.0f}"),
                 ("request_throughput", "REQ/S", "{:.2f}"),
                 ("output_throughput", "OUT TOK/S", "{:.1f}"),
                 ("ttft_p50_ms", "TTFT P50", "{:.0f}"), ("ttft_p95_ms", "P95", "{:.0f}"),
                 ("ttft_p99_ms", "P99", "{:.0f}"), ("tpot_p50_ms", "TPOT P50", "{:.1f}"),
                 ("itl_p50_ms", "ITL P50", "{:.1f}"), ("itl_p95_ms", "P95", "{:.1f}"),
                 ("itl_p99_ms", "P99", "{:.1f}"), ("e2el_p50_ms", "E2EL P50", "{:.0f}"),
                 ("e2el_p99_ms", "P99", "{:.0f}"))


def bench(
    target: Annotated[str, typer.Argument(help="base URL of an OpenAI-compatible or Ollama "
                                          "server, e.g. http://127.0.0.1:8080")],
    model: Annotated[str | None, typer.Option(help="model name (default: default_model)")]
    = None,
    api: Annotated[str, typer.Option(help="openai (/v1/chat/completions) or ollama "
                                          "(/api/chat)")] = "openai",
    concurrency: Annotated[str, typer.Option(help="levels, comma-separated")] = "1,4,8",
    requests: Annotated[int, typer.Option(help="requests per level")] = 32,
    prompt_tokens: Annotated[int, typer.Option(help="approximate prompt length")] = 128,
    max_tokens: Annotated[int, typer.Option(help="answer length limit")] = 64,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 120.0,
    max_seconds: Annotated[float, typer.Option(
        help="no new requests after this many seconds per level")] = 1800.0,
    api_key: Annotated[str | None, typer.Option(envvar="AUTONOM_BENCH_API_KEY",
                                                help="bearer key for the target")] = None,
    allow_remote: Annotated[bool, typer.Option(
        help="allow a target that is not this machine")] = False,
    out: Annotated[Path | None, typer.Option(help="folder for the JSON result")] = None,
    as_json: AsJson = False,
) -> None:
    """Load-test a chat endpoint: requests/s, tokens/s, TTFT, TPOT, ITL and E2E latency
    percentiles per concurrency level (definitions as in vLLM's serving benchmark)."""
    services = _services()
    checked = bench_service.plan(
        services, target, model=model, api=api, concurrency=concurrency, requests=requests,
        prompt_tokens=prompt_tokens, max_tokens=max_tokens, timeout_s=timeout,
        max_seconds=max_seconds, api_key=api_key, allow_remote=allow_remote)
    record, summaries = asyncio.run(bench_service.run(services, checked, console.counting))
    folder = out or services.settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{record.id}.json"
    payload = {"id": record.id, "settings": record.settings, "levels": summaries}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    if as_json:
        console.out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    console.out.print(f"[bold]{record.label}[/] · run {record.id} · times in ms")
    console.table([h for _, h, _ in BENCH_COLUMNS],
                  [[("–" if s.get(k) is None else f.format(s[k])) for k, _, f in BENCH_COLUMNS]
                   for s in summaries])
    for s in summaries:
        if s["errors"]:
            console.err.print(f"concurrency {s['concurrency']}: errors "
                              + ", ".join(f"{k} ×{n}" for k, n in s["errors"].items()))
    console.err.print(f"saved: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
    app.command("bench")(bench)
