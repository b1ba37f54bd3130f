"""Engine speed: the prebuilt and the native llama.cpp build, each raw and through autonom.

Each measurement runs in a worker process of its own, because a process can load only one
build of the engine. A worker loads the same GGUF with the same llama.cpp parameters into
the raw engine and into autonom's embedded backend (one at a time) and gives each a prompt
of the same length (a unique first line defeats the prompt cache). Speeds are measured where
the caller sees them: prompt tokens/s = prompt tokens / time to first token, decode
tokens/s = tokens after the first / time from first to last token; the engine's own
timings are reported too. Rounds alternate which build and which side goes first; medians
are compared, and paired ratios divide each request by its neighbour in time.

    python benchmarks/engine.py [--rounds 5] [--max-tokens 128] [--paragraphs 18]
                                [--native DIR] [--no-write]

The native build is the one ``autonom engine build`` made in the data directory (or
``--native DIR``); without one only the prebuilt engine is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from autonom.backends.embedded import (
    EmbeddedBackend,
    completion_payload,
    engine_params,
    import_engine,
)
from autonom.config import load_settings
from autonom.engine import builds
from autonom.models.chat_template import render_chat
from autonom.models.pull import pull
from autonom.services import Services
from autonom.types import ChatRequest, GenerationOptions, Message
from results_file import machine, publish

MODEL = "smollm2-135m"
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


def measure(backend, record, paragraphs: int, tag: str, raw_first: bool,
            max_tokens: int) -> dict:
    """One round in this process: the raw engine and autonom, one loaded at a time (two idle
    llama.cpp instances in one process slow each other down on a 2-core machine)."""
    xllamacpp = import_engine()
    info = record.info
    params = engine_params(str(record.path), backend.engine, backend.context_size(record))
    raw_messages = make_messages(f"R{tag}", paragraphs)
    our_messages = make_messages(f"A{tag}", paragraphs)
    raw_prompt = completion_payload(render_chat(
        info.chat_template, [m.model_dump() for m in raw_messages],
        bos_token=info.bos_token or "", eos_token=info.eos_token or ""),
        ChatRequest(model=MODEL, messages=raw_messages))["prompt"]
    result: dict = {"system_info": xllamacpp.get_system_info().strip()}
    for side in ("raw", "autonom") if raw_first else ("autonom", "raw"):
        if side == "raw":
            started = time.perf_counter()
            server = xllamacpp.Server(params)
            result["raw_load_s"] = time.perf_counter() - started
            run_raw(server, "Hallo", 4)
            result["raw"] = asdict(run_raw(server, raw_prompt, max_tokens))
            del server
        else:
            warm = asyncio.run(backend.chat(ChatRequest(
                model=MODEL, messages=[Message(role="user", content="Hallo")],
                options=GenerationOptions(max_tokens=4))))
            result["autonom_load_s"] = warm.load_ms / 1000
            result["autonom"] = asdict(asyncio.run(run_autonom(backend, our_messages,
                                                               max_tokens)))
            backend.unload(MODEL)
    return result


def worker(args) -> int:
    """``--worker``: one round for the build named by AUTONOM_ENGINE__BUILD; JSON on stdout."""
    services = Services(load_settings(home=Path(args.home), keep_alive="-1"))
    choice = services.engine_build
    if choice.warning:
        print(choice.warning, file=sys.stderr)
        return 1
    backend = EmbeddedBackend(services.registry, services.settings)
    record = services.registry.resolve(MODEL)
    result = measure(backend, record, args.paragraphs, args.tag, args.raw_first,
                     args.max_tokens)
    result["build"] = choice.build.kind
    backend.close()
    print(json.dumps(result))
    return 0


def run_worker(home: Path, build: str, paragraphs: int, tag: str, raw_first: bool,
               args) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUTONOM_") or k.startswith("AUTONOM_ENGINE__")}
    env["AUTONOM_ENGINE__BUILD"] = build  # engine settings pass through, e.g. FLASH_ATTN
    command = [sys.executable, __file__, "--worker", "--home", str(home), "--tag", tag,
               "--paragraphs", str(paragraphs), "--max-tokens", str(args.max_tokens)]
    if raw_first:
        command.append("--raw-first")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {build} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def paired(a: list[Sample], b: list[Sample], attr: str) -> float:
    return statistics.median(getattr(x, attr) / getattr(y, attr)
                             for x, y in zip(a, b, strict=True))


METRICS = (("prompt tokens/s (caller-side)", "prompt_tps"),
           ("decode tokens/s (caller-side)", "decode_tps"),
           ("prompt tokens/s (engine timings)", "engine_prompt_tps"),
           ("decode tokens/s (engine timings)", "engine_decode_tps"))


def settings_env() -> str:
    """The engine settings given in the environment, as a command prefix for the report."""
    given = [f"{k}={v}" for k, v in sorted(os.environ.items())
             if k.startswith("AUTONOM_ENGINE__") and k != "AUTONOM_ENGINE__BUILD"]
    return " ".join(given) + " " if given else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--paragraphs", type=int, default=18,
                        help="long prompt length (~120 tokens each)")
    parser.add_argument("--native", type=Path, default=None,
                        help="a native build folder (default: the data directory's)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--raw-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    user = load_settings()
    native = args.native or builds.native_dir(user.home)
    found = builds.read_build(native)
    why = "no build there" if found is None else builds.unusable(found)
    kinds = {"prebuilt": builds.PREBUILT}
    if why:
        print(f"native build in {native} not measured: {why}", file=sys.stderr)
    else:
        kinds["native"] = str(native)

    home = Path(os.environ.get("AUTONOM_BENCH_HOME") or tempfile.mkdtemp(prefix="autonom-bench-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    try:
        record = services.registry.resolve(MODEL)
    except Exception:
        record = pull(MODEL, services.registry, services.settings)
    engine = services.settings.engine
    n_ctx = EmbeddedBackend(services.registry, services.settings).context_size(record)

    samples: dict[tuple[str, str, str], list[Sample]] = {}
    loads: dict[str, list[float]] = {}
    info: dict[str, str] = {}
    scenarios = (("short prompt", 0), ("long prompt", args.paragraphs))
    for i in range(args.rounds):
        for scenario, paragraphs in scenarios:
            order = list(kinds) if i % 2 == 0 else list(reversed(kinds))
            for name in order:
                result = run_worker(home, kinds[name], paragraphs, f"{name}{paragraphs}-{i:03d}",
                                    raw_first=i % 2 == 0, args=args)
                info[name] = result["system_info"]
                for side in ("raw", "autonom"):
                    samples.setdefault((name, scenario, side), []).append(
                        Sample(**result[side]))
                    loads.setdefault(f"{name} {side}", []).append(result[f"{side}_load_s"])
                s = samples[(name, scenario, "autonom")][-1]
                print(f"round {i + 1}/{args.rounds}, {scenario}, {name}: decode "
                      f"{s.engine_decode_tps:.1f} tok/s", file=sys.stderr)
    services.close()

    rows = []
    for scenario, _ in scenarios:
        tokens = median(samples[("prebuilt", scenario, "autonom")], "prompt_tokens")
        for label, attr in METRICS:
            if scenario == "short prompt" and attr.endswith("prompt_tps"):
                continue  # a 40-token prompt is too short to time its processing
            cells = [f"{scenario} ({tokens:.0f} tok)", label]
            for name in kinds:
                raw, ours = samples[(name, scenario, "raw")], samples[(name, scenario, "autonom")]
                cells += [f"{median(raw, attr):.1f}", f"{median(ours, attr):.1f}",
                          f"**{paired(ours, raw, attr):.3f}**"]
            if "native" in kinds:
                ratio = paired(samples[("native", scenario, "raw")],
                               samples[("prebuilt", scenario, "raw")], attr)
                cells.append(f"**{ratio:.3f}**")
            rows.append("| " + " | ".join(cells) + " |")
    columns = "| scenario | metric |" + "".join(
        f" {n} raw | {n} autonom | {n} autonom/raw (paired) |" for n in kinds)
    if "native" in kinds:
        columns += " native/prebuilt, raw (paired) |"
    report = "\n".join([
        START,
        f"### Engine: prebuilt vs native build, each raw and through autonom "
        f"({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{settings_env()}python benchmarks/engine.py --rounds {args.rounds} "
        f"--max-tokens {args.max_tokens} --paragraphs {args.paragraphs}`",
        "",
        f"Machine: {machine()}; xllamacpp {builds.installed_version()}; model {MODEL} "
        f"({record.info.quantization}), {engine.threads} threads (poll {engine.poll}), "
        f"n_ctx {n_ctx}, {engine.n_parallel} slots, flash attention {engine.flash_attn}, "
        f"KV cache {engine.kv_cache_type}.",
        *[f"- {name}: `{info[name]}`" for name in kinds],
        "",
        f"Answers: {args.max_tokens} tokens, greedy; medians of {args.rounds} rounds per "
        "scenario and build, each round in a fresh worker process, alternating which build "
        "and which side goes first. The paired columns take the median of per-round ratios "
        "(each request divided by its neighbour in time), which cancels slow drifts of this "
        "shared VM.",
        "",
        columns,
        "|" + "---|" * (columns.count("|") - 1),
        *rows,
        "| | model load time, s (median) | " + " | ".join(
            f"{statistics.median(loads[f'{n} raw']):.2f} | "
            f"{statistics.median(loads[f'{n} autonom']):.2f} | " for n in kinds)
        + (" |" if "native" in kinds else ""),
        END,
    ])
    publish(START, END, report, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
