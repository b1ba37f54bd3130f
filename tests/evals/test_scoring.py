"""Eval sets, fact matching and the hallucination counter on cases whose right count is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from autonom.errors import InvalidRequestError
from autonom.evals import facts, metrics
from autonom.evals.checks import Outcome, score
from autonom.evals.dataset import EvalCase, EvalSetError, Fact, load
from autonom.evals.metrics import CaseResult, summarize
from autonom.types import Citation

SHEET = ("Motorleistung: 5,5 kW\nGewicht: 48 kg\n"
         "Garantie: 36 Monate ab Lieferung am 1. April 2026")
DOCS = {("pumpenwerk", "kp-55.md"): SHEET}


def documents(collection: str, source: str) -> str | None:
    return DOCS.get((collection, source))


def case(**fields) -> EvalCase:
    fields.setdefault("id", "c")
    fields.setdefault("question", "Welche Motorleistung hat die KP-55?")
    return EvalCase.model_validate(fields)


def grounded(**fields) -> EvalCase:
    return case(collection="pumpenwerk", expected_sources=["kp-55.md"], **fields)


def cite(quote: str, source: str = "kp-55.md") -> list[Citation]:
    return [Citation(source=source, quote=quote)]


@pytest.mark.parametrize(("answer", "fact", "found"), [
    ("Die Motorleistung beträgt 5.5 kW.", "5,5 kW", True),
    ("Die Motorleistung beträgt 5,5kW.", "5.5 kW", True),
    ("Die Motorleistung beträgt 5,5 kW.", "5 kW", False),
    ("Die Motorleistung beträgt 15 kW.", "5 kW", False),
    ("Der Preis ist 1395,50 €.", "1.395,50 €", True),
    ("Die Garantie gilt 36 Monaten lang.", "36 Monate", True),
    ("Lieferung am 1. April 2026", "1. April 2026", True),
    ("Lieferung im April", "1. April 2026", False),
    ("Größe: Maß 3 m", "maß 3 m", True),
])
def test_expected_facts_match_by_value_and_inflection(answer, fact, found):
    assert facts.contains(answer, Fact(text=fact)) is found


def test_a_regex_fact_matches_the_raw_answer():
    assert facts.contains("kostet 890,00 EUR", Fact(regex=r"890(,00)? ?(€|EUR)"))
    assert not facts.contains("kostet 89 EUR", Fact(regex=r"890(,00)? ?(€|EUR)"))


def test_abstentions_are_recognised_in_german_and_english():
    assert facts.is_abstention("Dazu steht nichts in den Dokumenten, auf die ich Zugriff habe.")
    assert facts.is_abstention("Das weiß ich nicht.")
    assert facts.is_abstention("I don't know.")
    assert not facts.is_abstention("Die KP-55 hat 5,5 kW.")


def test_hallucination_counter_on_constructed_answers():
    """Ten answers, four of which state what their evidence does not say: 400 per 1000."""
    kw, quote = grounded(expected=["5,5 kW"]), cite("Motorleistung: 5,5 kW")
    unanswerable = case(collection="pumpenwerk", must_abstain=True)
    nothing = "Dazu steht nichts in den Dokumenten."
    answers = [
        # right, backed by the quote; the same value written the other way too
        (kw, Outcome("Sie hat 5,5 kW.", False, quote), False),
        (kw, Outcome("Sie hat 5.5 kW.", False, quote), False),
        # an invented number next to a right one; an invented product code
        (kw, Outcome("Sie hat 5,5 kW und 7 bar.", False, quote), True),
        (kw, Outcome("Wie die KP-90 hat sie 5,5 kW.", False, quote), True),
        # a quote the document does not contain
        (kw, Outcome("Sie hat 5,5 kW.", False, cite("Motorleistung: 5,5 kW bei 50 Hz")), True),
        # answered a question that must be abstained from; abstained where it must
        (unanswerable, Outcome("Sie kostet 1.200 €.", False, []), True),
        (unanswerable, Outcome(nothing, True, []), False),
        # abstained although answerable: wrong, but nothing invented
        (kw, Outcome(nothing, True, []), False),
        # chat case: a number from the question may be repeated
        (case(question="Die KP-55 wiegt 48 kg. Wie schwer ist sie?", expected=["48 kg"]),
         Outcome("48 kg."), False),
        # a failed request is not an answer at all
        (kw, Outcome(error="DeadlineError"), False),
    ]
    results = []
    for number, (c, outcome, expected) in enumerate(answers):
        s = score(c, outcome, documents)
        assert s.hallucinated is expected, (number, s.reasons)
        results.append(CaseResult(str(number), 0, (), c.must_abstain, outcome, s))
    summary = summarize(results)
    assert summary["answers"] == 9
    assert summary["hallucinations"] == 4
    assert summary["hallucinations_per_1000"] == pytest.approx(1000 * 4 / 9)


def test_reasons_name_what_is_unsupported():
    s = score(grounded(expected=["5,5 kW"]),
              Outcome("Die KP-90 hat 5,5 kW und 7 bar.", False, cite("Motorleistung: 5,5 kW")),
              documents)
    assert s.reasons == ["unsupported numbers: 90, 7", "unsupported codes: KP-90"]
    assert s.correct  # the fact is there; right and hallucinated are counted apart


def test_citations_are_right_only_for_the_expected_document_with_a_real_quote():
    right = score(grounded(expected=["48 kg"]),
                  Outcome("48 kg", False, cite("Gewicht: 48 kg")), documents)
    other = score(grounded(expected=["48 kg"]),
                  Outcome("48 kg", False, cite("Gewicht: 48 kg", "tp-200.md")), documents)
    assert right.citation_ok is True
    assert other.citation_ok is False


def test_structured_output_is_valid_only_when_it_parses_and_validates():
    schema = {"type": "object", "properties": {"menge": {"type": "integer"}},
              "required": ["menge"]}
    c = case(question="Extrahiere: 3 Stück", schema=schema)
    assert score(c, Outcome('{"menge": 3}')).schema_ok is True
    assert score(c, Outcome('```json\n{"menge": 3}\n```')).schema_ok is True
    assert score(c, Outcome('{"menge": "drei"}')).schema_ok is False
    assert score(c, Outcome('{"menge": 3')).schema_ok is False


def test_abstention_precision_and_recall():
    def result(must: bool, abstained: bool) -> CaseResult:
        c = case(collection="pumpenwerk", must_abstain=True) if must else \
            grounded(expected=["5,5 kW"])
        text = "Dazu steht nichts in den Dokumenten." if abstained else "Sie hat 5,5 kW."
        outcome = Outcome(text, abstained, [] if abstained else cite("Motorleistung: 5,5 kW"))
        return CaseResult("x", 0, (), must, outcome, score(c, outcome, documents))

    summary = summarize([result(True, True), result(True, True), result(True, False),
                         result(False, True), result(False, False)])
    assert summary["abstention_recall"] == pytest.approx(2 / 3)
    assert summary["abstention_precision"] == pytest.approx(2 / 3)
    assert summary["accuracy"] == pytest.approx(1 / 2)


def test_gate_conditions_fail_when_they_hold_or_were_not_measured():
    gate = metrics.parse_gate("accuracy<0.9, hallucinations_per_1000>50")
    assert metrics.failures({"accuracy": 0.95, "hallucinations_per_1000": 10.0}, gate) == []
    failed = metrics.failures({"accuracy": 0.5, "hallucinations_per_1000": None}, gate)
    assert failed == ["accuracy<0.9: measured 0.5",
                      "hallucinations_per_1000>50: not measured in this run"]


@pytest.mark.parametrize("text", ["accuracy", "accuracy<<0.9", "speed>3", ""])
def test_bad_gate_conditions_are_refused(text):
    with pytest.raises(InvalidRequestError, match=r"condition|metric|empty"):
        metrics.parse_gate(text)


def test_an_eval_set_loads_from_yaml_with_defaults(tmp_path: Path):
    path = tmp_path / "set.yaml"
    path.write_text("name: demo\ndefaults: {collection: docs}\ncases:\n"
                    "  - {id: a, question: 'Wie viel?', expected: '5,5 kW'}\n"
                    "  - {question: 'Gehalt?', must_abstain: true, tags: geheim}\n",
                    encoding="utf-8")
    loaded = load(path)
    assert loaded.name == "demo"
    assert [c.id for c in loaded.cases] == ["a", "2"]
    assert loaded.cases[0].collection == "docs"
    assert loaded.cases[0].expected == (Fact(text="5,5 kW"),)
    assert loaded.cases[1].tags == ("geheim",)


def test_the_knowledge_question_files_load_as_eval_sets():
    from autonom.knowledge import SAMPLE_DIR

    loaded = load(SAMPLE_DIR / "questions.jsonl")
    assert loaded.cases[0].expected_sources == ("produkte/kp-55-datenblatt.md",)


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "a", "question": "x"}\n', "needs 'expected' facts"),
    ('{"id": "a", "question": "x", "expected": ["1"]}\n{"id": "a", "question": "y", '
     '"expected": ["2"]}\n', "occurs twice"),
    ('{"id": "a", "question": "x", "expected": ["1"], "colection": "d"}\n',
     "colection"),
    ('{"id": "a", "question": "x", "expected": [{"regex": "("}]}\n',
     "invalid regex"),
    ('{"id": "a", "question": "x", "must_abstain": true, "expected": ["1"]}\n',
     "no expected"),
    ("not json\n", ":1: not valid JSON"),
    ("", "has no cases"),
])
def test_bad_eval_sets_are_refused_naming_the_case(tmp_path: Path, content, message):
    path = tmp_path / "set.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalSetError, match=message):
        load(path)


def test_a_missing_eval_set_is_a_clear_error(tmp_path: Path):
    with pytest.raises(EvalSetError, match="does not exist"):
        load(tmp_path / "nope.yaml")
