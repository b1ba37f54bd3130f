"""Concurrent streams on the raw engine: aggregate decode speed with 1 and 4 requests at once,
for each engine build and for the default model in three weight formats.

A profile of 4 streams on the default model (``perf record`` on the prebuilt build) showed
half the time in ``ggml_vec_dot_q4_1_q8_1``: Q4_1 weights are multiplied one row and one
token at a time, so four tokens cost four times one, and batching gains little. Formats with
batched CPU kernels (Q4_0 is repacked for AVX2/AVX-512 matrix kernels) should scale better;
this measures it. Q4_0 and Q8_0 files are made from the Q4_1 file by
``benchmarks/requantize.py`` (Q4_0 rounds twice, so its answers are not the original's).

    python benchmarks/engine_concurrency.py [--rounds 2] [--native DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autonom.backends.embedded import EmbeddedBackend, engine_params, import_engine
from autonom.config import load_settings
from autonom.engine import builds
from autonom.models.pull import pull
from autonom.services import Services
from requantize import requantize
from results_file import machine, publish

MODEL = "smollm2-135m"
FORMATS = ("Q4_1", "Q4_0", "Q8_0")
START, END = "<!-- engine-concurrency:start -->", "<!-- engine-concurrency:end -->"


def worker(args: argparse.Namespace) -> int:
    """``--worker``: 1 and 4 streams on one model with the build AUTONOM_ENGINE__BUILD names."""
    services = Services(load_settings(home=Path(args.home)))
    backend = EmbeddedBackend(services.registry, services.settings)
    record = services.registry.resolve(args.model)
    server = import_engine().Server(engine_params(str(record.path), services.settings.engine,
                                                 backend.context_size(record)))

    def one(seed: int, tokens: list[int]) -> None:
        result = server.handle_completions({
            "prompt": f"<|im_start|>user\nGeschichte {seed} über eine Pumpe.<|im_end|>\n"
                      "<|im_start|>assistant\n",
            "max_tokens": args.max_tokens, "temperature": 0.7, "seed": seed,
            "cache_prompt": False, "ignore_eos": True})
        tokens.append(result["usage"]["completion_tokens"])

    one(0, [])
    speeds = {}
    for streams in (1, 4):
        tokens: list[int] = []
        threads = [threading.Thread(target=one, args=(streams * 100 + i, tokens))
                   for i in range(streams)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        speeds[streams] = sum(tokens) / (time.perf_counter() - started)
    print(json.dumps({"build": services.engine_build.build.kind, "speeds": speeds}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--native", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    native = args.native or builds.native_dir(load_settings().home)
    found = builds.read_build(native)
    kinds = {"prebuilt": builds.PREBUILT}
    if found is not None and builds.unusable(found) is None:
        kinds["native"] = str(native)
    else:
        print(f"no usable native build in {native}: prebuilt only", file=sys.stderr)

    home = Path(os.environ.get("AUTONOM_BENCH_HOME") or tempfile.mkdtemp(prefix="autonom-bench-"))
    services = Services(load_settings(home=home))
    try:
        record = services.registry.resolve(MODEL)
    except Exception:
        record = pull(MODEL, services.registry, services.settings)
    models = {"Q4_1": MODEL}
    for kind in FORMATS[1:]:
        name = f"{MODEL}-{kind.lower()}"
        try:
            services.registry.resolve(name)
        except Exception:
            made = requantize(record.path, home / f"{name}.gguf", kind)
            pull(str(made), services.registry, services.settings, name=name)
        models[kind] = name
    threads = services.settings.engine.threads
    services.close()

    results: dict[tuple[str, str], list[dict]] = {}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUTONOM_") or k.startswith("AUTONOM_ENGINE__")}
    for i in range(args.rounds):
        order = list(kinds) if i % 2 == 0 else list(reversed(kinds))
        for fmt, name in models.items():
            for kind in order:
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", "--home", str(home), "--model", name,
                     "--max-tokens", str(args.max_tokens)],
                    env={**env, "AUTONOM_ENGINE__BUILD": kinds[kind]}, capture_output=True,
                    text=True, timeout=600, check=False)
                if done.returncode != 0:
                    raise SystemExit(done.stderr[-2000:])
                speeds = json.loads(done.stdout.strip().splitlines()[-1])["speeds"]
                results.setdefault((kind, fmt), []).append(speeds)
                print(f"round {i + 1}: {kind} {fmt}: 1 stream {speeds['1']:.0f}, 4 streams "
                      f"{speeds['4']:.0f} tok/s", file=sys.stderr)

    def med(kind: str, fmt: str, streams: str) -> float:
        return statistics.median(r[streams] for r in results[(kind, fmt)])

    rows = []
    for fmt in models:
        for kind in kinds:
            one, four = med(kind, fmt, "1"), med(kind, fmt, "4")
            versus = (f"{four / med('prebuilt', fmt, '4'):.2f}×" if kind == "native" else "")
            rows.append(f"| {fmt} | {kind} | {one:.0f} | {four:.0f} | **{four / one:.2f}×** | "
                        f"{versus} |")
    report = "\n".join([
        START,
        f"### Concurrent streams by engine build and weight format ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/engine_concurrency.py --rounds {args.rounds} "
        f"--max-tokens {args.max_tokens}`",
        "",
        f"Machine: {machine()}; xllamacpp {builds.installed_version()}; {MODEL} in three "
        f"formats (Q4_1 as shipped, Q4_0 and Q8_0 made from it); raw engine, {threads} threads, "
        f"4 slots; {args.max_tokens} tokens per request after a short prompt (end of text "
        f"ignored); medians of {args.rounds} rounds, each in a fresh process.",
        "",
        "| weights | build | 1 stream, tok/s | 4 streams, tok/s (sum) | 4 / 1 | native / "
        "prebuilt at 4 |",
        "|---|---|---|---|---|---|",
        *rows,
        END,
    ])
    publish(START, END, report, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
