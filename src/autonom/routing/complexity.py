"""How hard is a request? Cheap features of its text, scored, for routing by complexity.

Easy requests (a short lookup, a greeting, a yes/no question) can go to a small model or to a
model's non-thinking mode; hard ones (reasoning, arithmetic over several numbers, code,
comparisons, plans, long inputs) to a larger model or its thinking mode. The score is a sum of
weighted signals, in German and English; :func:`explain` says which signals fired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autonom.types import ChatRequest

# verbs and phrases that ask for reasoning rather than recall (German and English)
_REASONING = re.compile(
    r"\b(warum|weshalb|wieso|begründ\w*|erklär\w*|erläuter\w*|vergleich\w*|analysier\w*|"
    r"bewert\w*|abwäg\w*|herleit\w*|beweis\w*|schlussfolger\w*|optimier\w*|entwirf|"
    r"entwerf\w*|plan(e|en|ung)\b|strategie\w*|konzept\w*|vor- und nachteil\w*|"
    r"schritt für schritt|berechn\w*|rechne\w*|kalkulier\w*|ermittle\w*|"
    r"why|explain\w*|compar\w*|analy[sz]\w*|evaluat\w*|assess\w*|derive\w*|prove\w*|"
    r"reason\w*|trade-?offs?|pros and cons|step by step|calculat\w*|comput\w*|"
    r"estimat\w*|design\w*|plan\b|strateg\w*|optimi[sz]\w*)",
    re.IGNORECASE)
# questions after a quantity or a time: weak alone, telling next to several numbers
_QUANTITY = re.compile(r"\b(wie viele?|wie lange|wie alt|wann|um wie viel|how many|how much|"
                       r"how long|how old|when)\b", re.IGNORECASE)
_RELATION = re.compile(r"\b(größer|kleiner|mehr|weniger|älter|jünger|schneller|langsamer|"
                       r"teurer|billiger|greater|smaller|more|less|older|younger|faster|"
                       r"cheaper)\b(?:.{0,40}?)\b(als|than|oder|or)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_OPERATOR = re.compile(r"[+*/×÷=%]|\b(plus|minus|mal|geteilt|prozent|percent|times|je|pro|"
                       r"per|each|à|insgesamt|zusammen|total|summe|sum|durchschnitt|"
                       r"average)\b", re.IGNORECASE)
_CODE = re.compile(r"```|\bdef \w+\(|\bclass \w+|\bSELECT\b.+\bFROM\b|=>|\bfunction\b|"
                   r"\breturn\b|;\s*$", re.IGNORECASE | re.MULTILINE)
_CONDITIONS = re.compile(r"\b(wenn|falls|sofern|unter der annahme|angenommen|if|unless|"
                         r"assuming|given that)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Assessment:
    score: float
    signals: tuple[str, ...]

    def hard(self, threshold: float) -> bool:
        return self.score >= threshold


def assess(request: ChatRequest) -> Assessment:
    """Scores the last user message (or the raw prompt) and the conversation around it."""
    text = scored_text(request)
    words = len(text.split())
    signals: list[tuple[str, float]] = []
    reasoning = {m.group(0).lower() for m in _REASONING.finditer(text)}
    if reasoning:
        signals.append((f"asks for reasoning ({', '.join(sorted(reasoning)[:3])})",
                        0.7 + 0.3 * min(len(reasoning) - 1, 2)))
    if quantity := _QUANTITY.search(text):
        signals.append((f"asks for a quantity or time ({quantity.group(0).lower()})", 0.3))
    if _RELATION.search(text):
        signals.append(("compares", 0.4))
    numbers = len(_NUMBER.findall(text))
    if numbers >= 2:  # a word problem: several numbers to combine
        signals.append((f"{numbers} numbers", 0.6 + 0.1 * min(numbers - 2, 4)))
        if _OPERATOR.search(text):
            signals.append(("arithmetic words or signs", 0.3))
    if _CODE.search(text):
        signals.append(("code", 1.0))
    if _CONDITIONS.search(text):
        signals.append(("conditions", 0.3))
    questions = text.count("?")
    if questions >= 2:
        signals.append((f"{questions} questions at once", 0.3 * min(questions - 1, 3)))
    if words > 60:
        signals.append((f"{words} words", min(1.0, (words - 60) / 140)))
    turns = sum(1 for m in request.messages if m.role == "user")
    if turns >= 4:
        signals.append((f"{turns} turns of conversation", 0.3))
    if request.tools:
        signals.append(("tools offered", 0.3))
    return Assessment(score=round(sum(w for _, w in signals), 3),
                      signals=tuple(name for name, _ in signals))


def scored_text(request: ChatRequest) -> str:
    """What the score reads: the user's text; without a user message, the last message."""
    return request.user_text or (request.messages[-1].content if request.messages else "")


def with_suffix(request: ChatRequest, suffix: str) -> ChatRequest:
    """The request with ``suffix`` appended to its last user message (or raw prompt): how
    Qwen3's ``/think`` and ``/no_think`` switches are given."""
    if not suffix:
        return request
    if request.prompt is not None:
        return request.model_copy(update={"prompt": request.prompt + suffix})
    messages = list(request.messages)
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            messages[i] = messages[i].model_copy(update={"content": messages[i].content + suffix})
            break
    return request.model_copy(update={"messages": messages})
