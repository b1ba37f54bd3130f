"""The web UI in a real headless Chromium: sign in, a streamed answer with citation markers
whose hover shows the verbatim quote and whose click opens the document at the marked passage,
an abstention, hostile document markup that stays inert, and keyboard and label basics.
Screenshots of the pages land in build/ui-screenshots."""

from __future__ import annotations

import pytest

from ui_support import ask
from ui_support import browser_sign_in as sign_in

pytestmark = pytest.mark.engine

QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"


def test_a_cited_answer_links_to_the_marked_passage(page, ui_server, artifacts):
    sign_in(page, ui_server)
    assert page.locator("#model").input_value() == "rag:pumpenwerk"
    answer = ask(page, QUESTION)
    assert "5,5 kW" in answer.locator(".body").inner_text()
    marker = answer.locator(".cite").first
    assert marker.inner_text() == "[1]"
    quote = marker.get_attribute("title")
    assert "5,5 kW" in quote
    marker.hover()
    page.screenshot(path=str(artifacts / "chat.png"), full_page=True)
    marker.click()
    page.wait_for_url("**/ui/documents/pumpenwerk/**")
    mark = page.locator("mark#quote")
    assert mark.inner_text() == quote
    assert mark.evaluate("m => { const r = m.getBoundingClientRect();"
                         " return r.top >= 0 && r.bottom <= window.innerHeight; }")
    page.screenshot(path=str(artifacts / "document.png"))
    assert page.problems == []


def test_an_abstention_is_shown_as_not_in_the_documents(page, ui_server, artifacts):
    sign_in(page, ui_server)
    answer = ask(page, "Wie heißt der Hund des Geschäftsführers?")
    assert answer.locator(".badge").inner_text() == "Nicht in den Dokumenten"
    assert answer.locator(".cite").count() == 0
    page.screenshot(path=str(artifacts / "abstention.png"), full_page=True)


def test_an_unsure_abstention_links_to_the_closest_passages(page, ui_server):
    sign_in(page, ui_server)
    answer = ask(page, "Wie viele Urlaubstage bekommen Auszubildende?")
    assert answer.locator(".badge").inner_text() == "Nicht in den Dokumenten"
    assert answer.locator(".body").inner_text().startswith("Eine sichere Antwort")
    assert "Nächstliegende Stellen" not in answer.locator(".body").inner_text()
    closest = answer.locator("ol.closest")
    assert closest.get_attribute("aria-label") == "Nächstliegende Stellen"
    link = closest.locator("a.source").first
    assert link.inner_text().endswith("personal/urlaubsregelung.docx")
    link.click()
    page.wait_for_url("**/ui/documents/pumpenwerk/**")
    assert "Urlaub" in page.locator("mark#quote").inner_text()
    assert page.problems == []


def test_a_follow_up_question_and_regenerate_keep_the_conversation(page, ui_server):
    sign_in(page, ui_server)
    ask(page, QUESTION)
    second = ask(page, "Wie schwer ist die KP-55?")
    assert "48 kg" in second.locator(".body").inner_text()
    second.get_by_role("button", name="Neu erzeugen").click()
    page.locator(".message.assistant").nth(1).locator(".actions").wait_for()
    assert page.locator(".message.assistant").count() == 2
    assert page.locator(".message.user").count() == 2


def test_rating_an_answer_survives_a_follow_up_and_a_reload(page, ui_server):
    sign_in(page, ui_server)
    first = ask(page, QUESTION)
    good = first.get_by_role("button", name="Gute Antwort")
    assert good.get_attribute("aria-pressed") == "false"
    with page.expect_response("**/rating") as rated:
        good.click()
    assert rated.value.ok
    assert good.get_attribute("aria-pressed") == "true"
    ask(page, "Wie schwer ist die KP-55?")
    page.reload()
    answers = page.locator(".message.assistant")
    assert answers.count() == 2
    assert answers.first.locator(".cite").count() >= 1  # the rated answer kept its citations
    assert answers.first.get_by_role("button", name="Gute Antwort").get_attribute(
        "aria-pressed") == "true"
    bad = answers.nth(1).get_by_role("button", name="Schlechte Antwort")
    assert bad.get_attribute("aria-pressed") == "false"
    with page.expect_response("**/rating"):
        answers.first.get_by_role("button", name="Gute Antwort").click()  # taken back
    page.reload()
    assert page.locator(".message.assistant").first.get_by_role(
        "button", name="Gute Antwort").get_attribute("aria-pressed") == "false"
    assert page.problems == []


def test_hostile_markup_in_a_document_stays_inert(page, ui_server, artifacts):
    sign_in(page, ui_server, "gast")
    page.goto(f"{ui_server.url}/ui/documents/extern/besucher.md")
    page.wait_for_load_state("load")
    assert "<script>window.pwned" in page.locator("pre.document").inner_text()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("pre.document img").count() == 0
    page.screenshot(path=str(artifacts / "hostile-document.png"))
    assert page.problems == []


def test_every_control_has_a_label_and_the_keyboard_reaches_it(page, ui_server):
    sign_in(page, ui_server)
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)")
    assert unlabelled == []
    reached = set()
    page.locator("body").focus()
    for _ in range(60):  # past the conversation list, which grows with the other tests
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.id"))
        if {"model", "question", "send"} <= reached:
            break
    assert {"model", "question", "send"} <= reached


def test_upload_two_files_and_see_them_ingested(page, ui_server, artifacts, tmp_path):
    first, second = tmp_path / "urlaub.md", tmp_path / "telefon.txt"
    first.write_text("# Urlaubsregel\n\nStand: 2026\n\nUrlaub wird zwei Wochen vorher "
                     "beantragt.\n", encoding="utf-8")
    second.write_text("Telefonliste\n\nEmpfang: 100\nWerkstatt: 230\n", encoding="utf-8")
    sign_in(page, ui_server, "redaktion")
    page.get_by_role("link", name="Dokumente").click()
    page.get_by_role("link", name="wissen", exact=True).click()
    page.set_input_files("#files", [str(first), str(second)])
    page.get_by_role("button", name="Hochladen und einlesen").click()
    status = page.locator("#status")
    status.get_by_text("urlaub.md: eingelesen").wait_for()
    status.get_by_text("telefon.txt: eingelesen").wait_for()
    page.screenshot(path=str(artifacts / "upload.png"), full_page=True)
    page.reload()
    assert page.get_by_role("link", name="urlaub.md").count() == 1


def test_a_hygiene_finding_opens_the_document_at_its_lines(page, ui_server, artifacts):
    sign_in(page, ui_server)
    page.goto(f"{ui_server.url}/ui/collections/pumpenwerk")
    page.screenshot(path=str(artifacts / "collection.png"), full_page=True)
    page.get_by_role("link", name="Hygiene-Bericht").first.click()
    page.screenshot(path=str(artifacts / "hygiene.png"), full_page=True)
    page.locator(".findings a[href*='lines=']").first.click()
    page.wait_for_url("**lines=*")  # the click navigates: wait for the document, then look
    page.locator("mark#quote").wait_for(state="visible", timeout=10_000)
    assert page.locator("mark#quote").is_visible()


def test_a_conversation_survives_a_reload_and_is_listed(page, ui_server):
    sign_in(page, ui_server)
    ask(page, QUESTION)
    assert "?c=c_" in page.url
    page.reload()
    assert page.locator(".message.user").first.inner_text() == QUESTION
    assert page.locator(".message.assistant .cite").count() >= 1
    assert page.locator(".history [aria-current] a").inner_text() == QUESTION
    follow_up = ask(page, "Wie schwer ist die KP-55?")
    assert "48 kg" in follow_up.locator(".body").inner_text()


def test_an_admin_creates_and_revokes_a_key_and_others_see_no_admin(page, ui_server,
                                                                     artifacts):
    sign_in(page, ui_server)
    assert page.get_by_role("link", name="Verwaltung").count() == 0
    page.get_by_role("button", name="Abmelden").click()
    sign_in(page, ui_server, "all")
    page.get_by_role("link", name="Verwaltung").click()
    page.get_by_label("Name", exact=True).fill("empfang")
    page.get_by_role("checkbox", name="embed").check()
    page.get_by_role("button", name="Erstellen").click()
    secret = page.get_by_label("API-Schlüssel").input_value()
    assert secret.startswith("sk-autonom-")
    page.screenshot(path=str(artifacts / "admin-keys.png"), full_page=True)
    page.get_by_role("button", name="Widerrufen empfang").click()
    row = page.locator("tr", has_text="empfang")
    assert "widerrufen" in row.inner_text()


def test_stop_ends_a_streaming_answer_and_the_log_says_cancelled(page, ui_server):
    from autonom.config import Settings
    from autonom.services import Services
    from autonom.store import request_log
    from autonom.store.keys import KeyStore

    sign_in(page, ui_server, "chat")
    page.locator("#model").select_option(ui_server.model)
    # a story may end after 15 tokens, before the click; counting goes on for hundreds
    page.get_by_label("Ihre Frage").fill("Zähle von 1 bis 300, durch Kommas getrennt: 1, 2, 3,")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    page.wait_for_function("() => document.querySelector('.message.assistant .body')"
                           ".textContent.length > 0")
    page.get_by_role("button", name="Stopp").click()
    page.locator(".message.assistant.stopped").wait_for()
    assert answer.locator(".actions").count() == 0
    services = Services(Settings(home=ui_server.home))
    chat_key = KeyStore(services.db).get("chat")
    for _ in range(50):  # the server notices the closed stream within a moment
        rows = request_log.query(services.db, key_id=chat_key.id, limit=1)
        if rows and rows[0].cancelled:
            break
        page.wait_for_timeout(100)
    assert rows and rows[0].route == "/ui/chat" and rows[0].cancelled


def test_a_chosen_folder_is_uploaded_with_its_paths(page, ui_server, tmp_path):
    folder = tmp_path / "vorlagen"
    (folder / "angebote").mkdir(parents=True)
    (folder / "angebote" / "standard.md").write_text(
        "# Standardangebot\n\nStand: 2026\n\nAngebote gelten 30 Tage.\n", encoding="utf-8")
    sign_in(page, ui_server, "redaktion")
    page.goto(f"{ui_server.url}/ui/collections/wissen")
    page.set_input_files("#folder", str(folder))
    page.get_by_role("button", name="Hochladen und einlesen").click()
    page.locator("#status").get_by_text("vorlagen/angebote/standard.md: eingelesen").wait_for()
