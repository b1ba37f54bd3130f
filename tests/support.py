"""Constants and helpers shared by tests."""

import os
import subprocess
import sys
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m"

ENGINE_BUILD = os.environ.get("AUTONOM_TEST_ENGINE_BUILD") or None
"""Run the suite on another engine build: a folder made by ``autonom engine build`` (e.g.
``AUTONOM_TEST_ENGINE_BUILD=~/.local/share/autonom/engine/native make test``). Every test's
settings and every server a test starts load that build; unset: the prebuilt engine."""


def engine_env() -> dict[str, str]:
    """The environment that makes a process the tests start load the tested build."""
    return {"AUTONOM_ENGINE__BUILD": ENGINE_BUILD} if ENGINE_BUILD else {}


def autonom(home: Path, *args: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``autonom ARGS`` as a user runs it: its own process, data directory ``home``, none of
    the test process's AUTONOM_* settings (``env`` adds some), no standard input."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    return subprocess.run([sys.executable, "-m", "autonom", *args], capture_output=True,
                          env={**clean, "AUTONOM_HOME": str(home), **(env or {})}, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
