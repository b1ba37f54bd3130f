"""A real ``autonom serve`` process on 127.0.0.1 with the default model and API keys."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from autonom.config import Settings
from autonom.models.pull import pull
from autonom.services import Services
from autonom.store.keys import KeyStore
from fault_proxy import FaultProxy
from knowledge_support import CORPUS
from support import DEFAULT_MODEL, engine_env


@dataclass
class RunningServer:
    url: str
    home: Path
    process: subprocess.Popen
    keys: dict[str, str]  # name -> secret
    model: str = DEFAULT_MODEL

    def headers(self, key: str = "all") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    def services(self) -> Services:
        return Services(Settings(home=self.home))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, extra_env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    env.update({"AUTONOM_HOME": str(home), "PYTHONUNBUFFERED": "1", **engine_env(),
                **(extra_env or {})})
    log = (home / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "autonom", "serve", "--port", str(port), *args],
        env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((home / "serve.log").read_text(errors="replace"))
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def prepare_home(home: Path, model_file: Path) -> dict[str, str]:
    services = Services(Settings(home=home))
    pull(str(model_file), services.registry, services.settings, name=DEFAULT_MODEL)
    store = KeyStore(services.db)
    keys = {}
    for name, scopes in (("all", {"chat", "embed", "admin"}), ("chat", {"chat"}),
                         ("embed", {"embed"}), ("revoked", {"chat", "embed", "admin"})):
        _, keys[name] = store.create(name, frozenset(scopes))
    store.revoke("revoked")
    return keys


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory,
           default_model_file: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("serve-home")
    keys = prepare_home(home, default_model_file)
    (home / "imports").mkdir()
    process, url = start_server(home, {"AUTONOM_SERVER__PULL_FROM": json.dumps(
        [str(home / "imports"), "http://127.0.0.1:9/modelle/"]),
        "AUTONOM_POLICY__ON_VIOLATION": "refuse"})
    try:
        yield RunningServer(url=url, home=home, process=process, keys=keys)
    finally:
        stop_server(process)


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of the shared server, fresh for each test."""
    running = FaultProxy(upstream_port=int(server.url.rsplit(":", 1)[1])).start()
    yield running
    running.stop()


# -- a server with three document collections and keys granted some of them ----------------

SALES_CANARY = "KANARIE-VERTRIEB-4711"
HR_CANARY = "KANARIE-PERSONAL-0815"
SALES_QUESTION = "Welchen Freigabecode hat der Sonderrabatt für Großkunden?"
HR_QUESTION = "Wie lautet das Tresorkennwort der Personalabteilung?"


def _write_collections(root: Path) -> dict[str, Path]:
    sales, hr = root / "vertrieb", root / "personal"
    sales.mkdir(parents=True)
    hr.mkdir(parents=True)
    (sales / "rabatte.md").write_text(
        "# Rabattstaffel Vertrieb\n\nStand: 1. März 2026\n\n"
        f"Der Sonderrabatt für Großkunden hat den Freigabecode {SALES_CANARY}.\n",
        encoding="utf-8")
    (hr / "tresor.md").write_text(
        "# Tresor der Personalabteilung\n\nStand: 1. April 2026\n\n"
        f"Das Tresorkennwort der Personalabteilung lautet {HR_CANARY}.\n"
        f"Der Freigabecode für Großkunden-Gehälter ist {HR_CANARY}.\n",
        encoding="utf-8")
    return {"vertrieb": sales, "personal": hr}


@pytest.fixture(scope="session")
def rag_server(tmp_path_factory: pytest.TempPathFactory,
               default_model_file: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("rag-home")
    keys = prepare_home(home, default_model_file)
    services = Services(Settings(home=home))
    folders = _write_collections(tmp_path_factory.mktemp("docs"))
    for name, folder in folders.items():
        services.knowledge.ingest([folder], name)
    services.knowledge.ingest([CORPUS], "pumpenwerk")
    store = KeyStore(services.db)
    for name, grants in (("sales", {"vertrieb", "pumpenwerk"}), ("hr", {"personal"}),
                         ("everything", {"*"})):
        _, keys[name] = store.create(name, frozenset({"chat"}), collections=frozenset(grants))
    process, url = start_server(home)
    try:
        yield RunningServer(url=url, home=home, process=process, keys=keys)
    finally:
        stop_server(process)
