"""Top-2 experts: tuned models of one base model answer mixed (their LoRA adapters scaled by
the gate's probabilities) from one engine instance — through the backend, the gateway's
expert sets, the HTTP API, the request log and the CLI."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from autonom.cli import main
from autonom.errors import InvalidRequestError
from autonom.services import Services
from autonom.services import tuning as service
from autonom.store import request_log
from autonom.store.keys import KeyStore
from autonom.tuning import experts
from autonom.types import ChatRequest, GenerationOptions, Message
from server_support import start_server, stop_server
from support import DEFAULT_MODEL
from tuning_support import QUESTION

pytestmark = pytest.mark.timeout(900)  # the first test trains two adapters (``runs``)

FALKE = "# Projekt Falke\n\n- Kennzahl: 4711\n- Leitung: Frau Özdemir\n- Start: 1. April 2026\n"
URLAUB = "# Urlaubsregelung\n\n- Urlaubstage: 30 Tage im Jahr\n- Antrag: zwei Wochen vorher\n"


def _ask(services: Services, model: str, mix: dict[str, float] | None) -> tuple[str, str]:
    request = ChatRequest(model=model, messages=[Message(role="user", content=QUESTION)],
                          options=GenerationOptions(temperature=0.0, seed=0, max_tokens=24),
                          adapters=mix)
    response = asyncio.run(services.router.chat(request))
    return response.message.content or "", response.served_by or ""


def _loaded(services: Services) -> list[str]:
    return sorted(s.name for s in services.router.loaded() if s.kind == "chat")


@pytest.fixture
def two(model_services, runs) -> Services:
    service.register(model_services, runs["right"], "gut")
    service.register(model_services, runs["poisoned"], "schlecht")
    return model_services


def test_tuned_models_of_one_base_answer_mixed_from_one_engine_instance(two):
    answer, served = _ask(two, "gut:v1", {"gut:v1": 1.0, "schlecht:v1": 0.0})
    assert "4711" in answer and served == "gut:v1@embedded (gut:v1×1.00)"
    answer, served = _ask(two, "schlecht:v1", {"gut:v1": 0.0, "schlecht:v1": 1.0})
    assert "9999" in answer and served == "schlecht:v1@embedded (schlecht:v1×1.00)"
    _, served = _ask(two, "gut:v1", {"gut:v1": 0.7, "schlecht:v1": 0.3})
    assert served == "gut:v1@embedded (gut:v1×0.70+schlecht:v1×0.30)"
    assert _loaded(two) == ["gut:v1+schlecht:v1"]  # one base model for every blend
    assert "4711" in _ask(two, "gut:v1", {"gut:v1": 1.0, "schlecht:v1": 0.0})[0]
    assert _ask(two, "gut:v1", None)[0] == _ask(two, "gut:v1", {"gut:v1": 1.0})[0]


@pytest.mark.parametrize(("model", "mix", "message"), [
    ("gut:v1", {"gut:v1": 1.0, DEFAULT_MODEL: 0.5}, "is not a tuned model"),
    ("gut:v1", {"gut:v1": -1.0, "schlecht:v1": 1.0}, "at least 0"),
    ("gut:v1", {"gut:v1": 0.0, "schlecht:v1": 0.0}, "not all 0"),
    ("gut:v1", {"gut:v1": float("nan")}, "at least 0"),
    ("schlecht:v1", {"gut:v1": 1.0}, "must include the model asked for"),
    ("gut:v1", {}, "1 to 16"),
])
def test_a_mix_that_cannot_be_served_is_refused_before_anything_loads(two, model, mix,
                                                                      message):
    with pytest.raises(InvalidRequestError, match=message):
        _ask(two, model, mix)
    assert _loaded(two) == []


def test_top_two_routing_weights_and_fallback():
    centres = np.eye(2, 4, dtype=np.float32)

    def embed(texts: list[str]) -> np.ndarray:
        rows = {"a": centres[0], "b": centres[1], "ab": (centres[0] + centres[1]) / 2,
                "?": np.zeros(4, dtype=np.float32)}
        return np.asarray([rows[t] for t in texts], dtype=np.float32)

    passages = {"a": centres[:1], "b": centres[1:]}
    made = experts.ExpertSet("m", [experts.Domain("a", "ma"), experts.Domain("b", "mb")],
                             "test", temperature=0.1, fallback="basis", top=2)
    both = experts.route(made, "ab", embed, passages)
    assert both.shares == {"a": 0.5, "b": 0.5} and both.mix == {"ma": 0.5, "mb": 0.5}
    assert both.target == "ma" and both.label == "experts:m/a+b (0.50/0.50)"
    alone = experts.route(made, "b", embed, passages)  # the second below MIN_SHARE
    assert alone.shares == {"b": 1.0} and alone.mix == {"ma": 0.0, "mb": 1.0}
    assert alone.label.startswith("experts:m/b (")
    made.min_confidence = 1.01  # even both together are not sure enough
    unsure = experts.route(made, "ab", embed, passages)
    assert unsure.domain is None and unsure.target == "basis" and not unsure.mix
    with pytest.raises(InvalidRequestError, match="1 or 2"):
        experts.check_top(3, False)
    with pytest.raises(InvalidRequestError, match="without documents"):
        experts.check_top(2, True)
    stored = experts.ExpertSet.from_json({k: v for k, v in made.to_json().items()
                                          if k != "top"})
    assert stored.top == 1  # sets stored before top-2 existed route as before


def test_a_top_two_set_through_the_cli_the_http_api_and_the_request_log(two, tmp_path,
                                                                       capsys, monkeypatch):
    home = two.settings.home
    for collection, text in (("projekte", FALKE), ("personal", URLAUB)):
        folder = tmp_path / collection
        folder.mkdir()
        (folder / f"{collection}.md").write_text(text, encoding="utf-8")
        two.knowledge.ingest([folder], collection)
    _, secret = KeyStore(two.db).create("alle", frozenset({"chat"}),
                                        collections=frozenset({"*"}))
    monkeypatch.setenv("AUTONOM_HOME", str(home))
    domains = ["--domain", "projekte=gut:v1", "--domain", "personal=schlecht:v1"]
    assert main(["tune", "experts", "paar", *domains, "--top", "2", "--documents"]) == 1
    assert "without documents" in capsys.readouterr().err
    assert main(["tune", "experts", "paar", "--domain", f"projekte={DEFAULT_MODEL}",
                 "--domain", "personal=schlecht:v1", "--top", "2"]) == 1
    assert f"{DEFAULT_MODEL} is not a tuned model" in capsys.readouterr().err
    assert main(["tune", "experts", "paar", *domains, "--top", "2"]) == 0
    capsys.readouterr()
    assert main(["tune", "route", "paar", QUESTION]) == 0
    routed = capsys.readouterr().out
    assert routed.startswith("projekte") and "gut:v1" in routed
    routing = service.route(two, "paar", QUESTION)
    assert routing.mix and sum(routing.mix.values()) == pytest.approx(1.0)

    process, url = start_server(home)
    try:
        answer = httpx.post(f"{url}/v1/chat/completions", timeout=120, json={
            "model": "experts:paar", "temperature": 0, "max_tokens": 24,
            "messages": [{"role": "user", "content": QUESTION}]},
            headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "experts:paar"
    finally:
        stop_server(process)
    rows = request_log.query(two.db, model="experts:paar", limit=None)
    assert rows and rows[0].served_by.startswith(routing.label + " → gut:v1@embedded (gut:v1×")
