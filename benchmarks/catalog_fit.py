"""Calibration of ``autonom fit``: its estimates vs what the engine measures on this machine.

For every model present here (the two that ship as wheels are pulled when missing) the run

1. measures this machine's read bandwidth and matrix-multiply throughput, the inputs the
   estimate uses (same functions as ``autonom fit``);
2. estimates from the model file's own metadata: memory at 4,096 tokens × 1 slot, decode
   tokens/s with a short prompt in the cache, prompt tokens/s;
3. measures the same in-process: resident memory the loaded model adds to this process,
   the engine's own decode and prompt rates (median of several requests).

The estimate passes when it is within ±30 % of the measurement (ratio 0.7–1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from autonom.catalog import fit
from autonom.catalog.local import facts_from_gguf
from autonom.catalog.machine import measure_bandwidth, measure_gflops
from autonom.config import load_settings
from autonom.models.gguf_file import read_gguf
from autonom.models.pull import WHEEL_MODELS, pull
from autonom.services import Services
from autonom.types import ChatRequest, GenerationOptions, Message
from results_file import machine, publish

START, END = "<!-- fit:start -->", "<!-- fit:end -->"
CONTEXT = 4096
LONG_PROMPT = ("Die Pumpenwerk GmbH prüft jede Kreiselpumpe vor der Auslieferung auf "
               "Dichtheit, Förderhöhe und Leistungsaufnahme; die Werte stehen im Prüfbericht. ")


def rates(services: Services, model: str, text: str, max_tokens: int,
          rounds: int) -> tuple[float, float, int]:
    """Median engine-reported prompt and decode tokens/s, and the prompt's token count."""
    prompt, decode, tokens = [], [], 0
    for index in range(rounds):
        # a new first line each round: no prompt prefix can come from the engine's cache
        message = Message(role="user", content=f"Vorgang {index * 7919 % 1000}: {text}")
        request = ChatRequest(model=model, messages=[message],
                              options=GenerationOptions(temperature=0, seed=0,
                                                        max_tokens=max_tokens))
        response = asyncio.run(services.router.chat(request))
        assert response.timings is not None
        prompt.append(response.timings.prompt_per_second)
        decode.append(response.timings.decode_per_second)
        tokens = response.usage.prompt_tokens
    return statistics.median(prompt), statistics.median(decode), tokens


def ratio_cell(estimate: float, measured: float) -> str:
    r = estimate / measured
    return f"{r:.2f} {'✓' if 0.7 <= r <= 1.3 else '✗'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(WHEEL_MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    home = Path(os.environ.get("AUTONOM_BENCH_HOME") or tempfile.mkdtemp(prefix="autonom-fit-"))
    bandwidth = statistics.median(measure_bandwidth() for _ in range(5))
    gflops = statistics.median(measure_gflops() for _ in range(5))
    rows = []
    for model in args.models.split(","):
        settings = load_settings(home=home, keep_alive="-1")
        settings.engine = settings.engine.model_copy(update={"n_ctx": CONTEXT, "n_parallel": 1})
        services = Services(settings)
        try:
            record = services.registry.resolve(model)
        except Exception:
            record = pull(model, services.registry, services.settings)
        facts, quant = facts_from_gguf(read_gguf(record.path, model), model)
        process = psutil.Process()
        before = process.memory_info().rss
        prompt_short = "Wie prüft die Pumpenwerk GmbH ihre Pumpen?"
        rates(services, model, prompt_short, 16, 1)  # loads the model, allocates its cache
        resident = (process.memory_info().rss - before) / 1e9
        _, decode, short_tokens = rates(services, model, prompt_short, 128, args.rounds)
        prompt_rate, _, long_tokens = rates(services, model, LONG_PROMPT * 25, 1, args.rounds)
        services.close()
        estimate = fit.estimate(facts, quant, CONTEXT, 1)
        est_decode = fit.decode_tokens_per_s(facts, quant, bandwidth, short_tokens)
        est_prompt = fit.prompt_tokens_per_s(facts, gflops, long_tokens)
        rows.append(
            f"| {model} ({quant.name}, {facts.params_b * 1000:.0f}M params) "
            f"| {estimate.memory_gb:.2f} | {resident:.2f} "
            f"| {ratio_cell(estimate.memory_gb, resident)} "
            f"| {est_decode:.0f} | {decode:.0f} | {ratio_cell(est_decode, decode)} "
            f"| {est_prompt:.0f} ({long_tokens} tok) | {prompt_rate:.0f} "
            f"| {ratio_cell(est_prompt, prompt_rate)} |")
    report = "\n".join([
        START,
        f"### Model fit: estimate vs measurement ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/catalog_fit.py --rounds {args.rounds}`",
        "",
        f"Machine: {machine()}; measured in this run (medians of 5): read bandwidth "
        f"{bandwidth:.1f} GB/s "
        f"(one thread per core), matrix multiply {gflops:.0f} GFLOP/s (all cores). Engine: "
        f"{settings.engine.threads} threads, context {CONTEXT} × 1 slot.",
        "",
        "Estimates come from the model file's metadata (`autonom fit MODEL`); measured: "
        "resident memory the loaded model adds to the process after its first answer, the "
        "engine's own prompt and decode rates (medians). Ratio = estimate ÷ measurement, "
        "✓ within ±30 %.",
        "",
        "| model | memory est. GB | measured GB | ratio | decode est. tok/s | measured "
        "| ratio | prompt est. tok/s | measured | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        END,
    ])
    publish(START, END, report, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
