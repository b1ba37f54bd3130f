"""A backend that is a pool of three model servers, behind a real ``autonom serve``:
requests spread by load, and when one server dies mid-run no request is lost."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from autonom.config import Settings
from autonom.services import Services
from autonom.store import request_log
from autonom.store.keys import KeyStore
from openai_standin import StandIn
from server_support import start_server, stop_server


def test_a_pool_spreads_load_and_survives_a_member_dying(tmp_path):
    members = [StandIn(f"gpu{n}", delay_s=0.3).start() for n in (1, 2, 3)]
    home = tmp_path / "home"
    home.mkdir()
    urls = ", ".join(f'"{m.url}"' for m in members)
    (home / "autonom.toml").write_text(f"""
[backends.gpu]
kind = "openai"
urls = [{urls}]
models = ["m"]
retries = 0
cooldown_s = 60
max_concurrent = 4
""", encoding="utf-8")
    services = Services(Settings(home=home))
    try:
        _, secret = KeyStore(services.db).create("pool", frozenset({"chat"}))
    finally:
        services.close()
    process, url = start_server(home)
    try:
        def ask(n: int) -> tuple[int, str]:
            response = httpx.post(f"{url}/v1/chat/completions", timeout=60, headers={
                "Authorization": f"Bearer {secret}"}, json={
                "model": "m", "messages": [{"role": "user", "content": f"Frage {n}"}]})
            content = response.json()["choices"][0]["message"]["content"] \
                if response.status_code == 200 else response.text
            return response.status_code, content

        def kill_when_busy() -> None:
            """gpu3 dies while requests run, once it has answered some (bounded wait)."""
            deadline = time.monotonic() + 60
            while members[2].answered < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            members[2].stop()

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(ask, range(36)))
        killer.join()
    finally:
        stop_server(process)
        for member in members[:2]:
            member.stop()
    assert [status for status, _ in results] == [200] * 36, results
    answered = {m.name: sum(c == f"von {m.name}" for _, c in results) for m in members}
    assert sum(answered.values()) == 36
    assert answered["gpu1"] >= 10 and answered["gpu2"] >= 10 and answered["gpu3"] >= 2
    services = Services(Settings(home=home))
    try:
        rows = request_log.query(services.db, limit=None)
    finally:
        services.close()
    assert len(rows) == 36
    assert {r.served_by for r in rows} <= {"m@gpu#1", "m@gpu#2", "m@gpu#3"}
