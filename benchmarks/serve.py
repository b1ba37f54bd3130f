"""HTTP serving: `autonom serve` under 1, 4 and 8 concurrent streaming clients, against the raw
engine in-process driven the same way, in the same run.

Definitions follow vLLM's serving benchmark: TTFT = request sent → first token received;
ITL = time between consecutive streamed tokens; TPOT = (latency − TTFT) / (output tokens − 1);
output tokens/s = all output tokens / wall time of the level. Only one engine is loaded at a
time (two llama.cpp instances on one small machine slow each other down), so the server and
the raw engine run in separate phases, alternating.

    python benchmarks/serve.py [--levels 1,4,8] [--max-tokens 64] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from autonom.backends.embedded import EmbeddedBackend, engine_params
from autonom.config import load_settings
from autonom.models.chat_template import render_chat
from autonom.models.pull import pull
from autonom.services import Services
from results_file import machine, publish
from server_support import start_server, stop_server

MODEL = "smollm2-135m"
START, END = "<!-- serve:start -->", "<!-- serve:end -->"


@dataclass
class Trace:
    started: float
    token_times: list[float] = field(default_factory=list)

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.started

    @property
    def itls(self) -> list[float]:
        return [b - a for a, b in zip(self.token_times, self.token_times[1:], strict=False)]

    @property
    def tpot(self) -> float:
        n = len(self.token_times)
        return (self.token_times[-1] - self.token_times[0]) / (n - 1) if n > 1 else 0.0


@dataclass
class Level:
    concurrency: int
    traces: list[Trace]
    wall: float

    def pct(self, values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else 0

    def row(self) -> dict[str, float]:
        tokens = sum(len(t.token_times) for t in self.traces)
        itls = [x for t in self.traces for x in t.itls]
        ttfts = [t.ttft for t in self.traces]
        tpots = [t.tpot for t in self.traces if t.tpot > 0]
        return {
            "requests_per_s": len(self.traces) / self.wall,
            "output_tok_per_s": tokens / self.wall,
            "ttft_p50_ms": 1000 * self.pct(ttfts, 0.5),
            "ttft_p95_ms": 1000 * self.pct(ttfts, 0.95),
            "itl_p50_ms": 1000 * self.pct(itls, 0.5),
            "itl_p95_ms": 1000 * self.pct(itls, 0.95),
            "decode_tok_per_s": 1 / statistics.median(tpots) if tpots else 0.0,
        }


def prompt(i: int) -> str:
    return f"Anfrage {i}: Erzähle eine lange Geschichte über eine Kreiselpumpe mit 5,5 kW."


async def http_level(url: str, concurrency: int, requests: int, max_tokens: int) -> Level:
    counter = iter(range(requests))
    traces: list[Trace] = []

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            body = {"model": MODEL, "stream": True, "max_tokens": max_tokens, "seed": i,
                    "messages": [{"role": "user", "content": prompt(i)}]}
            trace = Trace(time.perf_counter())
            async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: {"):
                        delta = json.loads(line[6:])["choices"]
                        if delta and delta[0]["delta"].get("content"):
                            trace.token_times.append(time.perf_counter())
            traces.append(trace)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=300) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return Level(concurrency, traces, time.perf_counter() - started)


def raw_level(server, template: str, concurrency: int, requests: int,
              max_tokens: int) -> Level:
    counter = iter(range(requests))
    lock = threading.Lock()
    traces: list[Trace] = []

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            text = render_chat(template, [{"role": "user", "content": prompt(i)}])
            trace = Trace(time.perf_counter())

            def on_chunk(chunk: dict, trace: Trace = trace) -> bool:
                if (chunk.get("choices") or [{}])[0].get("text"):
                    trace.token_times.append(time.perf_counter())
                return False

            server.handle_completions({"prompt": text, "max_tokens": max_tokens, "seed": i,
                                       "stream": True, "cache_prompt": True}, on_chunk)
            with lock:
                traces.append(trace)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Level(concurrency, traces, time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--requests-per-client", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating server/raw phases; samples are pooled")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    home = Path(tempfile.mkdtemp(prefix="autonom-serve-bench-"))
    settings = load_settings(home=home, keep_alive="-1")
    services = Services(settings)
    record = pull(MODEL, services.registry, settings)
    backend = EmbeddedBackend(services.registry, settings)
    params = engine_params(str(record.path), settings.engine, backend.context_size(record))
    backend.close()

    measured: dict[str, dict[int, Level]] = {"autonom HTTP": {}, "raw engine": {}}
    for round_ in range(args.rounds):
        phases = ("autonom HTTP", "raw engine") if round_ % 2 == 0 else ("raw engine",
                                                                          "autonom HTTP")
        for phase in phases:
            for c, level in run_phase(phase, home, params, record, levels, args).items():
                known = measured[phase].get(c)
                measured[phase][c] = level if known is None else Level(
                    c, known.traces + level.traces, known.wall + level.wall)
                print(phase, c, level.row(), file=sys.stderr)
    results = {side: {c: level.row() for c, level in rows.items()}
               for side, rows in measured.items()}

    report = render(results, levels, args, settings)
    publish(START, END, report, write=not args.no_write)
    return 0


def requests_for(concurrency: int, args: argparse.Namespace) -> int:
    return max(8, concurrency * args.requests_per_client)


def run_phase(phase: str, home: Path, params, record, levels: list[int],
              args: argparse.Namespace) -> dict[int, Level]:
    """Load one side, warm it up, run every concurrency level, unload it."""
    out: dict[int, Level] = {}
    if phase == "autonom HTTP":
        process, url = start_server(home, {"AUTONOM_KEEP_ALIVE": "-1"}, ("--no-auth",))
        try:
            asyncio.run(http_level(url, 1, 1, 4))  # load and warm up
            for c in levels:
                out[c] = asyncio.run(http_level(url, c, requests_for(c, args), args.max_tokens))
        finally:
            stop_server(process)
        return out
    import xllamacpp

    raw = xllamacpp.Server(params)
    raw_level(raw, record.info.chat_template, 1, 1, 4)
    for c in levels:
        out[c] = raw_level(raw, record.info.chat_template, c, requests_for(c, args),
                           args.max_tokens)
    del raw
    return out


def render(results: dict, levels: list[int], args: argparse.Namespace, settings) -> str:
    http, raw = results["autonom HTTP"], results["raw engine"]
    lines = [
        START,
        f"### Serving: autonom HTTP vs raw engine ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/serve.py --levels {args.levels} --max-tokens "
        f"{args.max_tokens} --requests-per-client {args.requests_per_client} "
        f"--rounds {args.rounds}`",
        "",
        f"Machine: {machine()}; model {MODEL}; "
        f"{settings.engine.threads} threads (poll {settings.engine.poll}), "
        f"{settings.engine.n_parallel} slots; streaming "
        f"chat completions of up to {args.max_tokens} tokens (seeded sampling, so both sides "
        "generate the same answers), short prompts; at least 8 requests per level and round; "
        f"{args.rounds} rounds alternating which side runs first, samples pooled.",
        "",
        "| side | clients | requests/s | output tok/s | TTFT p50 / p95 ms | "
        "ITL p50 / p95 ms | decode tok/s (1/TPOT) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in (("autonom HTTP", http), ("raw engine", raw)):
        for c in levels:
            r = rows[c]
            lines.append(
                f"| {name} | {c} | {r['requests_per_s']:.2f} | {r['output_tok_per_s']:.1f} | "
                f"{r['ttft_p50_ms']:.0f} / {r['ttft_p95_ms']:.0f} | {r['itl_p50_ms']:.1f} / "
                f"{r['itl_p95_ms']:.1f} | {r['decode_tok_per_s']:.1f} |")
    lines.append("")
    if 1 in levels:
        ratio = http[1]["decode_tok_per_s"] / raw[1]["decode_tok_per_s"]
        lines.append(f"- single-stream decode through HTTP / raw engine: **{ratio:.3f}** "
                     "(target ≥ 0.90)")
    if 1 in levels and 4 in levels:
        scale = http[4]["output_tok_per_s"] / http[1]["output_tok_per_s"]
        lines.append(f"- aggregate output tokens/s, 4 streams / 1 stream (HTTP): "
                     f"**{scale:.2f}×** (target ≥ 1.5×)")
    if 8 in levels:
        lines.append(f"- p95 time to first token at 8 streams (HTTP): "
                     f"**{http[8]['ttft_p95_ms']:.0f} ms**")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
