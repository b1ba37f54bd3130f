"""Routing by complexity, measured with ``autonom eval`` on the mixed set (10 easy, 10 hard).

Two pairs, each as "always the expensive way" vs "route by complexity" vs "always the cheap
way", all through complexity aliases in autonom.toml (the same path an API client takes):

* thinking mode: the same model answers easy requests directly and hard ones with a
  step-by-step instruction appended (what Qwen3's ``/no_think`` and ``/think`` switch);
* model size: easy requests to smollm2-135m, hard ones to gemma3-270m.

Reported per configuration: accuracy (all, easy, hard), output tokens and busy seconds (the
cost of running the model), median latency; and the classifier's own accuracy against the
set's tags. Savings are relative to "always expensive" in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autonom.config import load_settings
from autonom.models.pull import pull
from autonom.services import Services
from results_file import machine, publish

START, END = "<!-- complexity:start -->", "<!-- complexity:end -->"
THINK = " Denke Schritt für Schritt und nenne am Ende das Ergebnis."
NOTE = ("Reading it: the savings are what routing buys — the share of requests that skip the "
        "expensive way times what that way costs. Whether accuracy follows depends on the "
        "models: the two that run here (SmolLM2-135M, Gemma 3 270M base) answer almost none of "
        "these questions right in any configuration, and a step-by-step instruction does not "
        "make a 135M model reason, so the accuracy columns sit at the floor and their "
        "differences are noise (one or two cases). Gemma 3 270M is a base model that ends its "
        "chat answers early, so here the larger model is the cheaper one: the model-size pair "
        "shows the mechanics, not a saving. On a machine with real models, rerun with "
        "e.g. `--config gpu.toml --think-model qwen3:8b@gpu-box --think-suffix ' /think' "
        "--direct-suffix ' /no_think' --small qwen3:1.7b@gpu-box --big qwen3:8b@gpu-box`.")


def config(args: argparse.Namespace) -> str:
    """Complexity aliases: three over one model that differ in the suffix each side gets,
    and one that routes between a small and a big model."""
    think, direct = args.think_suffix, args.direct_suffix
    aliases = [("think-always", args.think_model, args.think_model, think, think),
               ("think-routed", args.think_model, args.think_model, direct, think),
               ("think-never", args.think_model, args.think_model, direct, direct),
               ("size-routed", args.small, args.big, "", "")]
    return "".join(
        f'\n[aliases.{name}]\nsimple = ["{simple}"]\nhard = ["{hard}"]\n'
        f'simple_suffix = "{simple_suffix}"\nhard_suffix = "{hard_suffix}"\n'
        for name, simple, hard, simple_suffix, hard_suffix in aliases)


def run_eval(home: Path, models: list[str], max_tokens: int) -> dict[str, dict]:
    args = [sys.executable, "-m", "autonom", "eval", "run", "mixed", "--json",
            "--max-tokens", str(max_tokens)]
    for model in models:
        args += ["-m", model]
    env = {**os.environ, "AUTONOM_HOME": str(home)}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"eval failed:\n{done.stderr}")
    return {run["label"]: run for run in json.loads(done.stdout)["runs"]}


def classifier_accuracy() -> tuple[int, int, list[str]]:
    from autonom.evals import dataset
    from autonom.evals.dataset import EvalCase
    from autonom.routing.complexity import assess
    from autonom.types import ChatRequest, Message

    path = Path(__file__).parents[1] / "src/autonom/evals/sample/gemischt.yaml"
    cases: tuple[EvalCase, ...] = dataset.load(path).cases
    wrong = []
    for case in cases:
        request = ChatRequest(model="x", messages=[Message(role="user", content=case.question)])
        if assess(request).hard(1.0) != ("schwer" in case.tags):
            wrong.append(case.id)
    return len(cases) - len(wrong), len(cases), wrong


def row(label: str, run: dict, reference: dict) -> str:
    s = run["summary"]
    tags = s.get("by_tag", {})
    saved_tokens = 1 - s["output_tokens"] / reference["summary"]["output_tokens"]
    saved_time = 1 - s["busy_s"] / reference["summary"]["busy_s"]
    delta = s["accuracy"] - reference["summary"]["accuracy"]
    easy, hard = tags["einfach"]["accuracy"], tags["schwer"]["accuracy"]
    return (f"| {label} | {100 * s['accuracy']:.0f} % | {100 * easy:.0f} % | {100 * hard:.0f} % "
            f"| {s['output_tokens']} | {s['busy_s']:.1f} | {s['total_p50_ms']:.0f} "
            f"| {100 * saved_tokens:+.0f} % | {100 * saved_time:+.0f} % "
            f"| {100 * delta:+.0f} pt |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--config", type=Path, help="TOML with [backends] to use")
    parser.add_argument("--think-model", default="smollm2-135m")
    parser.add_argument("--think-suffix", default=THINK)
    parser.add_argument("--direct-suffix", default="")
    parser.add_argument("--small", default="smollm2-135m")
    parser.add_argument("--big", default="gemma3-270m")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(os.environ.get("AUTONOM_BENCH_HOME")
                or tempfile.mkdtemp(prefix="autonom-complexity-"))
    home.mkdir(parents=True, exist_ok=True)
    extra = args.config.read_text(encoding="utf-8") if args.config else ""
    (home / "autonom.toml").write_text(extra + config(args), encoding="utf-8")
    os.environ["AUTONOM_HOME"] = str(home)
    services = Services(load_settings(home=home))
    for model in {args.think_model, args.small, args.big}:
        if "@" not in model and not services.is_local(model):
            pull(model, services.registry, services.settings)
    services.close()
    pairs = [("thinking mode", "think-always", "think-routed", "think-never"),
             ("model size", args.big, "size-routed", args.small)]

    runs = run_eval(home, list(dict.fromkeys(m for _, a, b, c in pairs for m in (a, b, c))),
                    args.max_tokens)
    right, total, wrong = classifier_accuracy()
    lines = []
    for title, always, routed, cheap in pairs:
        reference = runs[always]
        lines += [f"**{title}** (reference: `{always}`)", "",
                  "| configuration | accuracy | easy | hard | output tokens | busy s "
                  "| p50 ms | tokens saved | time saved | accuracy change |",
                  "|---|---|---|---|---|---|---|---|---|---|",
                  row(f"always expensive: `{always}`", reference, reference),
                  row(f"routed: `{routed}`", runs[routed], reference),
                  row(f"always cheap: `{cheap}`", runs[cheap], reference), ""]
    report = "\n".join([
        START,
        f"### Routing by complexity ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/complexity_routing.py --max-tokens {args.max_tokens}` "
        f"(runs `autonom eval run mixed` with complexity aliases; thinking: "
        f"`{args.think_model}` with `{args.think_suffix.strip()}` for hard requests; size: "
        f"`{args.small}` / `{args.big}`)",
        "",
        f"Machine: {machine()}. Set: `mixed` (src/autonom/evals/sample/gemischt.yaml), 10 easy "
        "and 10 hard questions without documents, greedy decoding. Rule classifier: "
        f"{right}/{total} cases routed as tagged"
        + (f" (wrong: {', '.join(wrong)})" if wrong else "")
        + " — the rules were written with this set in view, so expect less on your own "
        "questions; `autonom route MODEL TEXT` shows each decision.",
        "",
        *lines,
        NOTE,
        END,
    ])
    publish(START, END, report, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
