"""The web UI's document pages over HTTP: what a key may see and change in a collection."""

from __future__ import annotations

import re

import httpx
import pytest

from ui_support import csrf_of, sign_in

pytestmark = pytest.mark.engine


def _meta(client: httpx.Client, path: str) -> str:
    return csrf_of(client.get(path).text, "meta")


def test_the_collections_page_lists_only_granted_collections(ui_server):
    page = sign_in(ui_server, "anna").get("/ui/collections")
    assert page.status_code == 200
    assert "/ui/collections/pumpenwerk" in page.text
    assert "extern" not in page.text and "wissen" not in page.text


def test_a_collection_shows_superseded_and_planted_documents(ui_server):
    page = sign_in(ui_server, "anna").get("/ui/collections/pumpenwerk")
    assert page.status_code == 200
    assert re.search(r"veraltet – ersetzt durch [^<]*kp-55-datenblatt\.md", page.text)
    assert "Abschnitte mit eingeschleusten Anweisungen" in page.text
    assert "Entfernen" not in page.text  # no ingest scope: nothing to change


def test_hygiene_findings_link_to_the_lines_in_the_document(ui_server):
    client = sign_in(ui_server, "anna")
    page = client.get("/ui/collections/pumpenwerk/hygiene")
    assert page.status_code == 200 and "superseded" in page.text
    link = re.search(r'href="(/ui/documents/pumpenwerk/[^"]+\?lines=(\d+)[^"]*)"', page.text)
    assert link is not None
    document = client.get(link.group(1).replace("&amp;", "&").split("#")[0])
    assert '<mark id="quote">' in document.text


def test_another_collection_is_not_there_for_this_key(ui_server):
    client = sign_in(ui_server, "anna")
    for path in ("/ui/collections/wissen", "/ui/collections/wissen/hygiene"):
        assert client.get(path).status_code == 404


def test_uploading_needs_the_ingest_scope(ui_server):
    client = sign_in(ui_server, "anna")
    token = _meta(client, "/ui/chat")
    reply = client.put("/ui/collections/pumpenwerk/files/neu.md", content=b"# Neu\n",
                       headers={"x-csrf-token": token})
    assert reply.status_code == 403 and "ingest" in reply.json()["error"]


def test_upload_ingest_and_remove_documents(ui_server):
    client = sign_in(ui_server, "redaktion")
    token = _meta(client, "/ui/collections/wissen")
    headers = {"x-csrf-token": token}
    files = {"parken.md": "# Parken\n\nStand: 2026\n\nBesucher parken auf dem Platz an Tor 2.\n",
             "preise.csv": "Leistung;Preis (EUR)\nKaffee;1,20\nMittagessen;5,50\n"}
    for name, text in files.items():
        reply = client.put(f"/ui/collections/wissen/files/{name}", content=text.encode(),
                           headers=headers)
        assert reply.status_code == 200, reply.text
    report = client.post("/ui/collections/wissen/ingest", headers=headers).json()
    assert sorted(report["added"]) == ["parken.md", "preise.csv"]
    page = client.get("/ui/collections/wissen")
    assert "parken.md" in page.text and "Entfernen" in page.text
    removed = client.post("/ui/collections/wissen/remove",
                          data={"csrf": csrf_of(page.text), "source": "parken.md"})
    assert removed.status_code == 303
    assert "parken.md" not in client.get("/ui/collections/wissen").text
    again = client.post("/ui/collections/wissen/ingest", headers=headers).json()
    assert again["added"] == [] and "parken.md" not in again["unchanged"]


@pytest.mark.parametrize(("name", "status"), [("..", 405), ("nicht..erlaubt.exe", 400),
                                              ("programm.exe", 400), (".versteckt.md", 400)])
def test_odd_file_names_are_refused_before_anything_is_written(ui_server, name, status):
    client = sign_in(ui_server, "redaktion")
    token = _meta(client, "/ui/collections/wissen")
    reply = client.put(f"/ui/collections/wissen/files/{name}", content=b"x",
                       headers={"x-csrf-token": token})
    assert reply.status_code == status, reply.text
    uploads = ui_server.home / "uploads" / "wissen"
    assert not uploads.exists() or name not in {p.name for p in uploads.iterdir()}


def test_changes_without_the_csrf_token_are_refused(ui_server):
    client = sign_in(ui_server, "redaktion")
    reply = client.put("/ui/collections/wissen/files/x.md", content=b"# X\n")
    assert reply.status_code == 403
    page = client.post("/ui/collections/wissen/remove",
                       data={"csrf": "falsch", "source": "willkommen.md"})
    assert page.status_code == 403
    assert "willkommen.md" in client.get("/ui/collections/wissen").text


def test_a_folder_keeps_its_paths_and_traversal_is_refused(ui_server):
    client = sign_in(ui_server, "redaktion")
    headers = {"x-csrf-token": _meta(client, "/ui/collections/wissen")}
    ok = client.put("/ui/collections/wissen/files/handbuch/kapitel 1/montage.md",
                    content=b"# Montage\n\nStand: 2026\n\nErst festschrauben.\n",
                    headers=headers)
    assert ok.status_code == 200, ok.text
    report = client.post("/ui/collections/wissen/ingest", headers=headers).json()
    assert "handbuch/kapitel 1/montage.md" in report["added"]
    for bad in ("handbuch/%2E%2E/%2E%2E/boese.md", "/".join(["tief"] * 9) + "/x.md",
                "handbuch//x.md"):
        refused = client.put(f"/ui/collections/wissen/files/{bad}", content=b"x",
                             headers=headers)
        assert refused.status_code == 400, (bad, refused.text)
    assert not (ui_server.home / "uploads" / "boese.md").exists()
