"""CLI commands for the embedded engine's build: make a native one, show, switch.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from autonom.cli import console
from autonom.config import load_settings
from autonom.engine.builds import NATIVE, PREBUILT, Build, Status
from autonom.services import Services, engine

engine_app = typer.Typer(
    rich_markup_mode=None,
    help="The embedded engine: build it for this CPU, show and switch "
    "builds.", no_args_is_help=True)


@engine_app.command("build")
def build(
    source: Annotated[str | None, typer.Option(
        help="a local xllamacpp source distribution (.tar.gz) or folder; default: the "
             "installed version from the package index")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, max=256,
                                             help="parallel compile jobs (default: CPUs)")] = None,
    switch: Annotated[bool, typer.Option(help="use the new build once it passed its "
                                         "self-test")] = True,
) -> None:
    """Compile llama.cpp for this CPU (about 7 minutes on 2 cores), test it, switch to it."""
    settings = load_settings()
    services = Services(settings)
    model = settings.default_model
    engine.preflight(settings)
    if services.registered(model) is None:
        console.err.print(f"fetching {model} for the self-test …")
        with console.progress() as bar:
            services.pull(model, progress=bar, warn=console.warn)
    started = time.monotonic()
    console.err.print(f"building the engine for this CPU; log: "
                      f"{engine.build_log(settings)}")
    with _bar() as report:
        made = engine.build(settings, source=source, jobs=jobs, switch=switch,
                            progress=report)
    minutes = (time.monotonic() - started) / 60
    console.out.print(f"native engine built in {minutes:.0f} min and tested: "
                      f"{_speedup(made)}")
    if switch and made.facts.get("kept_prebuilt"):
        console.out.print(f"active engine unchanged (prebuilt): {made.facts['kept_prebuilt']}; "
                          "autonom engine use native switches anyway", markup=False)
    elif switch:
        console.out.print("active: native (running servers keep their engine until restarted)")
    else:
        console.out.print("active engine unchanged; autonom engine use native switches")


@engine_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
           ) -> None:
    """Which engine build new processes load, its CPU features and measured speeds."""
    info = engine.status(load_settings())
    rows = [_row(PREBUILT, info), _row(NATIVE, info)]
    if as_json:
        console.out.print_json(json.dumps({
            "active": info.choice.build.kind, "reason": info.choice.reason,
            "warning": info.choice.warning, "builds": rows,
        }))
        return
    if info.choice.warning:
        console.warn(info.choice.warning)
    console.out.print(f"active: {info.choice.build.kind} ({info.choice.reason})")
    console.table(
        ["build", "version", "CPU features", "short: decode", "long: prompt / decode",
         "built"],
        [[r["build"], r["version"] or "-", r["features"] or "-", _tps(r, "short", "decode"),
          f"{_tps(r, 'long', 'prompt')} / {_tps(r, 'long', 'decode')}", r["built"] or "-"]
         for r in rows])
    if info.native is None:
        console.err.print("no native build yet: autonom engine build (or make native) makes one "
                          "and measures both")


@engine_app.command("use")
def use(build: Annotated[str, typer.Argument(help="prebuilt or native")]) -> None:
    """Choose the engine build that new processes load."""
    settings = load_settings()
    choice, warning = engine.use(settings, build)
    console.out.print(f"active: {choice.build.kind} (running servers keep their engine until "
                      "restarted)")
    if warning is not None:
        console.warn(warning)


def _row(kind: str, info: Status) -> dict[str, Any]:
    measured = info.measured(kind) or {}
    built = None
    version: str | None = info.version
    if kind == NATIVE:
        facts = info.native.facts if info.native else {}
        version = facts.get("version")
        if facts.get("built_at"):
            built = (time.strftime("%Y-%m-%d %H:%M", time.localtime(facts["built_at"]))
                     + f", {facts.get('build_s', 0) / 60:.0f} min")
    return {"build": kind, "version": version, "built": built,
            "features": _features(str(measured.get("system_info", ""))),
            "system_info": measured.get("system_info"), "speed": measured.get("speed")}


_PLAIN = {"SSE3", "SSSE3", "LLAMAFILE", "OPENMP", "REPACK"}


def _features(system_info: str) -> str:
    """The instruction sets llama.cpp reports as used (``AVX512 = 1``), without the ones
    every x86-64 build has."""
    names = (part.split("=")[0].strip().removeprefix("CPU : ").strip()
             for part in system_info.split("|") if part.strip().endswith("= 1"))
    return " ".join(name for name in names if name not in _PLAIN)


def _tps(row: dict[str, Any], scenario: str, what: str) -> str:
    value = ((row.get("speed") or {}).get(scenario) or {}).get(f"{what}_per_second")
    return f"{value:.0f} tok/s" if value else "-"


def _speedup(made: Build) -> str:
    mine = (made.facts.get("selftest") or {}).get("speed") or {}
    theirs = (made.facts.get("prebuilt") or {}).get("speed") or {}
    parts = []
    for scenario in ("short", "long"):
        a = (mine.get(scenario) or {}).get("decode_per_second")
        b = (theirs.get(scenario) or {}).get("decode_per_second")
        if a and b:
            parts.append(f"{scenario}-prompt decode {a:.0f} vs {b:.0f} tok/s ({a / b:.2f}×)")
    return "; ".join(parts) or "speed not measured"


class _Reporter:
    def __init__(self, bar: Progress | None) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=100) if bar else None
        self.phase = ""

    def __call__(self, phase: str, percent: float) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=phase, completed=percent)
        elif phase != self.phase:
            console.err.print(f"{phase} …", markup=False)
        self.phase = phase


@contextmanager
def _bar() -> Iterator[_Reporter]:
    if not console.err.is_terminal:
        yield _Reporter(None)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=console.err) as progress:
        yield _Reporter(progress)


def register(app: typer.Typer) -> None:
    app.add_typer(engine_app, name="engine")
