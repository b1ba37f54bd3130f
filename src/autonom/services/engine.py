"""The engine build new processes load (``autonom engine build|status|use``): a native build
of llama.cpp for this CPU beside the prebuilt wheel, tested before it is switched to."""

from __future__ import annotations

from pathlib import Path

from autonom.config import Settings
from autonom.engine import builds, native

Progress = native.Progress
"""``progress(phase, percent)`` while compiling and testing."""


def build_log(settings: Settings) -> Path:
    return builds.engine_dir(settings.home) / "build.log"


def preflight(settings: Settings) -> None:
    """Refuses a build before anything is fetched when a compiler or tool is missing."""
    native.preflight(settings.home)


def build(settings: Settings, *, source: str | None, jobs: int | None, switch: bool,
          progress: Progress | None = None) -> builds.Build:
    """Compiles, installs and self-tests a native engine with the default model (which must
    be in the store), switching to it if ``switch``; the previous build stays active when
    anything fails."""
    return native.build(settings.home, source=source, jobs=jobs,
                        model=settings.default_model, switch=switch, progress=progress)


def status(settings: Settings) -> builds.Status:
    """The active build and why, and the facts and measured speeds of both builds."""
    return builds.status(settings)


def use(settings: Settings, kind: str) -> tuple[builds.Choice, str | None]:
    """Makes ``kind`` (prebuilt or native) the build new processes load; the warning when
    ``engine.build`` in the settings overrides that choice."""
    choice = builds.use(settings, kind)
    warning = None
    if settings.engine.build is not None:
        warning = (f"engine.build is set to {settings.engine.build!r} (AUTONOM_ENGINE__BUILD "
                   "or autonom.toml) and takes precedence")
    return choice, warning
