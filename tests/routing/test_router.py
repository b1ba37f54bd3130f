"""The router between a remote backend (a real ``autonom serve`` behind the fault-injecting
proxy) and the embedded engine: retries before the first byte, fallbacks down an alias,
cooldown and health checks, concurrency limits, clear errors, and no way for a request to
pick an upstream URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from autonom.config import Settings
from autonom.errors import (
    CoolingDownError,
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamError,
)
from autonom.models.pull import pull
from autonom.routing.router import Router
from autonom.services import Services
from autonom.types import ChatRequest, GenerationOptions, Message
from support import DEFAULT_MODEL

pytestmark = pytest.mark.engine
REMOTE = f"{DEFAULT_MODEL}@box"
LOCAL = f"{DEFAULT_MODEL}@embedded"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_services(home, server, proxy, default_model_file, kind="openai", **backend):
    url = proxy.url + ("/v1" if kind == "openai" else "")
    settings = Settings(
        home=home,
        backends={"box": {"kind": kind, "url": url, "api_key": server.keys["all"],
                          "cooldown_s": 30, **backend}},
        aliases={"chat-default": [REMOTE, LOCAL], "only-remote": [REMOTE],
                 "auto": {"simple": [LOCAL], "hard": "chat-default",
                          "hard_suffix": " Denke Schritt für Schritt."}})
    services = Services(settings)
    pull(str(default_model_file), services.registry, settings, name=DEFAULT_MODEL)
    return services


@pytest.fixture
def routed(home, server, proxy, default_model_file) -> Iterator[tuple[Services, Router, Clock]]:
    services = make_services(home, server, proxy, default_model_file)
    router = services.router
    clock = Clock()
    router.clock = clock

    async def no_wait(_: float) -> None:
        return None

    router.sleep = no_wait
    yield services, router, clock
    services.close()


def ask(model: str, content: str = "Wie heißt die Hauptstadt von Bayern?",
        max_tokens: int = 12) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=content)],
                       options=GenerationOptions(max_tokens=max_tokens, temperature=0))


async def collect(router, request):
    return [chunk async for chunk in router.stream(request)]


def test_an_alias_answers_from_its_first_backend(routed, proxy):
    _, router, _ = routed
    response = asyncio.run(router.chat(ask("chat-default")))
    assert response.served_by == REMOTE
    assert response.model == "chat-default"
    assert len(proxy.requests_to("/v1/chat/completions")) == 1


@pytest.mark.parametrize("fault", ["status:503", "status:500", "reset", "status:429"])
def test_a_passing_failure_is_retried_on_the_same_backend(routed, proxy, fault):
    _, router, _ = routed
    proxy.plan(fault)
    response = asyncio.run(router.chat(ask("chat-default")))
    assert response.served_by == REMOTE
    assert [s.fault for s in proxy.requests_to("/v1/chat")] == [fault, "ok"]


def test_a_stream_failing_before_its_first_byte_is_retried(routed, proxy):
    _, router, _ = routed
    proxy.plan("reset", "cut:0")
    chunks = asyncio.run(collect(router, ask("chat-default")))
    assert chunks[-1].finish_reason is not None
    assert chunks[-1].served_by == LOCAL  # reset, cut before data: retried, then fell back
    assert len(proxy.requests_to("/v1/chat")) == 2


def test_a_stream_cut_after_data_reached_the_client_is_not_retried(routed, proxy):
    _, router, _ = routed
    proxy.plan("cut:600")
    received = []

    async def read() -> None:
        async for chunk in router.stream(ask("chat-default", "Erzähle von Pumpen.", 60)):
            received.append(chunk)

    with pytest.raises(UpstreamError):
        asyncio.run(read())
    assert received and received[0].served_by == REMOTE
    assert len(proxy.requests_to("/v1/chat")) == 1
    assert router.states["box"].cooling_until > 0  # the broken backend cools down


def test_a_dead_first_backend_falls_back_and_then_cools_down(routed, proxy):
    _, router, _ = routed
    proxy.default = "reset"
    first = asyncio.run(router.chat(ask("chat-default")))
    assert first.served_by == LOCAL
    assert len(proxy.requests_to("/v1/chat")) == 2  # one try and one retry
    second = asyncio.run(router.chat(ask("chat-default")))
    assert second.served_by == LOCAL
    assert len(proxy.requests_to("/v1/chat")) == 2  # cooling down: not asked again
    [status] = [s for s in router.status() if s["name"] == "box"]
    assert status["cooling_down_s"] == 30 and "connection failed" in status["last_error"]


def test_after_the_cooldown_a_health_check_lets_the_backend_back_in(routed, proxy):
    _, router, clock = routed
    proxy.default = "reset"
    asyncio.run(router.chat(ask("chat-default")))
    clock.now += 31
    asyncio.run(router.chat(ask("chat-default")))  # health check fails: still cooling
    assert proxy.requests_to("/v1/models")
    assert router.states["box"].cooling_until == clock.now + 30
    proxy.default = "ok"
    clock.now += 31
    response = asyncio.run(router.chat(ask("chat-default")))
    assert response.served_by == REMOTE
    assert router.states["box"].cooling_until == 0.0


def test_when_every_backend_fails_the_error_names_each(routed, proxy):
    _, router, _ = routed
    proxy.default = "status:503"
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(router.chat(ask("only-remote")))
    message = str(caught.value)
    assert "no backend could answer 'only-remote'" in message
    assert f"{REMOTE}: box: 503" in message
    with pytest.raises(CoolingDownError) as cooling:
        asyncio.run(router.chat(ask("only-remote")))
    assert "cooling down" in str(cooling.value) and cooling.value.retry_after >= 1


def test_a_timeout_moves_on_to_the_next_backend(home, server, proxy, default_model_file):
    services = make_services(home, server, proxy, default_model_file,
                             first_token_timeout_s=0.5, retries=0)
    proxy.default = "hang"
    try:
        response = asyncio.run(services.router.chat(ask("chat-default")))
    finally:
        services.close()
    assert response.served_by == LOCAL
    assert len(proxy.requests_to("/v1/chat")) == 1


def test_a_client_error_is_not_tried_elsewhere(routed, proxy):
    _, router, _ = routed
    with pytest.raises(InvalidRequestError):
        asyncio.run(router.chat(ask("chat-default", "Pumpe " * 6000)))
    assert len(proxy.requests_to("/v1/chat")) == 1
    assert router.states["box"].cooling_until == 0.0


def test_a_model_missing_upstream_falls_back(home, server, proxy, default_model_file):
    services = make_services(home, server, proxy, default_model_file)
    services.settings.aliases["chat-default"][0] = "gibt-es-nicht@box"
    try:
        response = asyncio.run(services.router.chat(ask("chat-default")))
    finally:
        services.close()
    assert response.served_by == LOCAL
    assert services.router.states["box"].cooling_until == 0.0  # the server is fine


def test_the_ollama_backend_falls_back_the_same_way(home, server, proxy, default_model_file):
    services = make_services(home, server, proxy, default_model_file, kind="ollama")
    proxy.plan("status:502")
    try:
        response = asyncio.run(services.router.chat(ask("chat-default")))
        chunks = asyncio.run(collect(services.router, ask("chat-default")))
    finally:
        services.close()
    assert response.served_by == REMOTE and chunks[-1].served_by == REMOTE
    assert [s.fault for s in proxy.requests_to("/api/chat")] == ["status:502", "ok", "ok"]


def test_requests_cannot_name_an_upstream_url(routed, proxy):
    _, router, _ = routed
    for name in (f"{DEFAULT_MODEL}@http://169.254.169.254", f"{DEFAULT_MODEL}@evil.example",
                 f"{DEFAULT_MODEL}@127.0.0.1:11434"):
        with pytest.raises(ModelNotFoundError, match="no backend named"):
            asyncio.run(router.chat(ask(name)))
    assert proxy.seen == []


def test_concurrency_per_backend_is_limited(home, server, proxy, default_model_file):
    services = make_services(home, server, proxy, default_model_file, max_concurrent=1)
    proxy.default = "delay:0.2"

    async def three() -> list:
        return await asyncio.gather(*(services.router.chat(ask("only-remote"))
                                      for _ in range(3)))

    try:
        answers = asyncio.run(three())
    finally:
        services.close()
    assert all(a.served_by == REMOTE for a in answers)
    assert proxy.max_in_flight == 1


def test_complexity_alias_sends_easy_and_hard_requests_apart(routed, proxy):
    _, router, _ = routed
    easy = asyncio.run(router.chat(ask("auto", "Hallo!")))
    assert easy.served_by == LOCAL
    hard_question = ("Berechne: 3 Pumpen zu je 1.250,50 € plus 19 % MwSt. — wie viel "
                     "insgesamt? Begründe jeden Schritt.")
    hard = asyncio.run(router.chat(ask("auto", hard_question)))
    assert hard.served_by == REMOTE
    sent = proxy.requests_to("/v1/chat")[-1]
    assert sent.fault == "ok"
    route = asyncio.run(router.route(ask("auto", hard_question)))
    assert route.request.messages[-1].content.endswith("Denke Schritt für Schritt.")
    assert route.reason.startswith("hard")
