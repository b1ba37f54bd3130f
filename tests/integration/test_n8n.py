"""n8n against autonom: the real n8n (pinned in integrations/n8n), run headless with its CLI,
executing the workflows in integrations/n8n/workflows through its Ollama Chat Model node.

The credential is n8n's own "Ollama" type with autonom's URL and an API key, which n8n sends
as ``Authorization: Bearer …``. Every request goes through a fault proxy, so that one test
can make autonom's answer a 503 and watch n8n retry.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fault_proxy import FaultProxy

pytestmark = [pytest.mark.engine, pytest.mark.integration]

N8N_DIR = Path(__file__).resolve().parents[2] / "integrations" / "n8n"
N8N = N8N_DIR / "node_modules" / ".bin" / "n8n"
WORKFLOWS = N8N_DIR / "workflows"


class N8n:
    def __init__(self, folder: Path) -> None:
        self.env = {**os.environ, "N8N_USER_FOLDER": str(folder),
                    "N8N_ENCRYPTION_KEY": "autonom-integration-tests",
                    "N8N_DIAGNOSTICS_ENABLED": "false",
                    "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
                    "N8N_RUNNERS_ENABLED": "false",
                    "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false"}

    def cli(self, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
        # log lines and the result in one file, in the order n8n wrote them (n8n prints the
        # result through its logger at level info: keep N8N_LOG_LEVEL at info or below)
        with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
            done = subprocess.run([str(N8N), *args], env=self.env, stdout=out,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
            out.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")

    def execute(self, workflow_id: str) -> dict[str, Any]:
        """The execution record of one run (n8n prints it as JSON after its log lines)."""
        done = self.cli("execute", f"--id={workflow_id}", "--rawOutput")
        text = done.stdout
        start = text.find("{")
        assert start >= 0, (f"n8n printed no result (exit {done.returncode}): "
                            f"{done.stdout[-1500:]} {done.stderr[-1500:]}")
        record, _ = json.JSONDecoder().raw_decode(text[start:])
        return record


def outputs(record: dict[str, Any], node: str) -> list[dict[str, Any]]:
    runs = record["data"]["resultData"]["runData"].get(node, [])
    return [item["json"] for run in runs for item in (run.get("data") or {}).get("main", [[]])[0]]


@pytest.fixture(scope="module")
def proxy(rag_server):
    running = FaultProxy(upstream_port=int(rag_server.url.rsplit(":", 1)[1])).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def n8n(rag_server, proxy, tmp_path_factory) -> N8n:
    if not N8N.exists():
        pytest.fail("n8n is not installed: run `make integration-deps`")
    runner = N8n(tmp_path_factory.mktemp("n8n"))
    credentials = tmp_path_factory.mktemp("n8n-import") / "credentials.json"
    credentials.write_text(json.dumps([{
        "id": "autonomOllama", "name": "autonom", "type": "ollamaApi",
        "data": {"baseUrl": proxy.url, "apiKey": rag_server.keys["sales"]}}]))
    for args in (("import:credentials", f"--input={credentials}"),
                 ("import:workflow", "--separate", f"--input={WORKFLOWS}")):
        done = runner.cli(*args)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return runner


def test_the_ollama_chat_model_node_with_the_guides_settings(n8n, proxy, rag_server):
    proxy.seen.clear()
    record = n8n.execute("autonomChatChain")
    assert record["status"] == "success", record["data"]["resultData"].get("error")
    [answer] = outputs(record, "Basic LLM Chain")
    assert answer["text"].strip()
    [chat] = proxy.requests_to("/api/chat")
    assert chat.headers["authorization"] == f"Bearer {rag_server.keys['sales']}"
    loaded = httpx.get(f"{rag_server.url}/api/ps", headers=rag_server.headers("all")).json()
    [model] = [m for m in loaded["models"] if m["name"] == rag_server.model]
    expires = time.mktime(time.strptime(model["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert expires - time.mktime(time.gmtime()) > 3600  # keepAlive 2h reached the server


def test_a_structured_output_parser_gets_json_of_its_schema(n8n):
    record = n8n.execute("autonomStructured")
    assert record["status"] == "success", record["data"]["resultData"].get("error")
    [result] = outputs(record, "Basic LLM Chain")
    assert set(result["output"]) == {"name", "leistung_kw"}
    assert isinstance(result["output"]["name"], str)
    assert isinstance(result["output"]["leistung_kw"], int | float)


def test_a_rag_model_answers_with_its_sources(n8n):
    record = n8n.execute("autonomDocuments")
    assert record["status"] == "success", record["data"]["resultData"].get("error")
    [answer] = outputs(record, "Basic LLM Chain")
    assert "5,5 kW" in answer["text"] and "Quellen:" in answer["text"]


def test_the_ai_agent_calls_its_tool_and_answers(n8n, proxy):
    proxy.seen.clear()
    record = n8n.execute("autonomAgent")
    assert record["status"] == "success", record["data"]["resultData"].get("error")
    runs = record["data"]["resultData"]["runData"]
    assert "Calculator" in runs, "the agent never called its tool"
    [answer] = outputs(record, "AI Agent")
    assert isinstance(answer["output"], str) and answer["output"].strip()
    assert len(proxy.requests_to("/api/chat")) >= 2  # the call, then the answer


def test_a_503_is_retried_and_the_workflow_carries_on(n8n, proxy):
    proxy.seen.clear()
    proxy.plan("status:503")
    record = n8n.execute("autonomRetry")
    assert record["status"] == "success", record["data"]["resultData"].get("error")
    faults = [s.fault for s in proxy.requests_to("/api/chat")]
    assert faults[0] == "status:503" and faults[-1] == "ok"
    assert outputs(record, "No Operation")
