"""LangChain JS (``@langchain/ollama``) against autonom: a real Node.js process with the
packages pinned in integrations/js (installed by ``make test`` and ``make integration``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.engine, pytest.mark.integration]

JS = Path(__file__).resolve().parents[2] / "integrations" / "js"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None or not (JS / "node_modules" / "@langchain" / "ollama").is_dir():
        pytest.fail("Node.js and the packages in integrations/js are needed: "
                    "run `make integration-deps`")
    return found


def test_chat_stream_structured_output_and_embeddings(node, server):
    env = {**os.environ, "AUTONOM_URL": server.url, "AUTONOM_KEY": server.keys["all"],
           "AUTONOM_MODEL": server.model}
    done = subprocess.run([node, "langchain_ollama.mjs"], cwd=JS, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["plain"].strip()
    assert result["pieces"] > 1 and result["streamed"].strip()
    structured = result["structured"]
    assert set(structured) == {"name", "leistung_kw"}
    assert isinstance(structured["name"], str) and len(structured["name"]) <= 20
    assert isinstance(structured["leistung_kw"], int | float)
    assert result["dimensions"] == [384, 384]
