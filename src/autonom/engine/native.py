"""``autonom engine build``: compile llama.cpp for this CPU, test it, then switch to it.

The installed xllamacpp version is built from its source distribution with pip (from the
configured package index, or a local sdist) and ``GGML_NATIVE=ON``. Three of llama.cpp's
build options fetch code from the internet, so they are off: BoringSSL and OpenSSL (the
engine's own HTTP client, unused in-process) and llguidance (an alternative grammar engine;
JSON schemas are still turned into llama.cpp's own GBNF grammars, which the self-test
checks). The build happens in a staging folder next to the active one; only a build that
compiled, installed and passed the self-test replaces ``HOME/engine/native``, and only then
is it chosen. Anything else leaves the active engine as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from autonom.engine import builds
from autonom.errors import EngineBuildError

CMAKE_ARGS = ("-DGGML_NATIVE=ON", "-DLLAMA_BUILD_BORINGSSL=OFF", "-DLLAMA_OPENSSL=OFF",
              "-DLLAMA_LLGUIDANCE=OFF")
SELFTEST_TIMEOUT_S = 900
Progress = Callable[[str, float], None]
"""Called with a phase description and the percentage done (0–100)."""

_UNIT = re.compile(r"^\s*\[\s*\d{1,3}%\] Building (C|CXX) object ")
_BINDING_UNIT = re.compile(r"^\s*(g\+\+|c\+\+|gcc|cc|clang\+\+|clang) ")
LLAMA_CPP_UNITS = 200


def missing_tools() -> list[str]:
    """Build tools this machine lacks (cmake, make or ninja, a C and a C++ compiler)."""
    missing = [] if shutil.which("cmake") else ["cmake"]
    if not (shutil.which("make") or shutil.which("ninja")):
        missing.append("make")
    if not any(shutil.which(cc) for cc in (os.environ.get("CC") or "cc", "gcc", "clang")):
        missing.append("a C compiler")
    if not any(shutil.which(cxx) for cxx in (os.environ.get("CXX") or "c++", "g++", "clang++")):
        missing.append("a C++ compiler")
    return missing


def preflight(home: Path) -> str:
    """Refuse a build this machine cannot make, before anything is fetched; returns the
    words for what stays active if the build fails later."""
    stays = f"the {builds.recorded(home) or builds.PREBUILT} engine stays active"
    missing = missing_tools()
    if missing:
        raise EngineBuildError(f"cannot build the native engine: {', '.join(missing)} "
                               f"missing (on Debian: apt install cmake build-essential); {stays}")
    return stays


def build(home: Path, *, source: str | None = None, jobs: int | None = None,
          model: str, switch: bool = True, progress: Progress | None = None) -> builds.Build:
    """Build, install and self-test a native engine; make it the active one if ``switch``
    and it is not slower than the prebuilt engine (else ``kept_prebuilt`` in its facts says
    why it was not switched to).

    Raises :class:`EngineBuildError` with one line saying what failed, where the log is and
    that the previous engine stays active.
    """
    report = progress or (lambda _phase, _pct: None)
    stays = preflight(home)
    folder = builds.engine_dir(home)
    staging = folder / "native.new"
    log_path = folder / "build.log"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    version = builds.installed_version()
    started = time.time()
    try:
        with log_path.open("w", encoding="utf-8") as log, _terminated_as_interrupt():
            wheel = _compile(staging, log, source or f"xllamacpp=={version}", jobs, report,
                             stays, log_path)
            report("installing", 97)
            _pip(["install", "--no-deps", "--no-index", "--target", str(staging / "site"),
                  str(wheel)], log, stays, log_path, what="installing the build")
            shutil.rmtree(wheel.parent, ignore_errors=True)
            facts: dict[str, Any] = {
                "version": version, "built_at": started, "build_s": round(time.time() - started),
                "cmake_args": list(CMAKE_ARGS), "cpu_flags": sorted(builds.cpu_flags()),
                "source": source or "package index",
            }
            builds.write_build(staging, facts)
            report("self-test of the native build", 98)
            facts["selftest"] = selftest(home, str(staging), model, log)
            report("measuring the prebuilt engine for comparison", 99)
            facts["prebuilt"] = selftest(home, builds.PREBUILT, model, log)
            builds.write_build(staging, facts)
    except KeyboardInterrupt:
        shutil.rmtree(staging, ignore_errors=True)
        raise EngineBuildError(f"the native build was interrupted; {stays}") from None
    except EngineBuildError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if switch and (why := slower(facts)) is not None:
        facts["kept_prebuilt"] = why
        builds.write_build(staging, facts)
    _replace(staging, builds.native_dir(home))
    if switch and "kept_prebuilt" not in facts:
        builds.record(home, builds.NATIVE)
    report("done", 100)
    result = builds.read_build(builds.native_dir(home))
    assert result is not None
    return result


SLOWER = 0.95
"""A native build whose decode speed is below this share of the prebuilt engine's (after a
short or a long prompt, in the self-test) is kept but not switched to."""


def slower(facts: dict[str, Any]) -> str | None:
    """Why a freshly built engine should not replace the prebuilt one: it decoded slower in
    the self-test. Some CPUs gain nothing from their wider vector units for this work, and a
    build is no reason to become slower."""
    mine = (facts.get("selftest") or {}).get("speed") or {}
    theirs = (facts.get("prebuilt") or {}).get("speed") or {}
    for scenario in ("short", "long"):
        a = (mine.get(scenario) or {}).get("decode_per_second")
        b = (theirs.get(scenario) or {}).get("decode_per_second")
        if a and b and a < SLOWER * b:
            return (f"it decoded slower than the prebuilt engine after a {scenario} prompt "
                    f"({a:.0f} vs {b:.0f} tokens/s)")
    return None


def selftest(home: Path, build: str, model: str, log: IO[str] | None = None) -> dict[str, Any]:
    """Run :mod:`autonom.engine.selftest` on ``build`` in a fresh process; its result."""
    env = {**os.environ, "AUTONOM_HOME": str(home), "AUTONOM_ENGINE__BUILD": build}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autonom.engine.selftest", "--model", model],
            env=env, capture_output=True, text=True, timeout=SELFTEST_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EngineBuildError(f"the self-test of the {build} engine took over "
                               f"{SELFTEST_TIMEOUT_S} s") from exc
    if log is not None:
        log.write(f"\n--- self-test ({build}) ---\n{done.stderr}{done.stdout}\n")
        log.flush()
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if done.returncode != 0 or not result.get("ok"):
        why = result.get("error") or _last_line(done.stderr) or f"exit {done.returncode}"
        name = "native build" if build != builds.PREBUILT else "prebuilt engine"
        raise EngineBuildError(f"the {name} failed its self-test: {why}")
    return dict(result)


def _compile(staging: Path, log: IO[str], spec: str, jobs: int | None, report: Progress,
             stays: str, log_path: Path) -> Path:
    wheels = staging / "wheel"
    args = ["wheel", "--no-deps", "--no-cache-dir", "--verbose", "--wheel-dir", str(wheels)]
    if not (spec.endswith((".tar.gz", ".zip")) or os.path.isdir(spec)):
        args += ["--no-binary", "xllamacpp"]
    env = {**os.environ, "CMAKE_ARGS": " ".join(CMAKE_ARGS),
           "NPROC": str(jobs or os.cpu_count() or 2)}
    env.pop("XLLAMACPP_RELEASE", None)  # that would turn GGML_NATIVE off
    report("fetching the source", 0)
    phase = _Phases(report)
    _pip([*args, spec], log, stays, log_path, env=env, on_line=phase.line,
         what="the native build")
    found = sorted(wheels.glob("xllamacpp-*.whl"))
    if not found:
        raise EngineBuildError(f"the native build made no wheel; {stays}; log: {log_path}")
    return found[0]


class _Phases:
    """Turns pip's and cmake's output into progress. cmake's own percentages restart for
    each target, so compiled files are counted instead: llama.cpp has about
    ``LLAMA_CPP_UNITS`` of them, then the bindings compile a few large ones."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.units = 0
        self.bindings = False

    def line(self, text: str) -> None:
        if _UNIT.match(text):
            self.units += 1
            self.report("compiling llama.cpp", 2 + 80 * min(1.0, self.units / LLAMA_CPP_UNITS))
        elif "Running: cmake .." in text:
            self.report("configuring llama.cpp", 1)
        elif "building 'xllamacpp" in text:
            self.bindings = True
            self.units = 0
            self.report("compiling the Python bindings", 83)
        elif self.bindings and _BINDING_UNIT.match(text):
            self.units += 1
            self.report("compiling the Python bindings", min(96, 83 + 3 * self.units))


def _pip(args: list[str], log: IO[str], stays: str, log_path: Path, *,
         env: dict[str, str] | None = None, on_line: Callable[[str], None] | None = None,
         what: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace",
                               env=env, start_new_session=True)
    try:
        assert process.stdout is not None
        for line in _lines(process.stdout):
            log.write(line)
            log.flush()  # so that the log can be followed while the build runs
            if on_line is not None:
                on_line(line)
        code = process.wait()
    except BaseException:
        _kill_group(process)
        raise
    finally:
        log.flush()
    if code != 0:
        raise EngineBuildError(f"{what} failed (pip exit {code}); {stays}; log: {log_path}")


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Stop pip and every compiler it started (they share its process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM during a build cleans up like Ctrl-C does (main thread only)."""
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _replace(staging: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
