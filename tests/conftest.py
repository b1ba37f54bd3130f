"""Shared fixtures: an isolated AUTONOM_HOME per test and the real default model, pulled once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autonom.config import Settings, load_settings
from autonom.models.pull import pull
from autonom.services import Services
from support import DEFAULT_MODEL, ENGINE_BUILD, engine_env

pytest_plugins = ["api_support", "knowledge_support", "pg_support", "server_support"]
_ENV_KEYS = ("AUTONOM_HOME", "AUTONOM_CONFIG", "HF_ENDPOINT", "HF_TOKEN")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                  store_url: str | None) -> None:
    for key in list(os.environ):
        if key.startswith("AUTONOM_") or key in _ENV_KEYS:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AUTONOM_HOME", str(tmp_path / "home"))
    if store_url is not None:  # a test marked both_stores, PostgreSQL round
        monkeypatch.setenv("AUTONOM_STORE__URL", store_url)
    for key, value in engine_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Load the tested engine build in this process before any test imports the engine."""
    if ENGINE_BUILD:
        from autonom.engine import builds

        choice = builds.activate(builds.choose(load_settings(engine={"build": ENGINE_BUILD})))
        if choice.warning:
            raise pytest.UsageError(f"AUTONOM_TEST_ENGINE_BUILD: {choice.warning}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"engine build: {ENGINE_BUILD or 'prebuilt'}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = Services(settings)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def default_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SmolLM2-135M GGUF, fetched once per test session the way users fetch it."""
    session_home = tmp_path_factory.mktemp("session-home")
    svc = Services(Settings(home=session_home))
    record = pull(DEFAULT_MODEL, svc.registry, svc.settings)
    return record.path


@pytest.fixture
def model_services(services: Services, default_model_file: Path) -> Services:
    """Services whose store holds the default model under its usual name."""
    pull(str(default_model_file), services.registry, services.settings, name=DEFAULT_MODEL)
    return services
