"""What moves the engine's speed on this CPU: one llama.cpp setting changed at a time.

The raw engine (no autonom around it) loads the default model once per setting and round,
reads a long prompt (~2,200 tokens, the size of an answer from documents) and writes 128
tokens, then writes 128 tokens after a short prompt. Settings take turns within each
round, in a rotating order; medians of the engine's own timings are compared with the
current defaults measured in the same rounds (paired: each value divided by the default's
value of the same round).

    AUTONOM_ENGINE__BUILD=native python benchmarks/engine_knobs.py [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autonom.backends.embedded import (
    EmbeddedBackend,
    completion_payload,
    engine_params,
    import_engine,
)
from autonom.config import EngineSettings, load_settings
from autonom.models.chat_template import render_chat
from autonom.models.pull import pull
from autonom.services import Services
from autonom.types import ChatRequest, Message
from results_file import machine, publish

MODEL = "smollm2-135m"
PARAGRAPH = (
    "Die Kreiselpumpe KP-55 fördert bis zu 12,5 m³ pro Stunde und hat eine Leistung von 5,5 kW. "
    "Der Wartungsvertrag umfasst eine jährliche Inspektion, den Austausch der Gleitringdichtung "
    "und eine Reaktionszeit von 24 Stunden. Gültig ab 1. April 2026, Stand: 05/2025. "
)
VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "poll 0": {"poll": 0},
    "poll 100": {"poll": 100},
    "threads 1": {"threads": 1},
    "flash attention on": {"flash_attn": "on"},
    "flash attention off": {"flash_attn": "off"},
    "KV cache q8_0": {"kv_cache_type": "q8_0"},
    "batch 2048": {"batch_size": 2048},
    "batch 256, ubatch 256": {"batch_size": 256, "ubatch_size": 256},
    "ubatch 128": {"ubatch_size": 128},
    "1 slot": {"n_parallel": 1},
}


def prompt(record, text: str) -> str:
    info = record.info
    messages = [Message(role="user", content=text)]
    return completion_payload(render_chat(
        info.chat_template, [m.model_dump() for m in messages],
        bos_token=info.bos_token or "", eos_token=info.eos_token or ""),
        ChatRequest(model=MODEL, messages=messages))["prompt"]


def run(server, text: str, max_tokens: int) -> dict:
    result = server.handle_completions({"prompt": text, "max_tokens": max_tokens,
                                        "temperature": 0, "seed": 1, "cache_prompt": False})
    if "timings" not in result:
        raise SystemExit(f"engine error: {result}")
    return result["timings"]


def measure(xlc, record, engine: EngineSettings, tag: str, long_paragraphs: int) -> dict:
    backend_ctx = min(engine.n_ctx, record.info.context_length or engine.n_ctx) * engine.n_parallel
    server = xlc.Server(engine_params(str(record.path), engine, backend_ctx))
    try:
        run(server, prompt(record, "Hallo"), 4)
        long = run(server, prompt(record, f"Lauf {tag}.\n" + PARAGRAPH * long_paragraphs
                                  + "Fasse den Text ausführlich zusammen."), 128)
        short = run(server, prompt(record, f"Lauf {tag}. Erzähle eine lange Geschichte über "
                                   "eine Kreiselpumpe."), 128)
    finally:
        del server
    return {"long_prompt": long["prompt_per_second"], "long_decode": long["predicted_per_second"],
            "short_decode": short["predicted_per_second"], "prompt_n": long["prompt_n"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paragraphs", type=int, default=18)
    parser.add_argument("--only", help="comma-separated settings to measure (defaults always)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    chosen = {"defaults", *(args.only.split(",") if args.only else VARIANTS)}
    unknown = chosen - set(VARIANTS)
    if unknown:
        parser.error(f"unknown settings: {', '.join(sorted(unknown))}")

    home = Path(os.environ.get("AUTONOM_BENCH_HOME") or tempfile.mkdtemp(prefix="autonom-bench-"))
    services = Services(load_settings(home=home))
    choice = services.engine_build
    try:
        record = services.registry.resolve(MODEL)
    except Exception:
        record = pull(MODEL, services.registry, services.settings)
    EmbeddedBackend(services.registry, services.settings)  # activates the chosen build

    xlc = import_engine()
    base = services.settings.engine
    names = [name for name in VARIANTS if name in chosen]
    results: dict[str, list[dict]] = {name: [] for name in names}
    for i in range(args.rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            engine = base.model_copy(update=VARIANTS[name])
            results[name].append(measure(xlc, record, engine, f"{i}-{name}", args.paragraphs))
            r = results[name][-1]
            print(f"round {i + 1}/{args.rounds} {name}: long prompt {r['long_prompt']:.0f}, "
                  f"long decode {r['long_decode']:.1f}, short decode {r['short_decode']:.1f}",
                  file=sys.stderr)
    services.close()

    def cell(name: str, key: str) -> str:
        value = statistics.median(r[key] for r in results[name])
        ratio = statistics.median(r[key] / d[key]
                                  for r, d in zip(results[name], results["defaults"], strict=True))
        return f"{value:.1f} ({ratio:.2f})"

    rows = [f"| {name} | {cell(name, 'long_prompt')} | {cell(name, 'long_decode')} | "
            f"{cell(name, 'short_decode')} |" for name in names]
    tokens = results["defaults"][0]["prompt_n"]
    start, end = (f"<!-- engine-knobs-{choice.build.kind}:{mark} -->" for mark in ("start", "end"))
    report = "\n".join([
        start,
        f"### Engine settings on this CPU, {choice.build.kind} build "
        f"({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `AUTONOM_ENGINE__BUILD={choice.build.kind} python benchmarks/engine_knobs.py "
        f"--rounds {args.rounds} --paragraphs {args.paragraphs}"
        + (f" --only '{args.only}'`" if args.only else "`"),
        "",
        f"Machine: {machine()}; {choice.build.kind} build of xllamacpp {choice.build.version}; "
        f"model {MODEL} ({record.info.quantization}); defaults: {base.threads} threads, poll "
        f"{base.poll}, batch {base.batch_size}, ubatch {base.ubatch_size}, flash attention "
        f"{base.flash_attn}, KV cache {base.kv_cache_type}, {base.n_parallel} slots.",
        "",
        f"Engine timings in tokens/s, medians of {args.rounds} rounds; in brackets the "
        "median ratio to the defaults of the same round.",
        "",
        f"| setting | prompt ({tokens} tok) | decode after it | decode after a short prompt |",
        "|---|---|---|---|",
        *rows,
        end,
    ])
    publish(start, end, report, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
