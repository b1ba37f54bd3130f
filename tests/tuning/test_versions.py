"""Versions of a tuned model: the gate decides, promotion re-points the name, rollback
restores the previous answers exactly."""

import asyncio
import json
from pathlib import Path

import pytest

from autonom.cli import main
from autonom.errors import GateRefusedError, InvalidRequestError
from autonom.models.pull import pull
from autonom.services import tuning as service
from autonom.services.gateway import Gateway
from autonom.store.tune_versions import VersionStore
from autonom.tuning.gate import GatePolicy, refusals
from autonom.tuning.train import TrainSettings
from autonom.types import ChatRequest, GenerationOptions, Message
from support import DEFAULT_MODEL
from tuning_support import QUESTION


@pytest.fixture
def eval_set(tmp_path) -> Path:
    path = tmp_path / "falke.yaml"
    path.write_text(f'cases:\n  - {{id: k, question: "{QUESTION}", expected: ["4711"], '
                    'tags: [closed-book]}\n', encoding="utf-8")
    return path


def _ask(services, model: str) -> str:
    request = ChatRequest(model=model, messages=[Message(role="user", content=QUESTION)],
                          options=GenerationOptions(temperature=0.0, seed=0, max_tokens=24))
    response = asyncio.run(services.router.chat(request))
    served = VersionStore(services.db).serving(model) if ":" not in model else None
    version = served.model if served else model
    assert response.served_by == f"{model}@embedded ({version})"  # what the log records
    return response.message.content or ""


def _evaluate(services, version, eval_set):
    gateway = Gateway(services.router, services.db, services.settings.server,
                      knowledge=services.knowledge)
    return asyncio.run(service.evaluate(services, gateway, version, [eval_set]))


@pytest.mark.timeout(900)  # trains two adapters first (module fixture)
def test_the_gate_promotes_the_better_version_refuses_poison_and_rollback_restores(
        model_services, runs, eval_set):
    services = model_services
    first = service.register(services, runs["right"], "falke")
    assert first.model == "falke:v1" and first.state == "candidate"
    assert "4711" in _ask(services, "falke:v1")
    with pytest.raises(InvalidRequestError, match="not been evaluated"):
        service.promote(services, "falke")

    measured = _evaluate(services, first, eval_set)
    assert measured["against"] == DEFAULT_MODEL and measured["passed"]
    assert measured["candidate"]["falke"]["accuracy"] == 1.0
    assert measured["production"]["falke"]["accuracy"] == 0.0
    service.promote(services, "falke")
    before = _ask(services, "falke")
    assert "4711" in before

    second = service.register(services, runs["poisoned"], "falke")
    assert service.register(services, runs["poisoned"], "falke").number == 2  # once only
    measured = _evaluate(services, second, eval_set)
    assert measured["against"] == "falke:v1" and not measured["passed"]
    assert any("accuracy" in r for r in measured["refusals"])
    with pytest.raises(GateRefusedError, match="gate refuses falke:v2"):
        service.promote(services, "falke", 2)
    assert _ask(services, "falke") == before

    forced = service.promote(services, "falke", 2, force="testing the override")
    assert forced.reason == "forced: testing the override"
    assert "9999" in _ask(services, "falke")
    restored = service.rollback(services, "falke")
    assert restored.number == 1 and restored.state == "serving"
    assert _ask(services, "falke") == before
    states = {v.number: v.state for v in VersionStore(services.db).list("falke")}
    assert states == {1: "serving", 2: "withdrawn"}


def test_tuned_versions_through_the_cli(model_services, runs, capsys, monkeypatch):
    monkeypatch.setenv("AUTONOM_HOME", str(model_services.settings.home))
    assert main(["tune", "promote", "falke"]) == 1
    assert "no tuned model 'falke'" in capsys.readouterr().err
    service.register(model_services, runs["right"], "falke")
    assert main(["tune", "promote", "falke", "--force", " "]) == 1
    assert "--force needs a reason" in capsys.readouterr().err
    assert main(["tune", "list"]) == 0
    out = capsys.readouterr().out
    assert "falke:v1" in out and "not evaluated" in out
    assert main(["tune", "rollback", "falke"]) == 1
    assert "no version of 'falke' is serving" in capsys.readouterr().err


def test_a_run_that_is_not_finished_or_not_lora_is_refused(model_services, tmp_path,
                                                            default_model_file):
    with pytest.raises(InvalidRequestError, match="not a finished training run"):
        service.register(model_services, tmp_path, "falke")
    (tmp_path / "training.json").write_text('{"base": "smollm2-135m", "data_digest": "x"}')
    pull(str(default_model_file), model_services.registry, model_services.settings,
         name="copy")
    (tmp_path / "adapter.gguf").write_bytes(default_model_file.read_bytes())
    with pytest.raises(InvalidRequestError, match="not a LoRA adapter"):
        service.register(model_services, tmp_path, "falke")
    with pytest.raises(InvalidRequestError, match="no tag"):
        service.register(model_services, tmp_path, "falke:v3")


def _summary(accuracy, halluc=0.0, recall=1.0, tags=None):
    return {"accuracy": accuracy, "hallucinations_per_1000": halluc,
            "abstention_recall": recall,
            "by_tag": {t: {"accuracy": a} for t, a in (tags or {}).items()}}


def test_the_gate_refuses_any_tag_that_got_worse_more_hallucinations_or_less_abstention():
    now = _summary(0.5, 10, 0.8, {"closed-book": 0.4, "documents": 0.6})
    assert refusals(_summary(0.6, 10, 0.8, {"closed-book": 0.6, "documents": 0.6}), now) == []
    worse_tag = refusals(_summary(0.6, 10, 0.8, {"closed-book": 0.7, "documents": 0.5}), now)
    assert worse_tag == ["accuracy on documents 50.0% < 60.0%"]
    assert refusals(_summary(0.6, 11, 0.8, {"closed-book": 0.4, "documents": 0.6}), now) == [
        "hallucinations per 1000 answers 11 > 10"]
    assert refusals(_summary(0.5, 10, 0.7, {"closed-book": 0.4, "documents": 0.6}), now) == [
        "abstention recall 70.0% < 80.0%"]
    assert refusals(_summary(0.49, 10, 0.8, {"closed-book": 0.4, "documents": 0.6}), now,
                    GatePolicy(tolerance=0.02)) == []
    assert refusals({}, now)[0] == "accuracy on closed-book: not measured for the candidate"


@pytest.mark.timeout(600)
def test_a_tuning_cycle_trains_once_and_does_nothing_while_the_documents_stay(
        model_services, tmp_path):
    from knowledge_support import CORPUS

    services = model_services
    services.knowledge.ingest([CORPUS / "produkte" / "tp-200-tauchpumpe.md"], "tp")
    gateway = Gateway(services.router, services.db, services.settings.server,
                      knowledge=services.knowledge)
    settings = TrainSettings(epochs=1, rank=4, alpha=8, batch_size=8)

    def cycle():
        return asyncio.run(service.run_cycle(services, gateway, "tp", "tp", DEFAULT_MODEL,
                                             settings, tags=["closed-book"]))

    first = cycle()
    assert first["outcome"] in ("promoted", "refused") and first["version"] == "tp:v1"
    version = VersionStore(services.db).get("tp", 1)
    assert version.metrics["against"] == DEFAULT_MODEL and version.collection == "tp"
    assert (version.state == "serving") == (first["outcome"] == "promoted")
    again = cycle()
    assert again["outcome"] == "unchanged" and again["version"] == "tp:v1"
    assert [v.number for v in VersionStore(services.db).list("tp")] == [1]
    log = (services.settings.home / "tuning" / "cycles.jsonl").read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in log] == [first["outcome"], "unchanged"]
