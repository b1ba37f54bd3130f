"""The MCP client end to end with the real default model and real servers: the example ERP
server over stdio (CLI and HTTP API), and autonom's own /mcp over HTTP with right and wrong
keys."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from autonom.config import McpServerSettings
from autonom.errors import ToolServerError
from autonom.mcp.client import connect
from server_support import prepare_home, start_server, stop_server
from support import DEFAULT_MODEL, engine_env

pytestmark = pytest.mark.engine
QUESTION = "Wie viele Kreiselpumpen KP-55 haben wir auf Lager?"


def config_text(erp_db: Path, extra: str = "") -> str:
    return (f'[mcp.servers.erp]\ncommand = ["autonom", "mcp", "example-erp", "--db", '
            f'"{erp_db}"]\nallow = ["*"]\n\n[mcp.aliases.lager]\nmodel = "{DEFAULT_MODEL}"\n'
            f'servers = ["erp"]\n{extra}')


def env_for(home: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    return {**env, "AUTONOM_HOME": str(home), "AUTONOM_CONFIG": str(config), **engine_env()}


def reservations(erp_db: Path) -> int:
    with sqlite3.connect(erp_db) as conn:
        return conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]


def test_cli_chat_with_the_erp_tools_runs_end_to_end(tmp_path, default_model_file):
    home, erp_db = tmp_path / "home", tmp_path / "erp.db"
    prepare_home(home, default_model_file)
    config = tmp_path / "autonom.toml"
    config.write_text(config_text(erp_db), encoding="utf-8")
    env = env_for(home, config)
    listed = subprocess.run([sys.executable, "-m", "autonom", "mcp", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "get_stock" in listed.stdout and "asks before each call" in listed.stdout
    for prompt in (QUESTION, "Reserviere 3 Stück KP-55 für Auftrag A-2026-0412."):
        done = subprocess.run(
            [sys.executable, "-m", "autonom", "run", DEFAULT_MODEL, prompt, "--tools", "erp",
             "--temperature", "0", "--max-tokens", "128"],
            env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
    assert reservations(erp_db) == 0  # no terminal, nobody confirmed: nothing reserved
    calls = subprocess.run([sys.executable, "-m", "autonom", "mcp", "calls", "--json"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert calls.returncode == 0


def test_http_alias_answers_with_tools_and_never_writes_unattended(tmp_path, default_model_file):
    home, erp_db = tmp_path / "home", tmp_path / "erp.db"
    keys = prepare_home(home, default_model_file)
    config = tmp_path / "autonom.toml"
    config.write_text(config_text(erp_db), encoding="utf-8")
    process, url = start_server(home, {"AUTONOM_CONFIG": str(config)})
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=keys["chat"], timeout=300)
        assert "lager" in {m.id for m in client.models.list()}
        reply = client.chat.completions.create(
            model="lager", temperature=0, max_tokens=128,
            messages=[{"role": "user", "content": QUESTION}])
        assert reply.model == "lager" and reply.choices[0].message.content is not None
        streamed = client.chat.completions.create(
            model="lager", temperature=0, max_tokens=64, stream=True,
            messages=[{"role": "user", "content": "Reserviere 500 Stück KP-55 sofort."}])
        assert [c for c in streamed]
        with pytest.raises(openai.BadRequestError, match="brings its own tools"):
            client.chat.completions.create(
                model="lager", messages=[{"role": "user", "content": "Hallo"}],
                tools=[{"type": "function", "function": {"name": "x", "parameters": {}}}])
    finally:
        stop_server(process)
    assert reservations(erp_db) == 0


def test_autonoms_own_mcp_endpoint_as_a_tool_server_needs_the_right_key(rag_server):
    async def tools_with(secret: str) -> list[str]:
        settings = McpServerSettings(url=f"{rag_server.url}/mcp", timeout_s=30,
                                     headers={"Authorization": f"Bearer {secret}"})
        async with connect("wissen", settings) as conn:
            return [t.name for t in await conn.tools()]

    assert "ask" in asyncio.run(tools_with(rag_server.keys["sales"]))
    with pytest.raises(ToolServerError, match=r"not be reached: .*invalid or revoked API key"):
        asyncio.run(tools_with("sk-autonom-falsch"))


def test_header_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ERP_TOKEN", "geheim")
    settings = McpServerSettings(url="http://127.0.0.1:9/mcp",
                                 headers={"Authorization": "Bearer ${ERP_TOKEN}"})
    assert settings.headers["Authorization"].get_secret_value() == "Bearer geheim"
    assert "geheim" not in repr(settings)
