"""The complexity score that complexity aliases route by (rules only, no model)."""

from pathlib import Path

import pytest

from autonom.evals import dataset
from autonom.routing import complexity
from autonom.types import ChatRequest, Message, Tool

MIXED_SET = Path(__file__).parents[2] / "src/autonom/evals/sample/gemischt.yaml"


def ask(text: str, **extra) -> ChatRequest:
    return ChatRequest(model="auto", messages=[Message(role="user", content=text)], **extra)


@pytest.mark.parametrize("text", [
    "Hallo!", "Was ist die Hauptstadt von Frankreich?", "Wer leitet das Qualitätsmanagement?",
    "Wie viel kostet die KP-55?", "Übersetze das Wort Straße ins Englische."])
def test_lookups_and_greetings_are_easy(text):
    assert not complexity.assess(ask(text)).hard(1.0)


@pytest.mark.parametrize("text", [
    "Ein Lager hat 3 Paletten mit je 40 Kartons. 25 werden verkauft. Wie viele bleiben?",
    "Erkläre, warum die KP-55 mit 5,5 kW mehr Strom braucht als die KP-40 mit 4 kW.",
    "Vergleiche Miete und Kauf einer Pumpe und begründe, was sich ab 3 Jahren lohnt.",
    "Schreibe eine Funktion:\n```python\ndef preis(netto):\n```",
    "Berechne 19 % MwSt. auf 1.250,50 €."])
def test_reasoning_arithmetic_and_code_are_hard(text):
    assessment = complexity.assess(ask(text))
    assert assessment.hard(1.0), assessment
    assert assessment.signals


def test_long_conversations_and_tools_add_to_the_score():
    short = complexity.assess(ask("Und dann?"))
    turns = [Message(role=r, content="Frage" if r == "user" else "Antwort")
             for r in ("user", "assistant") * 4] + [Message(role="user", content="Und dann?")]
    longer = complexity.assess(ChatRequest(model="auto", messages=turns,
                                           tools=[Tool(name="lager")]))
    assert longer.score > short.score
    assert "tools offered" in longer.signals


def test_the_mixed_sample_set_is_sorted_as_tagged():
    cases = dataset.load(MIXED_SET).cases
    assert {c.tags[0] for c in cases} == {"einfach", "schwer"}
    for case in cases:
        assessment = complexity.assess(ask(case.question))
        assert assessment.hard(1.0) == ("schwer" in case.tags), (case.id, assessment)


def test_a_suffix_goes_to_the_last_user_message_only():
    request = ChatRequest(model="auto", messages=[
        Message(role="system", content="Sei knapp."), Message(role="user", content="Erste"),
        Message(role="assistant", content="Antwort"), Message(role="user", content="Zweite")])
    changed = complexity.with_suffix(request, " /no_think")
    assert [m.content for m in changed.messages] == ["Sei knapp.", "Erste", "Antwort",
                                                     "Zweite /no_think"]
    assert request.messages[-1].content == "Zweite"  # the original is untouched
    raw = ChatRequest(model="auto", prompt="Text")
    assert complexity.with_suffix(raw, " /think").prompt == "Text /think"
