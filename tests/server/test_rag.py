"""Answers from documents through the chat APIs (model ``rag:NAME``), and collection grants:
a key never reads a collection it was not granted — checked with planted canary strings in
two collections, through the openai and ollama clients, raw HTTP, search, and the CLI."""

from __future__ import annotations

import json

import httpx
import ollama
import openai
import pytest

from autonom.cli import main
from knowledge_support import CORPUS
from server_support import (
    HR_CANARY,
    HR_QUESTION,
    SALES_CANARY,
    SALES_QUESTION,
    RunningServer,
)

pytestmark = pytest.mark.engine


def _openai(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys[key], max_retries=0,
                         timeout=120)


def _ollama(server: RunningServer, key: str) -> ollama.Client:
    return ollama.Client(host=server.url, headers=server.headers(key), timeout=120)


def test_openai_client_gets_a_cited_answer_from_a_collection(rag_server):
    reply = _openai(rag_server, "sales").chat.completions.create(
        model="rag:pumpenwerk",
        messages=[{"role": "user", "content": "Welche Motorleistung hat die Kreiselpumpe KP-55?"}])
    content = reply.choices[0].message.content
    assert reply.model == "rag:pumpenwerk"
    assert "5,5 kW" in content and "Quellen:" in content
    assert reply.abstained is False
    source = reply.citations[0]["source"]
    assert source in content
    assert reply.citations[0]["quote"] in (CORPUS / source).read_text(encoding="utf-8")


def test_rag_model_can_name_the_model_that_words_the_answer(rag_server):
    reply = _openai(rag_server, "sales").chat.completions.create(
        model="rag:vertrieb@smollm2-135m",
        messages=[{"role": "user", "content": SALES_QUESTION}])
    assert reply.model == "rag:vertrieb@smollm2-135m"
    assert SALES_CANARY in reply.choices[0].message.content  # < 1B parameters: extractive


def test_streamed_answer_carries_text_and_citations(rag_server):
    chunks = list(_openai(rag_server, "sales").chat.completions.create(
        model="rag:vertrieb", stream=True,
        messages=[{"role": "user", "content": SALES_QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert SALES_CANARY in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.citations[0]["source"] == "rabatte.md" and last.abstained is False


def test_ollama_client_chat_and_generate_answer_from_documents(rag_server):
    client = _ollama(rag_server, "sales")
    reply = client.chat(model="rag:vertrieb",
                        messages=[{"role": "user", "content": SALES_QUESTION}])
    assert SALES_CANARY in reply.message.content and "rabatte.md" in reply.message.content
    # the client keeps only Ollama's own fields (the README says so and shows the raw way)
    assert reply.model_extra is None and not hasattr(reply, "citations")
    streamed = "".join(part.message.content for part in client.chat(
        model="rag:vertrieb", stream=True,
        messages=[{"role": "user", "content": SALES_QUESTION}]))
    assert streamed == reply.message.content
    generated = client.generate(model="rag:vertrieb", prompt=SALES_QUESTION)
    assert SALES_CANARY in generated.response


def test_raw_api_chat_carries_citations_as_the_readme_shows(rag_server):
    reply = httpx.post(f"{rag_server.url}/api/chat", headers=rag_server.headers("sales"),
                       timeout=120, json={"model": "rag:vertrieb", "stream": False, "messages": [
                           {"role": "user", "content": SALES_QUESTION}]}).json()
    assert reply["citations"][0]["source"] == "rabatte.md" and reply["abstained"] is False


def test_ollama_wire_format_has_citations_on_the_final_object(rag_server):
    body = {"model": "rag:vertrieb", "stream": True,
            "messages": [{"role": "user", "content": SALES_QUESTION}]}
    with httpx.stream("POST", f"{rag_server.url}/api/chat", json=body,
                      headers=rag_server.headers("sales"), timeout=120) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[-1]["done"] is True and lines[-1]["abstained"] is False
    assert lines[-1]["citations"][0]["source"] == "rabatte.md"


def test_unanswerable_question_abstains_in_german(rag_server):
    reply = _openai(rag_server, "sales").chat.completions.create(
        model="rag:pumpenwerk",
        messages=[{"role": "user", "content": "Wie heißt der Hund des Geschäftsführers?"}])
    assert reply.abstained is True and reply.citations == []
    assert "Dokumenten" in reply.choices[0].message.content


def test_an_unsure_abstention_lists_the_closest_passages(rag_server):
    reply = _openai(rag_server, "sales").chat.completions.create(
        model="rag:pumpenwerk",
        messages=[{"role": "user", "content": "Wie viele Urlaubstage bekommen Auszubildende?"}])
    content = reply.choices[0].message.content
    assert reply.abstained is True and reply.citations == []
    assert content.startswith("Eine sichere Antwort steht nicht in den Dokumenten")
    closest = content.split("\n\nNächstliegende Stellen:\n", 1)[1].splitlines()
    assert closest[0].startswith("[1] personal/urlaubsregelung.docx: „")


def test_models_lists_only_granted_collections(rag_server):
    sales = {m.id for m in _openai(rag_server, "sales").models.list()}
    assert {"rag:vertrieb", "rag:pumpenwerk"} <= sales and "rag:personal" not in sales
    hr = {m["name"] for m in httpx.get(f"{rag_server.url}/api/tags",
                                       headers=rag_server.headers("hr")).json()["models"]}
    assert "rag:personal" in hr and "rag:vertrieb" not in hr
    everything = {m.id for m in _openai(rag_server, "everything").models.list()}
    assert {"rag:vertrieb", "rag:personal", "rag:pumpenwerk"} <= everything


def test_a_key_cannot_ask_a_collection_it_was_not_granted(rag_server):
    with pytest.raises(openai.NotFoundError) as caught:
        _openai(rag_server, "sales").chat.completions.create(
            model="rag:personal", messages=[{"role": "user", "content": HR_QUESTION}])
    assert caught.value.status_code == 404
    assert HR_CANARY not in caught.value.response.text
    with pytest.raises(ollama.ResponseError) as refused:
        _ollama(rag_server, "chat").chat(  # the fixture's chat key has no grants at all
            model="rag:vertrieb", messages=[{"role": "user", "content": SALES_QUESTION}])
    assert refused.value.status_code == 404


def test_a_missing_collection_looks_exactly_like_one_without_a_grant(rag_server):
    answers = {}
    for name in ("personal", "gibt-es-nicht"):
        response = httpx.post(f"{rag_server.url}/v1/chat/completions", timeout=60,
                              headers=rag_server.headers("sales"), json={
                                  "model": f"rag:{name}",
                                  "messages": [{"role": "user", "content": HR_QUESTION}]})
        answers[name] = (response.status_code,
                         response.json()["error"]["message"].replace(name, "NAME"))
    assert answers["personal"] == answers["gibt-es-nicht"]
    assert answers["personal"][0] == 404 and "grant" not in answers["personal"][1]


def test_canary_of_another_collection_never_appears_in_answers(rag_server):
    for question in (HR_QUESTION, f"Wofür steht {HR_CANARY}?", SALES_QUESTION):
        response = httpx.post(
            f"{rag_server.url}/v1/chat/completions", headers=rag_server.headers("sales"),
            json={"model": "rag:vertrieb", "messages": [{"role": "user", "content": question}]},
            timeout=120)
        assert response.status_code == 200
        assert HR_CANARY not in response.text.replace(question, "")
    hr = httpx.post(f"{rag_server.url}/v1/chat/completions", headers=rag_server.headers("hr"),
                    json={"model": "rag:personal",
                          "messages": [{"role": "user", "content": SALES_QUESTION}]},
                    timeout=120)
    assert hr.status_code == 200 and SALES_CANARY not in hr.text


def test_search_route_respects_grants(rag_server):
    url = f"{rag_server.url}/v1/knowledge/search"
    mine = httpx.post(url, headers=rag_server.headers("sales"), timeout=60,
                      json={"query": HR_CANARY, "collection": "vertrieb", "k": 10})
    assert mine.status_code == 200
    assert HR_CANARY not in mine.text
    assert all(hit["source"] == "rabatte.md" for hit in mine.json()["data"])
    theirs = httpx.post(url, headers=rag_server.headers("sales"), timeout=60,
                        json={"query": HR_CANARY, "collection": "personal"})
    assert theirs.status_code == 404 and HR_CANARY not in theirs.text
    assert theirs.json()["error"]["type"] == "not_found_error"
    granted = httpx.post(url, headers=rag_server.headers("hr"), timeout=60,
                         json={"query": "Tresorkennwort", "collection": "personal"})
    assert HR_CANARY in granted.json()["data"][0]["text"]
    listed = httpx.get(f"{rag_server.url}/v1/knowledge/collections",
                       headers=rag_server.headers("hr")).json()["data"]
    assert [c["name"] for c in listed] == ["personal"]


def test_bad_rag_requests_get_clear_errors(rag_server):
    client = _openai(rag_server, "everything")
    with pytest.raises(openai.NotFoundError, match="no collection 'fehlt'"):
        client.chat.completions.create(model="rag:fehlt",
                                       messages=[{"role": "user", "content": "Hallo?"}])
    with pytest.raises(openai.BadRequestError, match="invalid collection name"):
        client.chat.completions.create(model="rag:../etc",
                                       messages=[{"role": "user", "content": "Hallo?"}])
    with pytest.raises(openai.NotFoundError, match="gibt-es-nicht"):
        client.chat.completions.create(model="rag:vertrieb@gibt-es-nicht",
                                       messages=[{"role": "user", "content": SALES_QUESTION}])
    with pytest.raises(openai.BadRequestError, match="needs a user message"):
        client.chat.completions.create(model="rag:vertrieb",
                                       messages=[{"role": "system", "content": "Sei nett."}])
    with pytest.raises(openai.BadRequestError, match="at most 2000 characters"):
        client.chat.completions.create(model="rag:vertrieb",
                                       messages=[{"role": "user", "content": "Preis? " * 8000}])
    other_script = client.chat.completions.create(
        model="rag:vertrieb", messages=[{"role": "user", "content": "价格是多少？"}])
    assert other_script.choices[0].message.content


def test_cli_search_and_ask_stay_inside_their_collection(rag_server, monkeypatch, capsys):
    monkeypatch.setenv("AUTONOM_HOME", str(rag_server.home))
    assert main(["search", HR_CANARY, "-c", "vertrieb", "--json"]) == 0
    assert HR_CANARY not in capsys.readouterr().out
    assert main(["ask", HR_QUESTION, "-c", "vertrieb", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["abstained"] is True and HR_CANARY not in json.dumps(answer)


def test_the_server_log_has_one_line_per_request_and_no_library_debug(rag_server):
    response = httpx.post(f"{rag_server.url}/v1/chat/completions", timeout=120,
                          headers=rag_server.headers("sales"), json={
                              "model": "rag:vertrieb",
                              "messages": [{"role": "user", "content": SALES_QUESTION}]})
    assert response.status_code == 200
    log = (rag_server.home / "serve.log").read_text(encoding="utf-8", errors="replace")
    [line] = [x for x in log.splitlines() if f"request={response.json()['id']} " in x]
    assert ("logger=autonom.access" in line and " method=POST route=/v1/chat/completions "
            "status=200 model=rag:vertrieb ms=" in line)
    assert "method=GET route=/health status=200" in log
    assert "DEBUG" not in log and "level=debug" not in log
