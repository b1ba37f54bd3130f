"""Two ``autonom serve`` replicas on one real PostgreSQL behave as one service: keys,
revocations and rate limits hold on both, documents ingested through one are found
through the other, every request is logged once, and a database restart costs clear 503s,
not a restart of autonom."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from autonom.config import Settings
from autonom.services import Services
from autonom.store import request_log
from autonom.store.keys import KeyStore
from server_support import start_server, stop_server
from support import autonom

DOCS = {
    "wartung.md": "# Wartung\n\nDie Rechnung wird 14 Tage nach der Wartung fällig.\n",
    "pumpe.md": "# Pumpe HW-350\n\n- Nenndruck: PN 16\n- Leistung: 5,5 kW\n",
}


def _services(home: Path, url: str) -> Services:
    return Services(Settings(home=home, store={"url": url}))


def _logged(home: Path, url: str, key_name: str) -> list[request_log.LogEntry]:
    """Every request-log row of the key named ``key_name``."""
    services = _services(home, url)
    try:
        key_id = KeyStore(services.db).get(key_name).id
        return request_log.query(services.db, key_id=key_id, limit=None)
    finally:
        services.close()


def _cli(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return autonom(home, *args, timeout=120, env={"AUTONOM_STORE__URL": url})


@pytest.fixture
def replicas(tmp_path, pg_url):
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
    services = _services(homes[0], pg_url)
    try:
        store = KeyStore(services.db)
        _, reader = store.create("leser", frozenset({"chat"}), collections=frozenset({"*"}))
        _, limited = store.create("zehn", frozenset({"chat"}), rpm=10,
                                  collections=frozenset({"*"}))
    finally:
        services.close()
    started = []
    try:
        for home in homes:
            started.append(start_server(home, {"AUTONOM_STORE__URL": pg_url}))
        yield ([url for _, url in started], {"leser": reader, "zehn": limited},
               [process for process, _ in started])
    finally:
        for process, _ in started:
            stop_server(process)


def _search(url: str, secret: str, query: str = "Wann ist die Rechnung fällig?") -> httpx.Response:
    return httpx.post(f"{url}/v1/knowledge/search", timeout=60,
                      headers={"Authorization": f"Bearer {secret}"},
                      json={"query": query, "collection": "firma"})


def test_ingest_through_one_replica_is_found_through_the_other(replicas, tmp_path, pg_url):
    (a, b), keys, _ = replicas
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    assert _search(b, keys["leser"]).status_code == 404  # no such collection yet
    ingest = _cli(tmp_path / "a", pg_url, "ingest", str(folder), "--collection", "firma")
    assert ingest.returncode == 0, ingest.stderr
    for url in (a, b):
        hits = _search(url, keys["leser"]).json()["data"]
        assert hits[0]["source"] == "wartung.md"
    (folder / "wartung.md").write_text("# Wartung\n\nDie Rechnung ist sofort fällig.\n",
                                       encoding="utf-8")
    assert _cli(tmp_path / "a", pg_url, "ingest", str(folder), "--collection",
                "firma").returncode == 0
    assert "sofort" in _search(b, keys["leser"]).json()["data"][0]["text"]


def test_a_key_revoked_anywhere_is_refused_by_every_replica(replicas, tmp_path, pg_url):
    (a, b), keys, _ = replicas
    headers = {"Authorization": f"Bearer {keys['leser']}"}
    for url in (a, b):
        assert httpx.get(f"{url}/v1/knowledge/collections", headers=headers,
                         timeout=30).status_code == 200
    revoked = _cli(tmp_path / "a", pg_url, "keys", "revoke", "leser")
    assert revoked.returncode == 0, revoked.stderr
    for url in (a, b):
        assert httpx.get(f"{url}/v1/knowledge/collections", headers=headers,
                         timeout=30).status_code == 401


def test_a_rate_limit_holds_across_replicas_and_each_request_is_logged_once(
        replicas, tmp_path, pg_url):
    (a, b), keys, _ = replicas
    statuses = [_search(url, keys["zehn"]).status_code for url in (a, b) * 8]
    assert statuses.count(429) == 6 and statuses.count(404) == 10  # collection absent: 404
    rows = _logged(tmp_path / "a", pg_url, "zehn")
    assert sorted(r.status for r in rows) == sorted(statuses)
    assert len({r.id for r in rows}) == 16


def test_a_database_restart_gives_503s_and_the_replicas_recover(replicas, local_postgres):
    (a, b), keys, _ = replicas
    headers = {"Authorization": f"Bearer {keys['leser']}"}
    local_postgres.halt()
    try:
        down = httpx.get(f"{a}/v1/knowledge/collections", headers=headers, timeout=30)
        assert down.status_code == 503
        assert "not reachable" in down.json()["error"]["message"]
        assert down.headers["Retry-After"]
    finally:
        local_postgres.resume()
    deadline = time.monotonic() + 30
    statuses: list[int] = []
    while time.monotonic() < deadline:
        statuses = [httpx.get(f"{url}/v1/knowledge/collections", headers=headers,
                              timeout=30).status_code for url in (a, b)]
        if statuses == [200, 200]:
            break
        time.sleep(0.5)
    assert statuses == [200, 200]



def test_a_replica_killed_under_load_loses_no_answered_request(replicas, tmp_path, pg_url):
    """Every response a client got (200 or an error) has its log row; the other replica
    keeps answering."""
    (a, b), keys, processes = replicas
    answers: list[tuple[str, int]] = []
    for n in range(60):
        url = (a, b)[n % 2]
        if n == 30:
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=30)
        try:
            answers.append((url, _search(url, keys["leser"]).status_code))
        except httpx.HTTPError:
            answers.append((url, 0))  # the dead replica: connection refused
    assert [s for u, s in answers if u == b] == [404] * 30  # no collection: 404, served
    assert [s for u, s in answers[:30] if u == a] == [404] * 15
    assert [s for u, s in answers[30:] if u == a] == [0] * 15
    rows = _logged(tmp_path / "a", pg_url, "leser")
    assert len(rows) == sum(1 for _, status in answers if status)
