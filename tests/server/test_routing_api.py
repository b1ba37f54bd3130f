"""A front ``autonom serve`` whose autonom.toml routes to an upstream server (another real
``autonom serve``) through the fault-injecting proxy; the official openai and ollama clients
talk to the front as they would to any server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest

from autonom.config import Settings
from autonom.models.pull import pull
from autonom.services import Services
from autonom.store import request_log
from fault_proxy import FaultProxy
from server_support import RunningServer, prepare_home, start_server, stop_server
from support import DEFAULT_MODEL

pytestmark = pytest.mark.engine
UPSTREAM_ONLY = "kleinmodell"  # a name only the upstream server knows


@pytest.fixture(scope="module")
def upstream(tmp_path_factory, default_model_file) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("upstream-home")
    keys = prepare_home(home, default_model_file)
    services = Services(Settings(home=home))
    pull(str(default_model_file), services.registry, services.settings, name=UPSTREAM_ONLY)
    process, url = start_server(home)
    yield RunningServer(url=url, home=home, process=process, keys=keys)
    stop_server(process)


@pytest.fixture(scope="module")
def proxy(upstream) -> Iterator[FaultProxy]:
    running = FaultProxy(upstream_port=int(upstream.url.rsplit(":", 1)[1])).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def front(tmp_path_factory, default_model_file, upstream, proxy) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("front-home")
    keys = prepare_home(home, default_model_file)
    key_file = home / "ollama-box.key"
    key_file.write_text(upstream.keys["all"] + "\n", encoding="utf-8")
    (home / "autonom.toml").write_text(f"""
[backends.box]
kind = "openai"
url = "{proxy.url}/v1"
api_key = "${{UPSTREAM_KEY}}"
cooldown_s = 1

[backends.ollama-box]
kind = "ollama"
url = "{proxy.url}"
api_key_file = "{key_file}"
cooldown_s = 1

[aliases]
chat-default = ["{DEFAULT_MODEL}@box", "{DEFAULT_MODEL}@embedded"]
only-remote = ["{DEFAULT_MODEL}@box", "{DEFAULT_MODEL}@ollama-box"]
""", encoding="utf-8")
    process, url = start_server(home, extra_env={"UPSTREAM_KEY": upstream.keys["all"]})
    yield RunningServer(url=url, home=home, process=process, keys=keys)
    stop_server(process)


@pytest.fixture
def fresh_proxy(proxy) -> FaultProxy:
    proxy.plan()
    proxy.default = "ok"
    proxy.seen.clear()
    proxy.max_in_flight = 0
    return proxy


@pytest.fixture
def client(front) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{front.url}/v1", api_key=front.keys["all"], max_retries=0,
                         timeout=120)


def log_rows(home: Path, request_id: str) -> list[request_log.LogEntry]:
    rows = request_log.query(Services(Settings(home=home)).db, limit=None)
    return [r for r in rows if r.id == request_id]


def ask(client, model: str, **kwargs):
    return client.chat.completions.create(
        model=model, max_tokens=10, temperature=0,
        messages=[{"role": "user", "content": "Wie heißt die Hauptstadt von Österreich?"}],
        **kwargs)


def test_models_list_aliases_and_what_the_backends_offer(client, front, fresh_proxy):
    models = {m.id: m.owned_by for m in client.models.list().data}
    assert models["chat-default"] == "alias" and models["only-remote"] == "alias"
    assert models[UPSTREAM_ONLY] == "box"  # both backends list it; the first one owns it
    assert models[DEFAULT_MODEL] == "autonom"  # local, listed once
    tags = ollama.Client(host=front.url, headers=front.headers()).list()
    names = {m.model for m in tags.models}
    assert {"chat-default", "only-remote", UPSTREAM_ONLY, DEFAULT_MODEL} <= names


def test_a_retried_request_is_logged_once_with_the_backend_that_answered(client, front,
                                                                         fresh_proxy):
    fresh_proxy.plan("status:503")
    reply = ask(client, "chat-default")
    assert reply.model == "chat-default" and reply.choices[0].message.content
    assert [s.fault for s in fresh_proxy.requests_to("/v1/chat")] == ["status:503", "ok"]
    [row] = log_rows(front.home, reply.id)
    assert row.status == 200 and row.served_by == f"{DEFAULT_MODEL}@box"


def test_the_client_key_never_reaches_the_upstream(client, front, upstream, fresh_proxy):
    ask(client, "chat-default")
    sent = fresh_proxy.requests_to("/v1/chat")[-1].headers["authorization"]
    assert sent == f"Bearer {upstream.keys['all']}"
    assert front.keys["all"] not in sent


def test_a_plain_upstream_model_name_goes_to_the_backend_that_lists_it(front, fresh_proxy):
    client = ollama.Client(host=front.url, headers=front.headers())
    reply = client.chat(model=UPSTREAM_ONLY, options={"num_predict": 8, "temperature": 0},
                        messages=[{"role": "user", "content": "Grüß Gott!"}])
    assert reply.message.content and reply.done
    assert len(fresh_proxy.requests_to("/v1/chat")) == 1  # box lists it and comes first


def test_every_backend_failing_is_a_502_in_each_apis_shape(client, front, fresh_proxy):
    fresh_proxy.default = "status:503"
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, "only-remote")
    assert caught.value.status_code == 502
    error = caught.value.body
    assert error["type"] == "server_error"
    assert f"{DEFAULT_MODEL}@box" in error["message"]
    assert f"{DEFAULT_MODEL}@ollama-box" in error["message"]
    raw = ollama.Client(host=front.url, headers=front.headers())
    with pytest.raises(ollama.ResponseError) as ollama_error:
        raw.chat(model="only-remote", messages=[{"role": "user", "content": "Hallo"}])
    assert ollama_error.value.status_code in (502, 503)  # 503 while both cool down
    assert "only-remote" in ollama_error.value.error
    time.sleep(1.2)  # let the one-second cooldown of both backends pass for the next tests


def test_a_stream_cut_midway_ends_with_an_error_event(client, front, fresh_proxy):
    fresh_proxy.plan("cut:600")
    stream = client.chat.completions.create(
        model="chat-default", max_tokens=60, temperature=0, stream=True,
        messages=[{"role": "user", "content": "Erzähle eine Geschichte über Pumpen."}])
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received  # data had reached the client: no silent retry
    assert "box" in str(caught.value)
    assert len(fresh_proxy.requests_to("/v1/chat")) == 1
    time.sleep(1.2)  # the cut put box into its one-second cooldown: let it pass for the next tests


def test_streaming_through_an_alias(client, fresh_proxy):
    stream = ask(client, "chat-default", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == "chat-default" for c in chunks)


def test_embeddings_through_a_backend(client, fresh_proxy):
    result = client.embeddings.create(model=f"{DEFAULT_MODEL}@box",
                                      input=["Pumpe 5,5 kW", "Urlaubsantrag"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 16
    assert fresh_proxy.requests_to("/v1/embeddings")


def test_backends_command_shows_each_backend(front, upstream, fresh_proxy):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "autonom", "backends", "--json"],
                          env={"AUTONOM_HOME": str(front.home), "PATH": "/usr/bin:/bin",
                               "UPSTREAM_KEY": upstream.keys["all"]},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["box"]["healthy"] and rows["ollama-box"]["healthy"]
    assert UPSTREAM_ONLY in rows["ollama-box"]["models"]
    assert rows["embedded"]["kind"] == "embedded"


def test_a_remote_backend_is_not_held_to_the_engines_limit(client, front, fresh_proxy):
    """server.max_concurrent (4) bounds the embedded engine; box may take its own 8."""
    from concurrent.futures import ThreadPoolExecutor

    fresh_proxy.default = "delay:0.5"
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: ask(client, f"{DEFAULT_MODEL}@box"), range(6)))
    assert all(r.choices[0].message.content for r in replies)
    assert fresh_proxy.max_in_flight > 4
