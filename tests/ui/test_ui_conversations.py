"""Conversations in the web UI are kept on the server per key: reopened, continued,
regenerated, exported and deleted — and nobody else's."""

from __future__ import annotations

import json

import pytest

from ui_support import csrf_of, sign_in

pytestmark = pytest.mark.engine

QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"
FOLLOW_UP = "Wie schwer ist die KP-55?"


def _post(client, messages, conversation=None):
    token = csrf_of(client.get("/ui/chat").text, "meta")
    reply = client.post("/ui/chat", headers={"x-csrf-token": token}, json={
        "model": "rag:pumpenwerk", "messages": messages, "conversation": conversation})
    assert reply.status_code == 200, reply.text
    events = [block.split("\n", 1) for block in reply.text.strip().split("\n\n")]
    data = {name[len("event: "):]: json.loads(payload[len("data: "):])
            for name, payload in events}
    return data["conversation"]["id"], data["done"]


def test_a_conversation_is_kept_and_reopens_with_its_citations(ui_server):
    client = sign_in(ui_server, "anna")
    conversation, done = _post(client, [{"role": "user", "content": QUESTION}])
    page = client.get(f"/ui/chat?c={conversation}")
    assert page.status_code == 200
    assert QUESTION in page.text and "5,5 kW" in page.text
    assert 'class="cite"' in page.text and done["citations"][0]["href"].replace(
        "&", "&amp;") in page.text
    assert f'href="/ui/chat?c={conversation}"' in client.get("/ui/chat").text


def test_follow_ups_are_added_and_a_regenerated_answer_replaces_the_old_one(ui_server):
    client = sign_in(ui_server, "anna")
    first = [{"role": "user", "content": QUESTION}]
    conversation, done = _post(client, first)
    answer = {"role": "assistant", "content": done["answer"]}
    _post(client, [*first, answer, {"role": "user", "content": FOLLOW_UP}], conversation)
    _post(client, [*first, answer, {"role": "user", "content": FOLLOW_UP}], conversation)
    stored = client.get(f"/ui/conversations/{conversation}.json").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user",
                                                        "assistant"]
    assert "48 kg" in stored["messages"][3]["content"]
    assert stored["messages"][1]["citations"][0]["quote"] == "Motorleistung: 5,5 kW"


def test_export_as_markdown_carries_questions_answers_and_sources(ui_server):
    client = sign_in(ui_server, "anna")
    conversation, _ = _post(client, [{"role": "user", "content": QUESTION}])
    exported = client.get(f"/ui/conversations/{conversation}.md")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert QUESTION in exported.text and "[1] " in exported.text
    assert "„Motorleistung: 5,5 kW“" in exported.text


def test_another_key_never_sees_a_conversation_and_deleting_removes_it(ui_server):
    client = sign_in(ui_server, "anna")
    conversation, _ = _post(client, [{"role": "user", "content": QUESTION}])
    other = sign_in(ui_server, "gast")
    assert other.get(f"/ui/chat?c={conversation}").status_code == 404
    assert other.get(f"/ui/conversations/{conversation}.json").status_code == 404
    token = csrf_of(other.get("/ui/chat").text, "meta")
    stolen = other.post("/ui/chat", headers={"x-csrf-token": token}, json={
        "model": "rag:extern", "conversation": conversation,
        "messages": [{"role": "user", "content": "Hallo"}]})
    assert stolen.status_code == 404
    page = client.get("/ui/chat").text
    deleted = client.post(f"/ui/conversations/{conversation}/delete",
                          data={"csrf": csrf_of(page)})
    assert deleted.status_code == 303
    assert client.get(f"/ui/chat?c={conversation}").status_code == 404
