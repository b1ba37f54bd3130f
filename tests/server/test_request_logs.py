"""Log lines: one logfmt line per request (method, route, status, model, duration, request
id), and every line a request causes in the gateway, the router and a backend carries the
same request id as its row in the request log."""

from __future__ import annotations

import contextvars
import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from api_support import CHAT, make, post, run
from autonom import logs
from autonom.config import BackendSettings, load_settings
from autonom.server import create_app
from autonom.services import Services
from autonom.store import request_log
from autonom.store.keys import KeyStore


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """autonom's loggers as ``autonom serve`` sets them up, written into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.Logfmt())
    handler.addFilter(logs.RequestFields())
    root = logging.getLogger("autonom")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines_of(out: io.StringIO, logger: str) -> list[str]:
    return [line for line in out.getvalue().splitlines() if f"logger={logger} " in line]


def test_one_access_line_per_request_with_its_id_and_model(home, captured):
    _, app, secrets = make(home)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               headers={"Authorization": f"Bearer {secrets['all']}"})
    response = run(post(client, "/v1/chat/completions", json=CHAT))
    assert response.status_code == 200
    [line] = lines_of(captured, "autonom.access")
    request_id = response.json()["id"]
    assert f"request={request_id} " in line
    for part in ("method=POST", "route=/v1/chat/completions", "status=200", "model=fake"):
        assert f" {part} " in line, line
    assert " ms=" in line and "\n" not in line


def test_a_failing_backend_logs_in_router_gateway_and_backend_under_the_request_id(
        home, captured):
    settings = load_settings(home=home)
    settings.backends = {"gpu": BackendSettings(kind="openai", url="http://127.0.0.1:9/v1",
                                                models=["big-model"], connect_timeout_s=2)}
    services = Services(settings)
    _, secret = KeyStore(services.db).create("all", frozenset({"chat"}))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)),
                               base_url="http://t", headers={"Authorization": f"Bearer {secret}"})
    try:
        response = run(post(client, "/v1/chat/completions",
                            json={**CHAT, "model": "big-model"}))
        assert response.status_code == 502, response.text
        [row] = request_log.query(services.db, limit=5)
    finally:
        services.close()
    tagged = f"request={row.id} "
    assert row.status == 502
    [access] = lines_of(captured, "autonom.access")
    assert tagged in access and " status=502 " in access and " model=big-model " in access
    for logger in ("autonom.backends", "autonom.router", "autonom.gateway"):
        found = lines_of(captured, logger)
        assert found and all(tagged in line for line in found), (logger, captured.getvalue())
    assert "connection failed" in lines_of(captured, "autonom.gateway")[0]


def test_logfmt_quotes_what_needs_it_and_stays_one_line():
    record = logging.LogRecord("autonom.x", logging.WARNING, __file__, 1,
                               'failed: "kaputt"\r\nzweite Zeile', None, None)
    record.fields = {"status": 503, "route": "/v1/chat/completions"}
    logs.RequestFields().filter(record)
    line = logs.Logfmt().format(record)
    assert "\n" not in line and "\r" not in line
    assert " request=- " in line and " status=503 route=/v1/chat/completions " in line
    assert line.endswith(r'msg="failed: \"kaputt\"\r\nzweite Zeile"')


def test_facts_are_noted_only_inside_a_request():
    def inside() -> dict[str, str]:
        fields = logs.begin()
        logs.note(request_id="req_1", model=None)
        assert logs.current() == fields
        return fields

    logs.note(request_id="outside")  # no request open in this context: nothing recorded
    assert logs.current() == {}
    assert contextvars.copy_context().run(inside) == {"request_id": "req_1"}
    assert logs.current() == {}
