"""Disconnects cancel generation; a crash loses nothing that was acknowledged."""

import json
import signal
import threading
import time

import httpx
import pytest

from autonom.config import Settings
from autonom.services import Services
from autonom.store import request_log
from server_support import prepare_home, start_server, stop_server

pytestmark = pytest.mark.engine


def metric(server, name):
    text = httpx.get(f"{server.url}/metrics", headers=server.headers(), timeout=30).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_client_disconnect_cancels_generation_and_frees_the_slot(server):
    body = {"model": server.model, "stream": True, "max_tokens": 3000,
            "messages": [{"role": "user", "content": "Erzähle eine sehr lange Geschichte."}]}
    request_id = None
    with httpx.Client(timeout=60) as client, client.stream(
            "POST", f"{server.url}/v1/chat/completions", json=body,
            headers=server.headers()) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                request_id = json.loads(line[6:])["id"]
                break
    assert request_id is not None  # the connection is closed here, mid-answer
    services = Services(Settings(home=server.home))
    entry = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entry = request_log.get(services.db, request_id)
        if entry is not None:
            break
        time.sleep(0.1)
    assert entry is not None and entry.cancelled and entry.status == 499
    deadline = time.monotonic() + 30
    while metric(server, "autonom_requests_in_flight") != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric(server, "autonom_requests_in_flight") == 0
    follow_up = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers(),
                           json={**body, "stream": False, "max_tokens": 4}, timeout=60)
    assert follow_up.status_code == 200


def test_sigkill_under_load_loses_no_acknowledged_request(tmp_path, default_model_file):
    """Three kill-and-restart cycles on one home (a bounded crash loop): every answer a
    client got is in the log, and the database stays intact."""
    home = tmp_path / "crash-home"
    keys = prepare_home(home, default_model_file)
    headers = {"Authorization": f"Bearer {keys['all']}"}
    acknowledged: list[str] = []
    for cycle in range(3):
        process, url = start_server(home)
        before = len(acknowledged)
        _load_until_killed(process, url, headers, acknowledged, cycle, want=before + 6)
        stop_server(process)
        assert len(acknowledged) >= before + 6
        services = Services(Settings(home=home))
        try:
            logged = set(request_log.ids(services.db))
            with services.db.read() as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            services.close()
        missing = [rid for rid in acknowledged if rid not in logged]
        assert missing == [], f"cycle {cycle}"


def _load_until_killed(process, url, headers, acknowledged, cycle, want):
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n):
        with httpx.Client(timeout=30) as client:
            for i in range(40):  # bounded
                if stop.is_set():
                    return
                try:
                    r = client.post(f"{url}/v1/chat/completions", headers=headers, json={
                        "model": "smollm2-135m", "max_tokens": 8,
                        "seed": cycle * 10_000 + n * 100 + i,
                        "messages": [{"role": "user", "content": f"Frage {n}-{i}"}]})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(60)
    process.wait(30)
