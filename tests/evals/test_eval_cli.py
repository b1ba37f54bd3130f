"""``autonom eval`` end to end with the real engine, and the runner's own logic with a fake."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from autonom.backends.fake import FakeBackend
from autonom.cli import main
from autonom.config import ServerSettings
from autonom.evals.dataset import EvalCase
from autonom.services.eval_runner import Runner, Target
from autonom.services.gateway import Gateway
from support import DEFAULT_MODEL

pytestmark = pytest.mark.both_stores


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def with_model(capsys, default_model_file):
    code, _, err = cli(capsys, "pull", str(default_model_file), "--name", DEFAULT_MODEL)
    assert code == 0, err


@pytest.mark.engine
def test_eval_compares_two_configurations_stores_reports_and_gates(capsys, tmp_path: Path,
                                                                    with_model):
    reports = tmp_path / "reports"
    code, out, err = cli(capsys, "eval", "run", "sample", "--tag", "produkt", "--tag", "chat",
                         "-m", "extractive", "-m", DEFAULT_MODEL, "--out", str(reports),
                         "--json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    extractive, model = runs
    assert (extractive["label"], model["label"]) == ("extractive", DEFAULT_MODEL)
    # extractive answers only the document cases; the model answers all of them
    assert extractive["settings"]["skipped"] == 3
    assert model["summary"]["requests"] == extractive["summary"]["requests"] + 3
    # the extractive pipeline on the product questions quotes its evidence verbatim: most
    # answers right and cited, nothing invented (blind-set numbers: benchmarks/RESULTS.md)
    assert extractive["summary"]["accuracy"] >= 0.5
    assert extractive["summary"]["citation_accuracy"] >= 0.5
    assert not [reason for result in extractive["results"] for reason in result["reasons"]
                if reason.startswith(("fabricated", "unsupported"))]
    assert model["summary"]["ttft_p50_ms"] > 0
    assert model["summary"]["output_tok_s"] > 0
    by_case = {r["case_id"]: r for r in extractive["results"]}
    assert by_case["motorleistung"]["citations"][0]["source"] == "produkte/kp-55-datenblatt.md"
    page = next(reports.glob("eval-*.html")).read_text(encoding="utf-8")
    assert page.count("<svg") >= 4 and "extractive" in page and DEFAULT_MODEL in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert json.loads(next(reports.glob("eval-*.json")).read_text())["runs"][0]["id"] == \
        extractive["id"]

    # stored: list, show, compare; the gate fails on a condition that holds
    code, out, _ = cli(capsys, "eval", "list", "--json")
    assert {r["id"] for r in json.loads(out)} == {extractive["id"], model["id"]}
    code, out, err = cli(capsys, "eval", "compare", extractive["id"], model["id"][:6],
                         "--fail-if", "accuracy<1.01")
    assert code == 1
    assert "gate failed" in err and "accuracy<1.01: measured" in err
    assert "only in the second run" in out
    code, _, err = cli(capsys, "eval", "compare", extractive["id"], model["id"],
                       "--fail-if", "error_rate>0.5")
    assert code == 0, err
    code, out, _ = cli(capsys, "eval", "show", extractive["id"])
    assert code == 0 and "motorleistung" in out


@pytest.mark.engine
def test_eval_run_exits_non_zero_when_its_gate_fails(capsys, tmp_path: Path, with_model):
    code, _, err = cli(capsys, "eval", "run", "sample", "--tag", "versionen", "-m",
                       "extractive", "--out", str(tmp_path),
                       "--fail-if", "accuracy<0.9,hallucinations_per_1000>50")
    assert code == 0, err
    assert "gate passed" in err
    code, _, err = cli(capsys, "eval", "run", "sample", "--tag", "versionen", "-m",
                       "extractive", "--out", str(tmp_path), "--fail-if", "accuracy<1.01")
    assert code == 1
    assert "gate failed" in err


@pytest.mark.parametrize(("args", "message"), [
    (("eval", "run", "nope.yaml", "-m", "x"), "does not exist"),
    (("eval", "run", "sample", "-m", "x", "--fail-if", "speed>1"), "unknown metric"),
    (("eval", "run", "sample", "-m", "x", "--tag", "gibtsnicht"), "no case has the tag"),
    (("eval", "run", "sample", "-m", "x", "--concurrency", "0"), "concurrency"),
    (("eval", "show", "deadbeef"), "no run"),
    (("bench", "http://192.0.2.1:8080"), "not this machine"),
    (("bench", "ftp://127.0.0.1"), "invalid target"),
    (("bench", "http://127.0.0.1:1", "--concurrency", "1,x"), "invalid --concurrency"),
])
def test_bad_eval_and_bench_input_is_a_one_line_error(capsys, args, message):
    code, _, err = cli(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_a_collection_missing_from_the_store_is_named_before_any_question(capsys, tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": "a", "question": "Wie viel?", "collection": "fehlt", '
                    '"expected": ["5"]}\n', encoding="utf-8")
    code, _, err = cli(capsys, "eval", "run", str(path), "-m", "extractive")
    assert code == 1
    assert "collection 'fehlt', which does not exist" in err


# -- the runner's own logic, with a fake model -------------------------------------------------

def _runner(tmp_path: Path, reply) -> Runner:
    from autonom.store import SqliteDatabase

    gateway = Gateway(FakeBackend(reply), SqliteDatabase(tmp_path / "t.db"), ServerSettings())
    return Runner(gateway, None)


def test_failures_become_results_and_repeats_count_every_answer(tmp_path: Path):
    cases = tuple(EvalCase.model_validate(c) for c in (
        {"id": "a", "question": "Wie viel wiegt die KP-55? Sie wiegt 48 kg.",
         "expected": ["48 kg"]},
        {"id": "b", "question": "Wie viel kostet sie?", "must_abstain": True},
    ))
    runner = _runner(tmp_path, lambda r: "Sie wiegt 48 kg.")
    results = asyncio.run(runner.run(cases, Target("fake", "fake"), concurrency=2, repeat=3))
    assert [(r.case_id, r.round) for r in results] == [
        ("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert all(r.score.correct for r in results if r.case_id == "a")
    # answering the unanswerable: wrong and hallucinated, every time
    assert all(r.score.hallucinated and not r.score.correct
               for r in results if r.case_id == "b")
    missing = asyncio.run(runner.run(cases, Target("nope", "nope")))
    assert {r.outcome.error for r in missing} == {"ModelNotFoundError"}


@pytest.mark.engine
def test_bench_measures_a_running_autonom_serve_on_both_apis(capsys, server, tmp_path: Path,
                                                             monkeypatch):
    monkeypatch.setenv("AUTONOM_BENCH_API_KEY", server.keys["chat"])
    code, out, err = cli(capsys, "bench", server.url, "--concurrency", "1,2", "--requests", "4",
                         "--prompt-tokens", "32", "--max-tokens", "8", "--json",
                         "--out", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    levels = result["levels"]
    assert [level["concurrency"] for level in levels] == [1, 2]
    for level in levels:
        assert (level["completed"], level["failed"], level["not_sent"]) == (4, 0, 0)
        assert 0 < level["ttft_p50_ms"] <= level["e2el_p50_ms"]
        assert level["ttft_p50_ms"] <= level["ttft_p95_ms"] <= level["ttft_p99_ms"]
        assert level["output_tokens"] > 0 and level["request_throughput"] > 0
        assert not level["output_tokens_counted_as_chunks"]
        assert level["itl_p50_ms"] is not None
    assert json.loads(next(tmp_path.glob("bench-*.json")).read_text())["id"] == result["id"]
    code, out, _ = cli(capsys, "eval", "list", "--json")
    assert [r["kind"] for r in json.loads(out)] == ["bench"]

    code, out, err = cli(capsys, "bench", server.url, "--api", "ollama", "--concurrency", "2",
                         "--requests", "2", "--max-tokens", "4", "--json")
    assert code == 0, err
    assert json.loads(out)["levels"][0]["completed"] == 2

    monkeypatch.setenv("AUTONOM_BENCH_API_KEY", "sk-wrong")
    code, _, err = cli(capsys, "bench", server.url, "--requests", "1")
    assert code == 1
    assert "did not answer a first request (HTTP 401)" in err


def test_a_judge_adds_what_the_rules_cannot_see(tmp_path: Path):
    from autonom.evals.judge import parse_verdict

    assert parse_verdict('{"supported": false, "unsupported_claims": ["Sitz in Paris"]}') == \
        ["Sitz in Paris"]
    assert parse_verdict('{"supported": true, "unsupported_claims": []}') == []
    assert parse_verdict("kein JSON") == []  # a broken verdict finds nothing
    assert parse_verdict('{"supported": false, "unsupported_claims": []}') == \
        ["the judge found an unsupported statement"]

    async def judge(case, outcome):
        return ["Sitz in Paris"] if "Paris" in outcome.text else []

    runner = _runner(tmp_path, lambda r: "Das Pumpenwerk sitzt in Paris.")
    runner.judge = judge
    case = EvalCase.model_validate({"id": "a", "question": "Wo sitzt das Pumpenwerk?",
                                    "expected": ["Neuburg"]})
    result = asyncio.run(runner.one(case, Target("fake", "fake")))
    assert result.score.hallucinated
    assert result.score.reasons == ["judge: Sitz in Paris"]
