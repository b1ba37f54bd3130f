"""The router's own decisions, with fake backends (no engine, no network)."""

from __future__ import annotations

import asyncio

import pytest

from autonom.backends.fake import FakeRemote
from autonom.config import BackendSettings, ComplexityAlias
from autonom.errors import (
    CoolingDownError,
    ModelNotFoundError,
    PolicyError,
    UpstreamError,
    UpstreamTimeoutError,
)
from autonom.routing.router import Router
from autonom.types import ChatRequest, ChatResponse, Message


def make_router(backends: dict[str, FakeRemote], aliases=None, local=(), **settings) -> Router:
    configs = {name: BackendSettings(kind="embedded") if name == "embedded" else
               BackendSettings(kind="openai", url="http://127.0.0.1:9/v1", **settings)
               for name in backends}

    async def no_wait(_: float) -> None:
        return None

    return Router(backends, configs, aliases or {}, is_local=lambda m: m in local,
                  sleep=no_wait)


def ask(model: str, text: str = "Hallo") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)])


def test_plain_names_go_where_the_model_is_offered():
    embedded = FakeRemote("embedded", models=("lokal",))
    box = FakeRemote("box", models=("qwen3:8b", "entdeckt"), listed=("entdeckt",))
    router = make_router({"embedded": embedded, "box": box}, local=("lokal",))
    assert asyncio.run(router.chat(ask("lokal"))).served_by == "lokal@embedded"
    assert asyncio.run(router.chat(ask("entdeckt"))).served_by == "entdeckt@box"
    # unknown everywhere: the embedded engine says it does not know the model
    with pytest.raises(ModelNotFoundError, match="not found"):
        asyncio.run(router.chat(ask("unbekannt")))


def test_all_targets_missing_the_model_is_a_404_naming_both():
    router = make_router({"embedded": FakeRemote("embedded", models=()),
                          "box": FakeRemote("box", models=())},
                         aliases={"a": ["x@box", "x@embedded"]})
    with pytest.raises(ModelNotFoundError) as caught:
        asyncio.run(router.chat(ask("a")))
    assert "x@box" in str(caught.value) and "x@embedded" in str(caught.value)


def test_all_timeouts_are_a_timeout_and_a_refused_licence_stays_a_refusal():
    timeouts = [UpstreamTimeoutError("box: no answer in time", "box") for _ in range(2)]
    router = make_router({"box": FakeRemote("box", timeouts)}, aliases={"a": ["m@box"]})
    with pytest.raises(UpstreamTimeoutError):
        asyncio.run(router.chat(ask("a")))
    refused = make_router({"embedded": FakeRemote("embedded", [PolicyError("licence")])},
                          aliases={"a": ["m@embedded"]})
    with pytest.raises(PolicyError):
        asyncio.run(refused.chat(ask("a")))


def test_retries_stop_at_the_configured_number():
    errors = [UpstreamError("box: 503", "box") for _ in range(5)]
    box = FakeRemote("box", errors)
    router = make_router({"box": box}, aliases={"a": ["m@box"]}, retries=2)
    with pytest.raises(UpstreamError):
        asyncio.run(router.chat(ask("a")))
    assert box.calls == 3
    with pytest.raises(CoolingDownError):
        asyncio.run(router.chat(ask("a")))
    assert box.calls == 3


def test_a_non_retryable_failure_moves_on_without_retry_or_cooldown():
    box = FakeRemote("box", [UpstreamError("box: 401 bad key", "box", retryable=False)])
    spare = FakeRemote("spare")
    router = make_router({"box": box, "spare": spare}, aliases={"a": ["m@box", "m@spare"]})
    assert asyncio.run(router.chat(ask("a"))).served_by == "m@spare"
    assert box.calls == 1 and router.states["box"].cooling_until == 0.0


class Classifier(FakeRemote):
    def __init__(self, verdict: str) -> None:
        super().__init__("embedded", models=("klein", "gross", "richter"))
        self.verdict = verdict

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if request.model == "richter":
            assert request.options.json_schema is not None
            return ChatResponse(model="richter", finish_reason="stop", message=Message(
                role="assistant", content=f'{{"difficulty": "{self.verdict}"}}'))
        return await super().chat(request)


@pytest.mark.parametrize(("verdict", "target"), [("hard", "gross"), ("simple", "klein")])
def test_a_classifier_model_can_call_an_easy_looking_request_hard(verdict, target):
    spec = ComplexityAlias(simple=["klein"], hard=["gross"], classifier="model",
                           classifier_model="richter")
    router = make_router({"embedded": Classifier(verdict)}, aliases={"auto": spec})
    answer = asyncio.run(router.chat(ask("auto", "Was meinst du dazu?")))
    assert answer.served_by == f"{target}@embedded"


def test_probe_reports_each_backend_and_the_aliases_using_it():
    router = make_router({"embedded": FakeRemote("embedded"),
                          "box": FakeRemote("box", listed=("qwen3:8b",))},
                         aliases={"a": ["m@box", "m@embedded"],
                                  "auto": ComplexityAlias(simple="a", hard=["m@box"])})
    rows = {r["name"]: r for r in asyncio.run(router.probe())}
    assert rows["box"]["healthy"] and rows["box"]["models"] == ["qwen3:8b"]
    assert rows["box"]["aliases"] == ["a", "auto"] and rows["embedded"]["aliases"] == ["a",
                                                                                      "auto"]


def test_the_licence_policy_also_covers_models_on_other_servers(tmp_path):
    from autonom.config import Settings
    from autonom.errors import PolicyError
    from autonom.services import Services

    settings = Settings(home=tmp_path, policy={"region": "DE", "on_violation": "refuse"},
                        backends={"box": {"kind": "ollama", "url": "http://127.0.0.1:9",
                                          "connect_timeout_s": 0.5}},
                        aliases={"chat": ["llama4:scout@box"]})
    services = Services(settings)
    try:
        with pytest.raises(PolicyError, match="llama4:scout"):
            asyncio.run(services.router.chat(ask("chat")))
    finally:
        services.close()


def test_a_model_asked_for_directly_fails_with_its_own_error():
    from autonom.errors import CapacityError, http_status

    busy = CapacityError("no room to load 'm': memory budget of 512 MB")
    router = make_router({"embedded": FakeRemote("embedded", [busy])})
    with pytest.raises(CapacityError) as caught:
        asyncio.run(router.chat(ask("m")))
    assert caught.value is busy and http_status(caught.value) == 503
    with pytest.raises(ModelNotFoundError) as missing:
        asyncio.run(router.chat(ask("unbekannt")))
    assert not str(missing.value).startswith("no backend could answer")


class Slow(FakeRemote):
    """Answers after a short wait, so that requests overlap."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        await asyncio.sleep(0.01)
        return await super().chat(request)


def _pool(members: dict[str, FakeRemote], **settings) -> Router:
    router = make_router(members, **settings)
    return Router({n: s.backend for n, s in router.states.items()},
                  {n: s.settings for n, s in router.states.items()}, {},
                  is_local=lambda m: False, sleep=router.sleep, pools={"gpu": list(members)})


def test_a_pool_spreads_requests_over_its_members_by_load():
    members = {f"gpu#{n}": Slow(f"gpu#{n}") for n in (1, 2, 3)}
    router = _pool(members)

    async def burst() -> list[str]:
        answers = await asyncio.gather(*(router.chat(ask("m@gpu")) for _ in range(30)))
        return [a.served_by or "" for a in answers]

    served = asyncio.run(burst())
    assert sorted(m.calls for m in members.values()) == [10, 10, 10]
    assert {s.split("@")[1] for s in served} == set(members)


def test_a_failing_pool_member_is_skipped_and_the_request_moves_on():
    broken = FakeRemote("gpu#1", errors=[UpstreamError("connection refused", "gpu#1")] * 5)
    members = {"gpu#1": broken, "gpu#2": FakeRemote("gpu#2"), "gpu#3": FakeRemote("gpu#3")}
    router = _pool(members, retries=0, cooldown_s=30)
    answers = [asyncio.run(router.chat(ask("m@gpu"))).served_by for _ in range(6)]
    assert all(a in ("m@gpu#2", "m@gpu#3") for a in answers)
    assert broken.calls == 1  # cooling down after its first failure
    assert router.names() == ["gpu"]


def test_pool_settings_need_urls_or_url_not_both():
    with pytest.raises(ValueError, match="not both"):
        BackendSettings(kind="openai", url="http://127.0.0.1:1/v1",
                        urls=["http://127.0.0.1:2/v1"])
    with pytest.raises(ValueError, match="http"):
        BackendSettings(kind="ollama", urls=["ftp://127.0.0.1:2"])
    pool = BackendSettings(kind="ollama", urls=["http://127.0.0.1:2", "http://127.0.0.1:3"])
    assert [m.url for m in pool.members()] == ["http://127.0.0.1:2", "http://127.0.0.1:3"]


def test_a_programming_error_in_a_backend_surfaces_instead_of_falling_back():
    broken = FakeRemote("a", errors=[TypeError("unsupported operand")])
    spare = FakeRemote("b")
    router = make_router({"a": broken, "b": spare}, aliases={"fest": ["m@a", "m@b"]})
    with pytest.raises(TypeError, match="unsupported operand"):
        asyncio.run(router.chat(ask("fest")))
    assert spare.calls == 0


def test_an_os_error_still_falls_back():
    broken = FakeRemote("a", errors=[ConnectionResetError("reset by peer")])
    spare = FakeRemote("b")
    router = make_router({"a": broken, "b": spare}, aliases={"fest": ["m@a", "m@b"]})
    answer = asyncio.run(router.chat(ask("fest")))
    assert answer.message.content == "von b"
