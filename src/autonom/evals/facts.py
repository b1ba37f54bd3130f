"""Does an answer contain an expected fact, and is it an abstention?

Text is compared in a canonical form: lower case, one space between tokens, numbers by value
(``5,5 kW`` = ``5.5 kW`` = ``5.5kW``; ``1.200,00 €`` = ``1200 €``), so a right answer is not
counted wrong for writing a number the other way. A literal fact that ends in a word also
matches inflected forms (``36 Monate`` in ``36 Monaten``); one that ends in a number must not
be followed by more digits (``5 kW`` is not in ``5,5 kW``).
"""

from __future__ import annotations

import re
import unicodedata

from autonom.evals.dataset import Fact
from autonom.knowledge.text import normalize_number

_TOKEN = re.compile(
    r"\d{1,3}(?:\.\d{3})+(?:,\d+)?(?!\d)|\d+(?:[.,]\d+)?|[^\W\d_]+|[€$%°²³]")

# Phrases that say "I do not know / the documents do not say", in German and English.
_ABSTAIN = re.compile(
    r"nichts in den dokumenten|nicht in den (?:dokumenten|unterlagen|auszügen)"
    r"|(?:dazu|darüber|hierzu) (?:liegen|habe|finde|gibt es) (?:mir )?keine"
    r"|keine (?:angaben|informationen|daten|auskunft)"
    r"|(?:weiß|wissen) (?:ich|wir) nicht|ist (?:mir )?nicht bekannt"
    r"|kann ich nicht (?:sagen|beantworten)|nicht_enthalten|nicht enthalten"
    r"|do not (?:answer|contain|know|have)|don't (?:know|have)"
    r"|not (?:in|mentioned in) the documents|no information|cannot (?:answer|tell)"
    r"|i am not sure",
    re.IGNORECASE)


def canonical(text: str) -> str:
    """Lower-cased tokens joined by single spaces, numbers normalised."""
    text = unicodedata.normalize("NFC", text).lower()
    out = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        out.append(normalize_number(token) if token[0].isdigit() else token)
    return " ".join(out)


def contains(answer: str, fact: Fact) -> bool:
    if fact.regex is not None:
        return re.search(fact.regex, answer, re.IGNORECASE) is not None
    assert fact.text is not None
    wanted = canonical(fact.text)
    if not wanted:
        return False
    tail = r"(?![\d])(?!\.\d)" if wanted[-1].isdigit() else ""
    pattern = r"(?<![^\s])" + re.escape(wanted) + tail
    return re.search(pattern, canonical(answer)) is not None


def any_fact(answer: str, facts: tuple[Fact, ...]) -> bool:
    return any(contains(answer, fact) for fact in facts)


def is_abstention(answer: str) -> bool:
    """Whether a free-text answer declines to answer (used where no flag says so)."""
    return _ABSTAIN.search(answer) is not None or not answer.strip()
