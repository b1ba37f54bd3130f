"""Engine overhead: autonom's embedded backend against raw xllamacpp, in the same run.

Both sides load the same GGUF with the same llama.cpp parameters and get prompts of the same
length (a unique first line defeats the prompt cache). Speeds are measured where the caller
sees them: prompt tokens/s = prompt tokens / time to first token, decode tokens/s = tokens
after the first / time from first to last token. The engine's own timings are reported too.
Rounds alternate which side goes first; medians are compared.

    python benchmarks/engine.py [--rounds 5] [--max-tokens 128] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autonom.backends.embedded import EmbeddedBackend, completion_payload, engine_params
from autonom.config import load_settings
from autonom.models.chat_template import render_chat
from autonom.models.pull import pull
from autonom.services import Services
from autonom.types import ChatRequest, GenerationOptions, Message
from results_file import machine, publish

MODEL = "smollm2-135m"
LOAD_TIMES: dict[str, list[float]] = {"raw": [], "autonom": []}
START, END = "<!-- engine:start -->", "<!-- engine:end -->"

PARAGRAPH = (
    "Die Kreiselpumpe KP-55 fördert bis zu 12,5 m³ pro Stunde und hat eine Leistung von 5,5 kW. "
    "Der Wartungsvertrag umfasst eine jährliche Inspektion, den Austausch der Gleitringdichtung "
    "und eine Reaktionszeit von 24 Stunden. Gültig ab 1. April 2026, Stand: 05/2025. "
)


@dataclass
class Sample:
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    decode_s: float
    engine_prompt_tps: float
    engine_decode_tps: float

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.ttft_s

    @property
    def decode_tps(self) -> float:
        return (self.completion_tokens - 1) / self.decode_s if self.decode_s > 0 else 0.0


def make_messages(tag: str, paragraphs: int) -> list[Message]:
    text = f"Lauf {tag}.\n" + PARAGRAPH * paragraphs
    task = ("Fasse den Text ausführlich zusammen." if paragraphs
            else "Erzähle eine lange Geschichte über eine Kreiselpumpe.")
    return [Message(role="user", content=text + "\n" + task)]


def run_raw(server, prompt: str, max_tokens: int) -> Sample:
    chunks: list[tuple[float, dict]] = []
    started = time.perf_counter()
    payload = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "seed": 1,
               "cache_prompt": True, "stream": True}
    server.handle_completions(payload, lambda c: chunks.append((time.perf_counter(), c)) or False)
    return _sample(started, chunks)


def _sample(started: float, chunks: list[tuple[float, dict]]) -> Sample:
    text_times = [t for t, c in chunks if (c.get("choices") or [{}])[0].get("text")]
    final = chunks[-1][1]
    usage, timings = final.get("usage", {}), final.get("timings", {})
    return Sample(
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        ttft_s=text_times[0] - started,
        decode_s=text_times[-1] - text_times[0],
        engine_prompt_tps=timings.get("prompt_per_second", 0.0),
        engine_decode_tps=timings.get("predicted_per_second", 0.0),
    )


async def run_autonom(backend: EmbeddedBackend, messages: list[Message], max_tokens: int) -> Sample:
    request = ChatRequest(model=MODEL, messages=messages,
                          options=GenerationOptions(max_tokens=max_tokens, temperature=0, seed=1))
    started = time.perf_counter()
    first = last = None
    final = None
    async for chunk in backend.stream(request):
        now = time.perf_counter()
        if chunk.delta:
            first = first or now
            last = now
        if chunk.finish_reason:
            final = chunk
    assert final is not None and final.usage is not None and first is not None
    return Sample(
        prompt_tokens=final.usage.prompt_tokens,
        completion_tokens=final.usage.completion_tokens,
        ttft_s=first - started,
        decode_s=last - first,
        engine_prompt_tps=final.timings.prompt_per_second if final.timings else 0.0,
        engine_decode_tps=final.timings.decode_per_second if final.timings else 0.0,
    )


def measure(backend, record, paragraphs: int, args) -> tuple[list[Sample], list[Sample]]:
    """Rounds of: load one side, warm it up, time one request, unload it.

    Only one engine is loaded at a time: two idle llama.cpp instances in one process slow
    each other down on a 2-core machine, which would measure the neighbour, not autonom.
    """
    import xllamacpp

    raw_samples: list[Sample] = []
    our_samples: list[Sample] = []
    info = record.info
    params = engine_params(str(record.path), backend.engine, backend.context_size(record))
    for i in range(args.rounds):
        raw_messages = make_messages(f"R{paragraphs}-{i:03d}", paragraphs)
        our_messages = make_messages(f"A{paragraphs}-{i:03d}", paragraphs)
        raw_prompt = completion_payload(render_chat(
            info.chat_template, [m.model_dump() for m in raw_messages],
            bos_token=info.bos_token or "", eos_token=info.eos_token or ""),
            ChatRequest(model=MODEL, messages=raw_messages))["prompt"]
        for side in ("raw", "autonom") if i % 2 == 0 else ("autonom", "raw"):
            if side == "raw":
                started = time.perf_counter()
                server = xllamacpp.Server(params)
                LOAD_TIMES["raw"].append(time.perf_counter() - started)
                run_raw(server, "Hallo", 4)
                raw_samples.append(run_raw(server, raw_prompt, args.max_tokens))
                del server
            else:
                warm = asyncio.run(backend.chat(ChatRequest(
                    model=MODEL, messages=[Message(role="user", content="Hallo")],
                    options=GenerationOptions(max_tokens=4))))
                LOAD_TIMES["autonom"].append(warm.load_ms / 1000)
                our_samples.append(asyncio.run(run_autonom(backend, our_messages,
                                                           args.max_tokens)))
                backend.unload(MODEL)
        print(f"{paragraphs} paragraphs, round {i + 1}/{args.rounds}: decode raw "
              f"{raw_samples[-1].decode_tps:.1f}, autonom {our_samples[-1].decode_tps:.1f} tok/s",
              file=sys.stderr)
    return raw_samples, our_samples


def median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--paragraphs", type=int, default=12, help="prompt length (~60 tok each)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    home = Path(os.environ.get("AUTONOM_BENCH_HOME") or tempfile.mkdtemp(prefix="autonom-bench-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    try:
        record = services.registry.resolve(MODEL)
    except Exception:
        record = pull(MODEL, services.registry, services.settings)
    engine = services.settings.engine
    backend = services.backend

    import xllamacpp

    rows = []
    for scenario, paragraphs in (("short prompt", 0), ("long prompt", args.paragraphs)):
        raw_samples, our_samples = measure(backend, record, paragraphs, args)
        prompt_tokens = median(our_samples, "prompt_tokens")
        for label, attr in (("prompt tokens/s (caller-side)", "prompt_tps"),
                            ("decode tokens/s (caller-side)", "decode_tps"),
                            ("prompt tokens/s (engine timings)", "engine_prompt_tps"),
                            ("decode tokens/s (engine timings)", "engine_decode_tps")):
            if scenario == "short prompt" and attr.endswith("prompt_tps"):
                continue  # a 40-token prompt is too short to time its processing
            r, a = median(raw_samples, attr), median(our_samples, attr)
            paired = statistics.median(
                getattr(o, attr) / getattr(w, attr)
                for o, w in zip(our_samples, raw_samples, strict=True)
            )
            rows.append(f"| {scenario} ({prompt_tokens:.0f} tok) | {label} | {r:.1f} | {a:.1f} "
                        f"| {a / r:.3f} | **{paired:.3f}** |")
    services.close()
    report = "\n".join([
        START,
        f"### Engine overhead: autonom vs raw xllamacpp ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `make bench` = `python benchmarks/engine.py --rounds {args.rounds} "
        f"--max-tokens {args.max_tokens} --paragraphs {args.paragraphs}`",
        "",
        f"Machine: {machine()}, xllamacpp {xllamacpp.__version__}; "
        f"model {MODEL} ({record.info.quantization}), "
        f"{engine.threads} threads (poll {engine.poll}), n_ctx {backend.context_size(record)}, "
        f"{engine.n_parallel} slots.",
        "",
        f"Answers: {args.max_tokens} tokens, greedy; medians of {args.rounds} rounds per "
        "scenario, alternating which side goes first. The machine is a shared VM: single "
        "rounds vary by ±20 %, so only medians are compared; the paired column divides each "
        "autonom request by the raw request next to it in time, which cancels slow drifts.",
        "",
        "| scenario | metric | raw xllamacpp | autonom | ratio of medians | median of "
        "per-round ratios (target ≥ 0.95) |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| | model load time, s (median) | {statistics.median(LOAD_TIMES['raw']):.2f} | "
        f"{statistics.median(LOAD_TIMES['autonom']):.2f} | | |",
        END,
    ])
    publish(START, END, report, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
