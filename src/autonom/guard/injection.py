"""Spotting instructions planted in data (indirect prompt injection), German and English.

Documents and tool results are data: text in them that addresses the assistant ("ignoriere
alle bisherigen Anweisungen", "reveal your system prompt") is flagged where it is found, and
flagged text is never handed to a model as evidence. Detection is by patterns, which is
honest about what it is: it catches the common phrasings, not every possible attack, which is
why the answer pipeline also treats all document text as quoted data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: list[tuple[str, str]] = [
    ("override", r"\b(?:ignorier|vergiss|missachte)\w*\s+(?:\w+\s+){0,3}"
                 r"(?:anweisung|instruktion|regel|vorgabe|befehl)\w*"),
    ("override", r"\b(?:ignore|disregard|forget|override)\s+(?:\w+\s+){0,3}"
                 r"(?:instructions?|rules|prompts?|directions|guidelines)\b"),
    ("exfiltrate", r"\b(?:gib|zeige?|verrate|nenne|drucke)\w*\s+(?:\w+\s+){0,4}"
                   r"(?:system\s?-?prompt|passw(?:o|ö)rt\w*|zugangsdaten|api-?schlüssel)"),
    ("exfiltrate", r"\b(?:reveal|print|show|output|leak|repeat)\s+(?:\w+\s+){0,4}"
                   r"(?:system\s?-?prompt|passwords?|credentials|api\s?keys?|secrets?)\b"),
    ("role", r"\b(?:du\s+bist\s+(?:jetzt|ab\s+sofort|nun)|ab\s+(?:jetzt|sofort)\s+"
             r"(?:bist\s+du|antwortest\s+du|antworte)|antworte\s+ab\s+(?:jetzt|sofort))"),
    ("role", r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+(?:you|answer|respond|reply)|"
             r"act\s+as\s+(?:an?\s+)?(?:unrestricted|jailbroken))"),
    ("markup", r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|<<SYS>>"),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _PATTERNS]


@dataclass(frozen=True)
class Finding:
    kind: str  # override | exfiltrate | role | markup
    start: int
    end: int
    text: str


def find_injections(text: str) -> list[Finding]:
    """Every suspected planted instruction in ``text``, in order of position."""
    found = [Finding(kind, m.start(), m.end(), m.group())
             for kind, pattern in _COMPILED for m in pattern.finditer(text)]
    return sorted(found, key=lambda f: f.start)


def is_suspicious(text: str) -> bool:
    return any(pattern.search(text) for _, pattern in _COMPILED)
