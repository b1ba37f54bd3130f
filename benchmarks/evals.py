"""autonom eval and autonom bench on this machine, recorded in RESULTS.md.

1. ``autonom eval run sample`` with three configurations on the sample company's eval set:
   extractive answers (no model), smollm2-135m and gemma3-270m wording the answers
   (``--answer-mode generate``; chat and JSON cases go to the model directly).
2. ``autonom bench`` against a real ``autonom serve`` (OpenAI API at concurrency 1, 4, 8 and
   the Ollama API at 4). Reference in the same run: the engine in-process, one request of
   the same size, its own decode rate; the ratio shows what HTTP, streaming and the gateway
   add per output token at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from autonom.config import load_settings
from autonom.evals.loadgen import BenchConfig, prompt
from autonom.models.pull import pull
from autonom.services import Services
from autonom.store.keys import KeyStore
from autonom.types import ChatRequest, GenerationOptions, Message
from results_file import machine, publish

START, END = "<!-- evals:start -->", "<!-- evals:end -->"
NOTE = ("Reading it: on questions to the documents the extractive configuration is the one to "
        "beat — no model, no invented numbers, milliseconds per answer. Models this small add "
        "no accuracy there (their wording is checked against the quotes and replaced when it "
        "fails) but abstain where they should not or drop the asked-for figure. Every "
        "counted hallucination comes from the cases without documents: a chat question that "
        "must be declined and JSON extractions that loop inside a string until the token "
        "limit (the grammar keeps the JSON well-formed only until it is cut off). Run the "
        "same command with a larger model (`--models`) to see where it pays off.")
CLI = [sys.executable, "-m", "autonom"]


def cli(home: Path, *args: str, key: str | None = None) -> dict:
    env = {**os.environ, "AUTONOM_HOME": str(home)}
    if key:
        env["AUTONOM_BENCH_API_KEY"] = key
    done = subprocess.run([*CLI, *args, "--json"], env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def engine_reference(services: Services, model: str, prompt_tokens: int,
                     max_tokens: int) -> float:
    """ms per output token of the engine in-process (its own decode timing)."""
    text = prompt(BenchConfig(url="", model=model, prompt_tokens=prompt_tokens,
                              words_per_token=0.3, salt="ref"), 0)
    request = ChatRequest(model=model, messages=[Message(role="user", content=text)],
                          options=GenerationOptions(temperature=0, seed=0,
                                                    max_tokens=max_tokens))
    rates = []
    for _ in range(3):
        response = asyncio.run(services.router.chat(request))
        assert response.timings is not None
        rates.append(response.timings.decode_per_second)
    return 1000 / sorted(rates)[1]


def serve(home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "AUTONOM_HOME": str(home)}
    process = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("autonom serve did not start")


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    models = args.models.split(",")
    home = Path(tempfile.mkdtemp(prefix="autonom-evalbench-"))
    services = Services(load_settings(home=home))
    for model in models:
        pull(model, services.registry, services.settings)
    _, key = KeyStore(services.db).create("bench", frozenset({"chat"}))

    started = time.perf_counter()
    runs = cli(home, "eval", "run", "sample", "-m", "extractive",
               *[a for m in models for a in ("-m", m)], "--out", str(home / "reports"))["runs"]
    eval_s = time.perf_counter() - started
    reference_ms = engine_reference(services, models[0], 128, 64)
    services.close()

    process, url = serve(home)
    try:
        bench = cli(home, "bench", url, "--model", models[0], "--concurrency", "1,4,8",
                    "--requests", str(args.requests), "--prompt-tokens", "128",
                    "--max-tokens", "64", key=key)
        ollama = cli(home, "bench", url, "--model", models[0], "--api", "ollama",
                     "--concurrency", "4", "--requests", str(args.requests),
                     "--prompt-tokens", "128", "--max-tokens", "64", key=key)
    finally:
        process.terminate()
        process.wait(timeout=30)

    lines = [START, f"### Eval and bench ({time.strftime('%Y-%m-%d')})", "",
             f"Command: `python benchmarks/evals.py --models {args.models} "
             f"--requests {args.requests}`", "", f"Machine: {machine()}.", "",
             f"`autonom eval run sample -m extractive {' '.join('-m ' + m for m in models)}` "
             f"— the sample company's set ({runs[-1]['settings']['cases']} cases: 16 answerable "
             "from the documents, 6 not answerable from them, 3 chat cases with the facts in "
             "the prompt, 2 JSON extractions), temperature 0, answers from documents in "
             f"generate mode (a generated answer that fails verification is replaced by the "
             f"extractive one). Whole run: {eval_s:.0f} s.", "",
             "| configuration | cases | accuracy | citations right | hallucinations / 1000 "
             "| abstention precision / recall | valid JSON | total p50 / p95 ms "
             "| TTFT p50 ms | output tok/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        s = run["summary"]
        lines.append(
            f"| {run['label']} | {s['requests']} | {pct(s['accuracy'])} "
            f"| {pct(s['citation_accuracy'])} | {num(s['hallucinations_per_1000'])} "
            f"| {pct(s['abstention_precision'])} / {pct(s['abstention_recall'])} "
            f"| {pct(s['schema_validity'])} | {num(s['total_p50_ms'])} / "
            f"{num(s['total_p95_ms'])} | {num(s['ttft_p50_ms'])} | {num(s['output_tok_s'], 1)} |")
    lines += ["", "Per tag (accuracy; hallucinations per 1000):", ""]
    tags = sorted({t for run in runs for t in run["summary"]["by_tag"]})
    lines += ["| tag | " + " | ".join(run["label"] for run in runs) + " |",
              "|---|" + "---|" * len(runs)]
    for tag in tags:
        cells = []
        for run in runs:
            t = run["summary"]["by_tag"].get(tag)
            cells.append("–" if t is None else
                         f"{pct(t['accuracy'])}; {num(t['hallucinations_per_1000'])}")
        lines.append(f"| {tag} | " + " | ".join(cells) + " |")
    lines += ["", f"`autonom bench` against `autonom serve` ({models[0]}, prompts of ~128 "
              f"tokens, at most 64 output tokens, {args.requests} requests per level; "
              "times in ms, metric definitions as in vLLM's serving benchmark):", "",
              "| API | concurrency | req/s | output tok/s | TTFT p50 / p95 / p99 "
              "| TPOT p50 | ITL p50 / p95 / p99 | E2EL p50 / p99 | failed |",
              "|---|---|---|---|---|---|---|---|---|"]
    for api, result in (("OpenAI", bench), ("Ollama", ollama)):
        for s in result["levels"]:
            lines.append(
                f"| {api} | {s['concurrency']} | {num(s['request_throughput'], 2)} "
                f"| {num(s['output_throughput'], 1)} | {num(s['ttft_p50_ms'])} / "
                f"{num(s['ttft_p95_ms'])} / {num(s['ttft_p99_ms'])} | {num(s['tpot_p50_ms'], 1)} "
                f"| {num(s['itl_p50_ms'], 1)} / {num(s['itl_p95_ms'], 1)} / "
                f"{num(s['itl_p99_ms'], 1)} | {num(s['e2el_p50_ms'])} / {num(s['e2el_p99_ms'])} "
                f"| {s['failed']} |")
    first = bench["levels"][0]
    lines += ["", f"Reference, same run: the engine in-process decodes at {reference_ms:.1f} ms "
              f"per token (its own timing, median of 3); TPOT through `autonom serve` at "
              f"concurrency 1: {first['tpot_p50_ms']:.1f} ms, ratio "
              f"**{first['tpot_p50_ms'] / reference_ms:.2f}**.", "", NOTE, END]
    publish(START, END, "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
