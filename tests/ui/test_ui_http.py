"""The web UI over plain HTTP: sign-in, sessions, CSRF, headers, and that it asks the same
rules as the API (scopes, collection grants, request log)."""

from __future__ import annotations

import re

import httpx
import pytest

from autonom.config import Settings
from autonom.services import Services
from autonom.store import request_log
from autonom.store.keys import KeyStore
from ui_support import chat, csrf_of, sign_in

pytestmark = pytest.mark.engine

QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"


def test_pages_forbid_inline_script_framing_and_sniffing(ui_server):
    reply = httpx.get(f"{ui_server.url}/ui/login")
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in reply.text  # the one script is a file, on the chat page only


def test_sign_in_sets_an_httponly_strict_session_cookie(ui_server):
    client = httpx.Client(base_url=ui_server.url)
    page = client.get("/ui/login")
    reply = client.post("/ui/login", data={"csrf": csrf_of(page.text),
                                           "key": ui_server.keys["anna"]})
    assert reply.status_code == 303
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith("autonom_session=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert ui_server.keys["anna"] not in cookie  # the key itself is never kept
    assert "anna" in client.get("/ui/chat").text


def test_a_wrong_key_or_a_missing_csrf_token_does_not_sign_in(ui_server):
    client = httpx.Client(base_url=ui_server.url)
    page = client.get("/ui/login")
    wrong = client.post("/ui/login", data={"csrf": csrf_of(page.text), "key": "sk-falsch"})
    assert wrong.status_code == 401 and "ungültig" in wrong.text
    forged = httpx.post(f"{ui_server.url}/ui/login", data={"csrf": "x",
                                                            "key": ui_server.keys["anna"]})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert client.get("/ui/chat").status_code == 303


def test_pages_need_a_session(ui_server):
    reply = httpx.get(f"{ui_server.url}/ui/chat")
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/login"
    blocked = httpx.post(f"{ui_server.url}/ui/chat",
                         json={"model": "rag:pumpenwerk", "messages": [
                             {"role": "user", "content": QUESTION}]})
    assert blocked.status_code == 401 and "signed in" in blocked.json()["error"]


def test_chat_streams_a_cited_answer_and_writes_the_request_log(ui_server):
    client = sign_in(ui_server, "anna")
    events = chat(client, "rag:pumpenwerk", QUESTION)
    names = [name for name, _ in events]
    assert names[0] == "conversation" and names[1] == "delta" and names[-1] == "done"
    done = events[-1][1]
    assert done["abstained"] is False and "5,5 kW" in done["answer"]
    first = done["citations"][0]
    assert first["source"].endswith("kp-55-datenblatt.md") and "5,5 kW" in first["quote"]
    assert first["href"].startswith("/ui/documents/pumpenwerk/") and first["href"].endswith(
        "#quote")
    services = Services(Settings(home=ui_server.home))
    anna = KeyStore(services.db).get("anna")
    rows = request_log.query(services.db, key_id=anna.id, limit=5)
    assert any(r.route == "/ui/chat" and r.model == "rag:pumpenwerk" and r.status == 200
               for r in rows)


def test_a_question_the_documents_do_not_answer_is_an_abstention(ui_server):
    client = sign_in(ui_server, "anna")
    done = chat(client, "rag:pumpenwerk", "Wie heißt der Hund des Geschäftsführers?")[-1][1]
    assert done["abstained"] is True and done["citations"] == []


def test_an_unsure_abstention_links_the_closest_passages(ui_server):
    client = sign_in(ui_server, "anna")
    done = chat(client, "rag:pumpenwerk", "Wie viele Urlaubstage bekommen Auszubildende?")[-1][1]
    assert done["abstained"] is True and done["citations"] == []
    assert done["answer"].startswith("Eine sichere Antwort steht nicht in den Dokumenten")
    first = done["related"][0]
    assert first["n"] == 1 and first["source"].endswith("personal/urlaubsregelung.docx")
    assert first["href"].startswith("/ui/documents/pumpenwerk/")
    assert "urlaubsregelung.docx?" in first["href"]


def test_chat_without_the_csrf_token_is_refused(ui_server):
    client = sign_in(ui_server, "anna")
    reply = client.post("/ui/chat", json={"model": "rag:pumpenwerk", "messages": [
        {"role": "user", "content": QUESTION}]})
    assert reply.status_code == 403 and "CSRF" in reply.json()["error"]


def test_the_cited_document_opens_with_the_quote_marked(ui_server):
    client = sign_in(ui_server, "anna")
    href = chat(client, "rag:pumpenwerk", QUESTION)[-1][1]["citations"][0]["href"]
    page = client.get(href.split("#")[0])
    assert page.status_code == 200
    assert '<mark id="quote">Motorleistung: 5,5 kW</mark>' in page.text


def test_a_collection_the_key_was_not_granted_is_not_there(ui_server):
    client = sign_in(ui_server, "anna")
    page = client.get("/ui/documents/extern/besucher.md")
    missing = client.get("/ui/documents/nirgends/besucher.md")
    assert page.status_code == missing.status_code == 404
    assert "Besucherparkplatz" not in page.text
    token = csrf_of(client.get("/ui/chat").text, "meta")
    body = {"model": "rag:extern", "messages": [{"role": "user",
                                                  "content": "Wo liegt der Besucherparkplatz?"}]}
    ui = client.post("/ui/chat", headers={"x-csrf-token": token}, json=body)
    api = httpx.post(f"{ui_server.url}/api/chat", headers=ui_server.headers("anna"),
                     json={**body, "stream": False})
    assert ui.status_code == api.status_code == 404
    assert ui.json()["error"] == api.json()["error"]


def test_document_markup_is_shown_as_text_never_run(ui_server):
    client = sign_in(ui_server, "gast")
    page = client.get("/ui/documents/extern/besucher.md")
    assert page.status_code == 200
    assert "&lt;script&gt;window.pwned" in page.text
    assert "<script>window.pwned" not in page.text and "<img src=x" not in page.text


def test_a_key_without_the_chat_scope_may_not_chat(ui_server):
    client = sign_in(ui_server, "embed")
    assert client.get("/ui/chat").status_code == 403
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/chat").text).group(1)
    reply = client.post("/ui/chat", headers={"x-csrf-token": token}, json={
        "model": "rag:pumpenwerk", "messages": [{"role": "user", "content": QUESTION}]})
    assert reply.status_code == 403 and "chat" in reply.json()["error"]


def test_revoking_the_key_ends_its_sessions_and_sign_out_ends_one(ui_server):
    services = Services(Settings(home=ui_server.home))
    store = KeyStore(services.db)
    _, secret = store.create("kurzzeit", frozenset({"chat"}))
    ui_server.keys["kurzzeit"] = secret
    client = sign_in(ui_server, "kurzzeit")
    assert client.get("/ui/chat").status_code == 200
    store.revoke("kurzzeit")
    assert client.get("/ui/chat").status_code == 303
    other = sign_in(ui_server, "anna")
    page = other.get("/ui/chat").text
    assert other.post("/ui/logout", data={"csrf": csrf_of(page)}).status_code == 303
    assert other.get("/ui/chat").status_code == 303


def test_the_language_follows_the_browser_and_can_be_switched(ui_server):
    english = httpx.get(f"{ui_server.url}/ui/login", headers={"accept-language": "en-GB,en"})
    assert "Sign in" in english.text
    client = httpx.Client(base_url=ui_server.url, headers={"accept-language": "en"})
    client.get("/ui/lang/de?back=/ui/login")
    assert "Anmelden" in client.get("/ui/login").text


def test_overlong_or_empty_chats_are_refused_before_any_work(ui_server):
    client = sign_in(ui_server, "anna")
    token = csrf_of(client.get("/ui/chat").text, "meta")
    empty = client.post("/ui/chat", headers={"x-csrf-token": token},
                        json={"model": "rag:pumpenwerk", "messages": []})
    huge = client.post("/ui/chat", headers={"x-csrf-token": token}, json={
        "model": "rag:pumpenwerk", "messages": [{"role": "user", "content": "x" * 30_000}]})
    assert empty.status_code == huge.status_code == 400


def test_a_model_answer_streams_in_pieces(ui_server):
    client = sign_in(ui_server, "anna")
    events = chat(client, ui_server.model, "Sag bitte Hallo.")
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 1 and "".join(deltas).strip()
    assert events[-1][0] == "done" and events[-1][1]["abstained"] is None


def test_without_keys_on_loopback_the_ui_opens_without_sign_in(tmp_path):
    from server_support import start_server, stop_server

    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zeiten.md").write_text("# Öffnungszeiten\n\nStand: 2026\n\nDie Werkstatt ist "
                                    "montags bis freitags von 7 bis 16 Uhr geöffnet.\n",
                                    encoding="utf-8")
    services = Services(Settings(home=home))
    services.knowledge.ingest([docs], "werkstatt")
    services.close()
    process, url = start_server(home, {"AUTONOM_SERVER__AUTH": "false"})
    try:
        client = httpx.Client(base_url=url, follow_redirects=True, timeout=60)
        page = client.get("/ui/login")
        assert page.url.path == "/ui/chat" and "rag:werkstatt" in page.text
        done = chat(client, "rag:werkstatt", "Wann ist die Werkstatt geöffnet?")[-1][1]
        assert "7 bis 16 Uhr" in done["answer"]
    finally:
        stop_server(process)


@pytest.mark.parametrize(("headers", "status"), [
    ({"host": "angreifer.example"}, 403),
    ({"origin": "http://angreifer.example"}, 403),
    ({"origin": "http://127.0.0.1:1"}, 200),
])
def test_foreign_hosts_and_origins_are_refused_as_on_mcp(ui_server, headers, status):
    reply = httpx.get(f"{ui_server.url}/ui/login", headers=headers)
    assert reply.status_code == status
    if status == 403:
        assert "not allowed" in reply.text
        log = (ui_server.home / "serve.log").read_text(errors="replace")
        assert "method=GET route=/ui/login status=403" in log  # refusals are in the access log too


def test_a_rebinding_page_cannot_post_a_chat_even_with_a_session(ui_server):
    client = sign_in(ui_server, "anna")
    token = csrf_of(client.get("/ui/chat").text, "meta")
    reply = client.post("/ui/chat", headers={"x-csrf-token": token,
                                             "origin": "http://angreifer.example"},
                        json={"model": "rag:pumpenwerk", "messages": [
                            {"role": "user", "content": QUESTION}]})
    assert reply.status_code == 403
