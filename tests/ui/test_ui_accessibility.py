"""Accessibility of the web UI's pages, checked with axe-core (bundled by
axe-playwright-python) in the real browser: no violations, contrast included."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from ui_support import ask
from ui_support import browser_sign_in as sign_in

QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"

pytestmark = pytest.mark.engine


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in results.response["violations"]]


def test_the_sign_in_page(page, ui_server):
    page.goto(f"{ui_server.url}/ui/login")
    assert violations(page) == []


def test_the_chat_with_a_cited_answer_and_an_abstention(page, ui_server):
    sign_in(page, ui_server)
    ask(page, QUESTION)
    ask(page, "Wie heißt der Hund des Geschäftsführers?")
    assert violations(page) == []


@pytest.mark.parametrize("path", [
    "/ui/collections", "/ui/collections/pumpenwerk", "/ui/collections/pumpenwerk/hygiene",
    "/ui/documents/pumpenwerk/pumpenwerk/produkte/kp-55-datenblatt.md?quote=Gewicht",
])
def test_the_document_pages(page, ui_server, path):
    sign_in(page, ui_server)
    page.goto(ui_server.url + path)
    assert violations(page) == []


@pytest.mark.parametrize("path", ["/ui/admin/keys", "/ui/admin/logs", "/ui/admin/models",
                                  "/ui/admin/metrics", "/ui/evals"])
def test_the_administration_pages(page, ui_server, path):
    sign_in(page, ui_server, "all")
    page.goto(ui_server.url + path)
    assert violations(page) == []
