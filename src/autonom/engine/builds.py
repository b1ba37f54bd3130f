"""Which llama.cpp build the embedded engine loads: the prebuilt wheel or a native build.

The prebuilt ``xllamacpp`` wheel runs on any x86-64 with AVX2. ``autonom engine build``
compiles the same version for the CPU it runs on into ``HOME/engine/native`` (see
:mod:`autonom.engine.native`); which of the two a process loads is decided once, before
the first ``import xllamacpp``, by :func:`choose` and :func:`activate`:

1. ``engine.build`` (``AUTONOM_ENGINE__BUILD``): ``prebuilt``, ``native`` or a build folder;
2. else the choice recorded by ``autonom engine use`` (``HOME/engine/active.json``);
3. else the prebuilt wheel.

A native build is used only when it can run here: built from the installed xllamacpp
version, and on a CPU with no instruction set extension this one lacks (a home on shared
storage may be opened from another machine). Otherwise the prebuilt wheel is loaded and
the choice says why.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonom.config import Settings
from autonom.errors import ConfigError

PREBUILT = "prebuilt"
NATIVE = "native"
BUILD_FILE = "build.json"


@dataclass(frozen=True)
class Build:
    """One engine build: the prebuilt wheel (``site`` is None) or a folder made by a build."""

    kind: str
    site: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.facts.get("version") or installed_version())


@dataclass(frozen=True)
class Choice:
    build: Build
    reason: str
    warning: str | None = None
    """Set when the requested build could not be used and the prebuilt one is loaded."""


def engine_dir(home: Path) -> Path:
    return home / "engine"


def native_dir(home: Path) -> Path:
    return engine_dir(home) / NATIVE


def installed_version() -> str:
    """The version of the xllamacpp wheel installed with autonom (not of a native build)."""
    for dist in importlib.metadata.distributions(name="xllamacpp"):
        site = Path(str(dist.locate_file("")))
        if not (site.parent / BUILD_FILE).exists():  # a native build's site folder
            return dist.version
    return "unknown"


def cpu_flags() -> frozenset[str]:
    """The instruction set extensions of this CPU (Linux; empty where unknown)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def read_build(folder: Path) -> Build | None:
    """The native build in ``folder``, or None when there is none (or it is unreadable)."""
    try:
        facts = json.loads((folder / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(facts, dict) or not (folder / "site").is_dir():
        return None
    return Build(NATIVE, folder / "site", facts)


def write_build(folder: Path, facts: dict[str, Any]) -> None:
    tmp = folder / (BUILD_FILE + ".tmp")
    tmp.write_text(json.dumps(facts, indent=2, sort_keys=True))
    tmp.replace(folder / BUILD_FILE)


def recorded(home: Path) -> str | None:
    """The build chosen with ``autonom engine use`` (or by a successful build)."""
    try:
        value = json.loads((engine_dir(home) / "active.json").read_text()).get("build")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in (PREBUILT, NATIVE) else None


def record(home: Path, kind: str) -> None:
    folder = engine_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "active.json.tmp"
    tmp.write_text(json.dumps({"build": kind, "chosen_at": time.time()}))
    tmp.replace(folder / "active.json")


def unusable(build: Build) -> str | None:
    """Why a native build cannot run in this process, or None when it can."""
    version = installed_version()
    if build.facts.get("version") != version:
        return (f"it was built from xllamacpp {build.facts.get('version')}, "
                f"the installed one is {version}")
    missing = sorted(set(build.facts.get("cpu_flags") or ()) - cpu_flags())
    if missing:
        return (f"it was built on a CPU with {', '.join(missing[:4])}"
                f"{' …' if len(missing) > 4 else ''}, which this one lacks")
    return None


def problem(folder: Path) -> tuple[Build | None, str | None]:
    """The native build in ``folder`` and why it cannot run here (None when it can)."""
    build = read_build(folder)
    if build is None:
        return None, f"no native engine build in {folder} (autonom engine build makes one)"
    why = unusable(build)
    if why:
        return build, (f"the native engine build in {folder} cannot be used: {why} "
                       "(autonom engine build makes a new one)")
    return build, None


def choose(settings: Settings) -> Choice:
    requested = settings.engine.build
    reason = "engine.build setting"
    if requested is None:
        requested = recorded(settings.home)
        reason = "chosen by autonom engine build or use"
    if requested in (None, PREBUILT):
        return Choice(Build(PREBUILT), reason if requested else "default")
    build, why = problem(native_dir(settings.home) if requested == NATIVE else Path(requested))
    if build is None or why:
        return Choice(Build(PREBUILT), "fallback", f"{why}; using the prebuilt engine")
    return Choice(build, reason)


def activate(choice: Choice) -> Choice:
    """Make ``import xllamacpp`` load the chosen build. A process loads one build only: when
    the engine is imported already, the choice reports the build that is loaded."""
    site = choice.build.site
    loaded = sys.modules.get("xllamacpp")
    if loaded is not None:
        path = Path(getattr(loaded, "__file__", "") or "")
        if (site is None) == any((p / BUILD_FILE).exists() for p in path.parents):
            return Choice(Build(NATIVE if site is None else PREBUILT), "fallback",
                          "another engine build was loaded before this one was chosen; "
                          "restart to use it")
        return choice
    if site is not None and str(site) not in sys.path:
        sys.path.insert(0, str(site))
    return choice


@dataclass(frozen=True)
class Status:
    """What ``autonom engine status`` shows: the build a new process would load, and for
    each build its facts and the speeds measured when the native build was made."""

    choice: Choice
    version: str
    native: Build | None

    def measured(self, kind: str) -> dict[str, Any] | None:
        """The self-test result of ``kind``, measured in the same run as the native build."""
        if self.native is None:
            return None
        key = "selftest" if kind == NATIVE else "prebuilt"
        value = self.native.facts.get(key)
        return value if isinstance(value, dict) else None


def status(settings: Settings) -> Status:
    return Status(choose(settings), installed_version(), read_build(native_dir(settings.home)))


def use(settings: Settings, kind: str) -> Choice:
    """Record ``kind`` as the build new processes load, after checking it can run here."""
    if kind not in (PREBUILT, NATIVE):
        raise ConfigError(f"unknown engine build {kind!r}: use prebuilt or native")
    if kind == NATIVE:
        _, why = problem(native_dir(settings.home))
        if why:
            raise ConfigError(why)
    record(settings.home, kind)
    return choose(settings.model_copy(update={
        "engine": settings.engine.model_copy(update={"build": None})}))
