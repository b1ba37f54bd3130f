"""Constants shared by tests."""

import os

DEFAULT_MODEL = "smollm2-135m"

ENGINE_BUILD = os.environ.get("AUTONOM_TEST_ENGINE_BUILD") or None
"""Run the suite on another engine build: a folder made by ``autonom engine build`` (e.g.
``AUTONOM_TEST_ENGINE_BUILD=~/.local/share/autonom/engine/native make test``). Every test's
settings and every server a test starts load that build; unset: the prebuilt engine."""


def engine_env() -> dict[str, str]:
    """The environment that makes a process the tests start load the tested build."""
    return {"AUTONOM_ENGINE__BUILD": ENGINE_BUILD} if ENGINE_BUILD else {}
