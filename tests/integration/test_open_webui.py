"""Open WebUI against autonom: the real Open WebUI (pinned in integrations/open-webui, in its
own virtual environment), started headless on 127.0.0.1 with autonom as both its Ollama and
its OpenAI connection, configured only through its environment variables.

Open WebUI sends the API key of each connection as ``Authorization: Bearer …``; the OpenAI
connection gets the prefix ``autonom.`` so that the test can tell which connection a model
came through. Everything is asked through Open WebUI's own HTTP API, as its web page does.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autonom.store import request_log
from server_support import free_port, stop_server

pytestmark = [pytest.mark.engine, pytest.mark.integration]

OPEN_WEBUI = (Path(__file__).resolve().parents[2] / "integrations" / "open-webui" / ".venv"
              / "bin" / "open-webui")
QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"
START_S = 180


class OpenWebUI:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers, timeout=60)

    def chat(self, model: str, question: str, stream: bool = False) -> httpx.Response:
        body = {"model": model, "stream": stream,
                "messages": [{"role": "user", "content": question}]}
        return httpx.post(f"{self.url}/api/chat/completions", headers=self.headers, json=body,
                          timeout=180)


def environment(autonom: str, data: Path, chat_key: str, embed_key: str) -> dict[str, str]:
    """Open WebUI set up as a company would: no login (one user on a trusted machine),
    offline, autonom as the Ollama and the OpenAI connection and as its embedder."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTONOM_", "OPENAI_"))},
        "DATA_DIR": str(data), "WEBUI_AUTH": "False", "WEBUI_SECRET_KEY": "autonom-tests",
        "OFFLINE_MODE": "True", "ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "True",
        "SCARF_NO_ANALYTICS": "True", "ENABLE_VERSION_UPDATE_CHECK": "False",
        "ENABLE_OLLAMA_API": "True", "OLLAMA_BASE_URLS": autonom,
        "OLLAMA_API_CONFIGS": json.dumps({"0": {"key": chat_key}}),
        "ENABLE_OPENAI_API": "True", "OPENAI_API_BASE_URLS": f"{autonom}/v1",
        "OPENAI_API_KEYS": chat_key,
        "OPENAI_API_CONFIGS": json.dumps({"0": {"prefix_id": "autonom"}}),
        "RAG_EMBEDDING_ENGINE": "openai", "RAG_EMBEDDING_MODEL": "multilingual-e5-small",
        "RAG_OPENAI_API_BASE_URL": f"{autonom}/v1", "RAG_OPENAI_API_KEY": embed_key,
    }


@pytest.fixture(scope="module")
def webui(rag_server, tmp_path_factory) -> Iterator[OpenWebUI]:
    if not OPEN_WEBUI.exists():
        pytest.fail("Open WebUI is not installed: run `make integration-deps`")
    data = tmp_path_factory.mktemp("open-webui")
    port = free_port()
    log = (data / "serve.log").open("ab")
    env = environment(rag_server.url, data, rag_server.keys["sales"], rag_server.keys["embed"])
    process = subprocess.Popen([str(OPEN_WEBUI), "serve", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, cwd=data)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            tail = (data / "serve.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"Open WebUI did not start within {START_S} s: {tail}")
        # without login Open WebUI hands out the token of its one (admin) user
        signin = httpx.post(f"{url}/api/v1/auths/signin", json={"email": "", "password": ""},
                            timeout=60)
        assert signin.status_code == 200, signin.text
        yield OpenWebUI(url, signin.json()["token"])
    finally:
        stop_server(process)


def test_lists_autonoms_models_and_collections_through_both_connections(webui, rag_server):
    listed = webui.get("/api/models")
    assert listed.status_code == 200, listed.text
    models = {m["id"]: m for m in listed.json()["data"]}
    for name in (rag_server.model, "rag:pumpenwerk", "rag:vertrieb"):
        assert models[name]["owned_by"] == "ollama"
        assert models[f"autonom.{name}"]["owned_by"] == "openai"
    # the key's grants decide what Open WebUI can offer: not the HR documents
    assert "rag:personal" not in models and "autonom.rag:personal" not in models


@pytest.mark.parametrize("model", ["rag:pumpenwerk", "autonom.rag:pumpenwerk"])
def test_a_chat_through_open_webui_answers_from_the_documents(webui, model):
    response = webui.chat(model, QUESTION)
    assert response.status_code == 200, response.text
    answer = response.json()["choices"][0]["message"]["content"]
    assert "5,5 kW" in answer and "Quellen:" in answer
    if model.startswith("autonom."):  # the OpenAI connection passes autonom's fields on
        assert response.json()["abstained"] is False
        assert {c["source"] for c in response.json()["citations"]} >= {
            "produkte/kp-55-datenblatt.md"}


def test_an_abstention_reaches_the_user_as_autonoms_sentence(webui):
    response = webui.chat("rag:pumpenwerk", "Wie heißt der Hund des Geschäftsführers?")
    assert response.status_code == 200, response.text
    answer = response.json()["choices"][0]["message"]["content"]
    assert answer.startswith("Dazu steht nichts in den Dokumenten")


def test_a_streamed_chat_keeps_the_sources_line(webui):
    with httpx.stream("POST", f"{webui.url}/api/chat/completions", headers=webui.headers,
                      json={"model": "rag:pumpenwerk", "stream": True,
                            "messages": [{"role": "user", "content": QUESTION}]},
                      timeout=180) as response:
        assert response.status_code == 200
        parts = []
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                delta = json.loads(line[6:])["choices"][0].get("delta", {})
                parts.append(delta.get("content") or "")
    answer = "".join(parts)
    assert "5,5 kW" in answer and "Quellen:" in answer


def test_a_plain_chat_with_the_default_model(webui, rag_server):
    response = webui.chat(rag_server.model, "Sag kurz Hallo.")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].strip()


def test_a_document_uploaded_to_open_webui_is_embedded_by_autonom(webui, rag_server):
    text = "Die Wartung der Kältemaschine KM-7 erfolgt alle 6 Monate durch die Firma Frost.\n"
    response = httpx.post(f"{webui.url}/api/v1/files/", headers=webui.headers,
                          params={"process": "true", "process_in_background": "false"},
                          files={"file": ("wartung.txt", text.encode(), "text/plain")},
                          timeout=180)
    assert response.status_code == 200, response.text
    status = webui.get(f"/api/v1/files/{response.json()['id']}/process/status").json()
    assert status == {"status": "completed"}, status
    services = rag_server.services()
    try:
        rows = request_log.query(services.db, model="multilingual-e5-small", limit=20)
    finally:
        services.close()
    assert any(r.route == "/v1/embeddings" and r.status == 200 for r in rows)
