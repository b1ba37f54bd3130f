"""Administration in the web UI: only the admin scope; keys created (secret shown once),
granted and revoked with the same rules as 'autonom keys'; the request log."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from autonom.config import Settings
from autonom.services import Services
from autonom.store.keys import KeyStore
from ui_support import chat, csrf_of, sign_in

pytestmark = pytest.mark.engine


def _create(client: httpx.Client, **fields: str) -> httpx.Response:
    page = client.get("/ui/admin/keys")
    return client.post("/ui/admin/keys", data={"csrf": csrf_of(page.text), **fields})


def test_only_the_admin_scope_reaches_administration(ui_server):
    client = sign_in(ui_server, "anna")
    assert "/ui/admin/keys" not in client.get("/ui/chat").text
    assert client.get("/ui/admin/keys").status_code == 403
    assert client.get("/ui/admin/logs").status_code == 403
    token = csrf_of(client.get("/ui/chat").text)
    refused = client.post("/ui/admin/keys", data={"csrf": token, "name": "eingeschmuggelt",
                                                  "scope_admin": "1"})
    assert refused.status_code == 403
    names = {k.name for k in KeyStore(Services(Settings(home=ui_server.home)).db).list()}
    assert "eingeschmuggelt" not in names


def test_a_created_key_is_shown_once_works_and_revoking_it_stops_it(ui_server):
    admin = sign_in(ui_server, "all")
    created = _create(admin, name="kasse", scope_chat="1", collections="pumpenwerk", rpm="30")
    assert created.status_code == 200
    secret = re.search(r'id="secret" type="text" readonly value="([^"]+)"', created.text).group(1)
    assert secret not in admin.get("/ui/admin/keys").text
    api = httpx.get(f"{ui_server.url}/v1/knowledge/collections",
                    headers={"Authorization": f"Bearer {secret}"})
    assert [c["name"] for c in api.json()["data"]] == ["pumpenwerk"]
    key = KeyStore(Services(Settings(home=ui_server.home)).db).get("kasse")
    assert key.scopes == {"chat"} and key.rpm == 30
    page = admin.get("/ui/admin/keys").text
    revoked = admin.post(f"/ui/admin/keys/{key.id}/revoke", data={"csrf": csrf_of(page)})
    assert revoked.status_code == 303
    again = httpx.get(f"{ui_server.url}/v1/knowledge/collections",
                      headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


def test_grants_are_added_and_taken_away(ui_server):
    admin = sign_in(ui_server, "all")
    _create(admin, name="wechsel", scope_chat="1")
    store = KeyStore(Services(Settings(home=ui_server.home)).db)
    key = store.get("wechsel")
    page = admin.get("/ui/admin/keys").text
    admin.post(f"/ui/admin/keys/{key.id}/grant", data={"csrf": csrf_of(page),
                                                       "collections": "wissen,extern",
                                                       "remove": "0"})
    assert store.get(key.id).collections == {"wissen", "extern"}
    admin.post(f"/ui/admin/keys/{key.id}/grant", data={"csrf": csrf_of(page),
                                                       "collections": "extern", "remove": "1"})
    assert store.get(key.id).collections == {"wissen"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "", "scope_chat": "1"}, "name"),
    ({"name": "ohne-bereich"}, "invalid scopes"),
    ({"name": "zu-schnell", "scope_chat": "1", "rpm": "viele"}, "rpm"),
    ({"name": "falsch", "scope_chat": "1", "collections": "../etc"}, "collection"),
])
def test_bad_key_input_is_one_clear_message(ui_server, fields, message):
    reply = _create(sign_in(ui_server, "all"), **fields)
    assert reply.status_code == 400
    assert message in re.search(r'class="error" role="alert">([^<]+)<', reply.text).group(1)


def test_the_request_log_lists_filters_and_shows_an_entry(ui_server):
    admin = sign_in(ui_server, "all")
    chat(admin, ui_server.model, "Sag Hallo.")
    page = admin.get("/ui/admin/logs", params={"status": "200", "model": ui_server.model})
    assert page.status_code == 200 and "<td>/ui/chat</td>" in page.text
    entry = re.search(r'href="/ui/admin/logs/([^"]+)"', page.text)
    assert entry is not None
    assert "<td>/ui/chat</td>" not in admin.get("/ui/admin/logs", params={"status": "500"}).text
    detail = admin.get(f"/ui/admin/logs/{entry.group(1)}")
    assert detail.status_code == 200 and "&#34;route&#34;" in detail.text
    assert admin.get("/ui/admin/logs/nichts-da").status_code == 404
    assert admin.get("/ui/admin/logs", params={"status": "abc"}).status_code == 400


def test_models_show_licence_and_backends_and_pull_follows_the_api_rules(ui_server):
    admin = sign_in(ui_server, "all")
    page = admin.get("/ui/admin/models")
    assert page.status_code == 200
    assert ui_server.model in page.text and "apache-2.0" in page.text.lower()
    assert "embedded" in page.text
    token = csrf_of(page.text, "meta")
    present = admin.post("/ui/admin/models/pull", headers={"x-csrf-token": token},
                         json={"source": ui_server.model})
    assert present.status_code == 200
    assert json.loads(present.text.strip().splitlines()[-1])["status"] == "success"
    outside = "/etc/passwd.gguf"
    ui = admin.post("/ui/admin/models/pull", headers={"x-csrf-token": token},
                    json={"source": outside})
    api = httpx.post(f"{ui_server.url}/api/pull", headers=ui_server.headers("all"),
                     json={"model": outside, "stream": False})
    assert ui.status_code == api.status_code and ui.status_code >= 400
    assert ui.json()["error"] == api.json()["error"]
    assert sign_in(ui_server, "anna").get("/ui/admin/models").status_code == 403


def test_a_removed_model_is_gone_and_the_shared_file_stays(ui_server, default_model_file):
    from autonom.models.pull import pull

    services = Services(Settings(home=ui_server.home))
    pull(str(default_model_file), services.registry, services.settings, name="kopie")
    admin = sign_in(ui_server, "all")
    page = admin.get("/ui/admin/models").text
    assert "kopie" in page
    reply = admin.post("/ui/admin/models/delete", data={"csrf": csrf_of(page),
                                                        "name": "kopie"})
    assert reply.status_code == 303
    names = [r.name for r in services.registry.list()]
    assert "kopie" not in names and ui_server.model in names
    assert services.registry.get(ui_server.model).exists


def test_the_metrics_overview_counts_what_the_server_served(ui_server):
    admin = sign_in(ui_server, "all")
    chat(admin, ui_server.model, "Sag Hallo.")
    page = admin.get("/ui/admin/metrics")
    assert page.status_code == 200
    row = re.search(r"<td>/ui/chat</td><td>200</td><td>(\d+)</td>", page.text)
    assert row is not None and int(row.group(1)) >= 1
    assert f"<td>{ui_server.model}</td><td>completion</td>" in page.text
    assert "autonom_queue_depth" in page.text
    assert sign_in(ui_server, "anna").get("/ui/admin/metrics").status_code == 403
