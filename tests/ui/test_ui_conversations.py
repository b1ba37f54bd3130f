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


def _rate(client, conversation, ordinal, rating, token=None):
    token = token if token is not None else csrf_of(client.get("/ui/chat").text, "meta")
    return client.post(f"/ui/conversations/{conversation}/messages/{ordinal}/rating",
                       headers={"x-csrf-token": token}, json={"rating": rating})


def test_an_answer_rated_good_keeps_its_rating_through_a_follow_up(ui_server):
    client = sign_in(ui_server, "anna")
    first = [{"role": "user", "content": QUESTION}]
    conversation, done = _post(client, first)
    assert done["ordinal"] == 1
    rated = _rate(client, conversation, 1, "good")
    assert rated.status_code == 200, rated.text
    assert rated.json() == {"conversation": conversation, "ordinal": 1, "rating": "good"}
    assert 'data-ordinal="1" data-rating="good"' in client.get(f"/ui/chat?c={conversation}").text
    # the page sends back what was stored, so the follow-up keeps the answer as it was
    answer = {"role": "assistant", "content": done["content"]}
    _, second = _post(client, [*first, answer, {"role": "user", "content": FOLLOW_UP}],
                      conversation)
    assert second["ordinal"] == 3
    stored = client.get(f"/ui/conversations/{conversation}.json").json()["messages"]
    assert [m["rating"] for m in stored] == [None, "good", None, None]
    assert stored[1]["citations"][0]["quote"] == "Motorleistung: 5,5 kW"
    assert _rate(client, conversation, 3, "bad").status_code == 200
    assert _rate(client, conversation, 1, "none").status_code == 200
    stored = client.get(f"/ui/conversations/{conversation}.json").json()["messages"]
    assert [m["rating"] for m in stored] == [None, None, None, "bad"]


def test_a_regenerated_answer_loses_the_old_answers_rating(ui_server):
    client = sign_in(ui_server, "anna")
    first = [{"role": "user", "content": QUESTION}]
    conversation, _ = _post(client, first)
    assert _rate(client, conversation, 1, "bad").status_code == 200
    _post(client, first, conversation)  # the page's "regenerate": the same question again
    stored = client.get(f"/ui/conversations/{conversation}.json").json()["messages"]
    assert [m["rating"] for m in stored] == [None, None]


def test_ratings_refused_for_questions_strangers_unknown_places_and_bad_words(ui_server):
    client = sign_in(ui_server, "anna")
    conversation, _ = _post(client, [{"role": "user", "content": QUESTION}])
    question = _rate(client, conversation, 0, "good")
    assert question.status_code == 400 and "only answers" in question.json()["error"]
    assert _rate(client, conversation, 7, "good").status_code == 404
    assert _rate(client, conversation, 1, "super").status_code == 400
    assert _rate(client, conversation, -1, "good").status_code == 400
    assert _rate(client, conversation, 1, "good", token="falsch").status_code == 403
    other = sign_in(ui_server, "gast")
    stolen = _rate(other, conversation, 1, "good")
    assert stolen.status_code == 404 and "error" in stolen.json()
    stored = client.get(f"/ui/conversations/{conversation}.json").json()["messages"]
    assert stored[1]["rating"] is None


def test_an_answer_rated_in_the_ui_becomes_training_data_on_the_command_line(
        ui_server, monkeypatch, capsys, tmp_path):
    from autonom.cli import main

    client = sign_in(ui_server, "anna")
    conversation, done = _post(client, [{"role": "user", "content": QUESTION}])
    assert _rate(client, conversation, done["ordinal"], "good").status_code == 200
    monkeypatch.setenv("AUTONOM_HOME", str(ui_server.home))
    capsys.readouterr()
    assert main(["tune", "rated", "-c", "pumpenwerk", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    mine = [a for a in listed if a["conversation"] == conversation]
    assert len(mine) == 1 and mine[0]["rating"] == "good"
    source = mine[0]["messages"][-1]["citations"][0]["source"]
    assert source.endswith("produkte/kp-55-datenblatt.md")
    assert main(["tune", "rated", "-c", "extern"]) == 0
    assert "no answers rated good" in capsys.readouterr().out
    out = tmp_path / "daten"
    assert main(["tune", "data", "-c", "pumpenwerk", "--rated", "--out", str(out)]) == 0
    capsys.readouterr()
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if r.get("conversation") == conversation]
    assert row["kind"] == "rated" and row["ordinal"] == done["ordinal"]
    assert row["messages"][0] == {"role": "user", "content": QUESTION}
    assert "5,5 kW" in row["messages"][-1]["content"]
    assert f"(Quelle: {source}" in row["messages"][-1]["content"]
    assert main(["tune", "data", "-c", "pumpenwerk", "--out", str(out)]) == 0
    assert conversation not in (out / "train.jsonl").read_text()  # only with --rated
