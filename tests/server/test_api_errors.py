"""HTTP behaviour that is autonom's own logic, in-process with a FakeBackend:
error shapes, authentication, limits, the request log and metrics."""

import asyncio
import json

import httpx
import pytest

from api_support import (
    CHAT,
    assert_ollama_error,
    assert_openai_error,
    get,
    make,
    post,
    run,
)
from autonom.backends.fake import FakeBackend
from autonom.store import request_log

pytestmark = pytest.mark.both_stores


class GatedBackend(FakeBackend):
    """Holds every request until the test opens the gate."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.gate = asyncio.Event()
        self.started = 0

    async def chat(self, request):
        self.started += 1
        await self.gate.wait()
        return await super().chat(request)


def test_chat_answers_and_is_logged_in_one_row(api):
    response = run(post(api(), "/v1/chat/completions", json=CHAT))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Die Pumpe kostet 1.234,50 €."
    [entry] = request_log.query(api.services.db)
    assert entry.id == response.json()["id"]
    assert entry.route == "/v1/chat/completions" and entry.status == 200
    assert entry.request["messages"][0]["content"] == "Wie viel kostet die Pumpe?"
    assert entry.response == {"text": "Die Pumpe kostet 1.234,50 €."}
    assert entry.key_id is not None and entry.total_ms >= 0


def test_content_logging_can_be_switched_off(home):
    services, app, secrets = make(home, log_content=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               headers={"Authorization": f"Bearer {secrets['all']}"})
    assert run(post(client, "/api/chat", json={**CHAT, "stream": False})).status_code == 200
    [entry] = request_log.query(services.db)
    assert entry.request is None and entry.response is None
    assert entry.completion_tokens > 0 and entry.model == "fake"


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/chat/completions", {"model": "fake", "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": "fake"}, "messages"),
        ("/v1/chat/completions", {**CHAT, "temperature": "heiß"}, "temperature"),
        ("/v1/chat/completions", {**CHAT, "messages": [{"role": "kaiser", "content": "x"}]},
         "role"),
        ("/v1/chat/completions", {**CHAT, "max_tokens": 10**9}, "exceeds"),
        ("/v1/chat/completions", {**CHAT, "n": 3}, "n > 1"),
        ("/v1/embeddings", {"model": "fake", "input": []}, "input"),
    ],
)
def test_bad_openai_requests_are_400_in_openai_shape(api, path, body, fragment):
    assert_openai_error(run(post(api(), path, json=body)), 400, fragment)


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/api/chat", {"model": "fake", "messages": "Hallo"}, "messages"),
        ("/api/chat", {**CHAT, "options": {"num_predict": 10**9}}, "exceeds"),
        ("/api/generate", {"model": "fake", "prompt": 5}, "prompt"),
        ("/api/chat", {**CHAT, "keep_alive": "bald"}, "keep_alive"),
        ("/api/embed", {"model": "fake"}, "input"),
    ],
)
def test_bad_ollama_requests_are_400_in_ollama_shape(api, path, body, fragment):
    assert_ollama_error(run(post(api(), path, json=body)), 400, fragment)


def test_malformed_json_names_no_parameter_but_the_position(api):
    response = run(post(api(), "/v1/chat/completions", content=b'{"model": "fake", "messages": ['))
    error = response.json()["error"]
    assert error["param"] is None and "at character" in error["message"]


def test_malformed_json_and_invalid_utf8(api):
    for path, check in (("/v1/chat/completions", assert_openai_error),
                        ("/api/chat", assert_ollama_error)):
        check(run(post(api(), path, content=b'{"model": "fake", "messages": [')), 400, "JSON")
        check(run(post(api(), path, content=b'{"model": "\xff\xfe"}')), 400, "")


def test_ten_megabyte_body_is_413(api):
    big = {"model": "fake", "messages": [{"role": "user", "content": "x" * 10_000_000}]}
    assert_openai_error(run(post(api(), "/v1/chat/completions", json=big)), 413, "larger")
    assert_ollama_error(run(post(api(), "/api/chat", json=big)), 413, "larger")
    assert request_log.query(api.services.db) == []


def test_unknown_model_and_route_are_404(api):
    assert_openai_error(run(post(api(), "/v1/chat/completions", json={**CHAT, "model": "nix"})),
                        404, "nix")
    assert_ollama_error(run(post(api(), "/api/chat", json={**CHAT, "model": "nix"})), 404, "nix")
    assert_openai_error(run(get(api(), "/v1/nirgends")), 404, "no route")
    assert_ollama_error(run(get(api(), "/api/nirgends")), 404, "no route")


def test_auth_missing_invalid_and_scope(api):
    assert_openai_error(run(get(api(None), "/v1/models")), 401, "missing API key")
    assert_ollama_error(run(get(api(None), "/api/tags")), 401, "missing API key")
    assert_openai_error(run(get(api("sk-autonom-erfunden"), "/v1/models")), 401, "invalid")
    assert_openai_error(run(post(api("embed"), "/v1/chat/completions", json=CHAT)), 403, "chat")
    assert_ollama_error(run(get(api("embed"), "/metrics")), 403, "admin")
    assert run(get(api(None), "/health")).status_code == 200


def test_rate_limit_is_429_with_retry_after(api):
    async def three():
        async with api("limited") as c:
            return [await c.post("/v1/chat/completions", json=CHAT) for _ in range(3)]

    responses = run(three())
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2].headers["retry-after"]) >= 1
    assert "requests per minute" in responses[2].json()["error"]["message"]


def test_full_queue_is_503_with_retry_after_and_nothing_piles_up(home):
    backend = GatedBackend(models=("fake",))
    services, app, secrets = make(home, backend=backend, max_concurrent=1, max_queue=1)
    headers = {"Authorization": f"Bearer {secrets['all']}"}

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t", headers=headers) as c:
            first = asyncio.create_task(c.post("/v1/chat/completions", json=CHAT))
            second = asyncio.create_task(c.post("/v1/chat/completions", json=CHAT))
            for _ in range(200):  # bounded: until the first holds the slot
                if backend.started == 1:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            third = await c.post("/v1/chat/completions", json=CHAT)
            backend.gate.set()
            return third, await first, await second

    third, first, second = run(scenario())
    assert first.status_code == 200 and second.status_code == 200
    assert_openai_error(third, 503, "busy")
    assert third.headers["retry-after"]
    statuses = sorted(e.status for e in request_log.query(services.db))
    assert statuses == [200, 200, 503]


def test_stream_logs_before_done_and_counts_metrics(api):
    response = run(post(api(), "/v1/chat/completions", json={**CHAT, "stream": True}))
    lines = [ln for ln in response.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(ln[6:])["choices"][0]["delta"].get("content", "")
                   for ln in lines[:-1])
    assert text == "Die Pumpe kostet 1.234,50 €."
    [entry] = request_log.query(api.services.db)
    assert entry.response == {"text": text} and not entry.cancelled
    metrics = run(get(api(), "/metrics")).text
    assert 'autonom_requests_total{route="/v1/chat/completions",status="200"} 1.0' in metrics
    assert "autonom_time_to_first_token_seconds_bucket" in metrics
    assert 'autonom_tokens_total{kind="completion",model="fake"}' in metrics
    assert "autonom_queue_depth 0.0" in metrics


def test_ollama_ndjson_stream(api):
    response = run(post(api(), "/api/chat", json=CHAT))
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(ln) for ln in response.text.splitlines()]
    assert all(not ln["done"] for ln in lines[:-1]) and lines[-1]["done"]
    assert "".join(ln["message"]["content"] for ln in lines) == "Die Pumpe kostet 1.234,50 €."


def test_version_answers_like_ollama_and_names_autonom(api):
    from autonom import __version__

    body = run(get(api(None), "/api/version")).json()
    major, minor, _ = (int(p) for p in body["version"].split("."))
    assert (major, minor) >= (0, 6) and body["autonom"] == __version__


def test_openapi_schema_is_served(api):
    schema = run(get(api(None), "/openapi.json")).json()
    assert "/v1/chat/completions" in schema["paths"] and "/api/chat" in schema["paths"]


def test_serving_without_keys_is_refused_off_loopback():
    from autonom.config import check_bind
    from autonom.errors import ConfigError

    check_bind("127.0.0.1", auth=False)
    check_bind("0.0.0.0", auth=True)
    with pytest.raises(ConfigError, match="without API keys"):
        check_bind("0.0.0.0", auth=False)


def test_request_past_its_deadline_is_504_and_logged(home):
    backend = GatedBackend(models=("fake",))  # the gate never opens
    services, app, secrets = make(home, backend=backend, request_timeout_s=0.2)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               headers={"Authorization": f"Bearer {secrets['all']}"})
    response = run(post(client, "/api/chat", json={**CHAT, "stream": False}))
    assert_ollama_error(response, 504, "deadline")
    [entry] = request_log.query(services.db)
    assert entry.status == 504 and "DeadlineError" in entry.error


def test_cors_is_off_unless_origins_are_configured(home, tmp_path):
    preflight = {"Origin": "https://intranet.example", "Access-Control-Request-Method": "POST"}

    async def options(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            return await c.options("/v1/chat/completions", headers=preflight)

    _, app, _ = make(home)
    assert "access-control-allow-origin" not in run(options(app)).headers
    _, app, _ = make(tmp_path / "other", cors_origins=["https://intranet.example"])
    allowed = run(options(app)).headers
    assert allowed["access-control-allow-origin"] == "https://intranet.example"
