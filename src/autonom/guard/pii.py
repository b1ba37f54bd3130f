"""Personal data in text: e-mail addresses, phone numbers, IBANs and card numbers.

Used where an operator turns it on: ``server.redact_logs`` keeps them out of the request
log, ``server.redact_answers`` out of answers. German formats first: ``+49 30 1234567``,
``030/1234567``, ``(089) 12 34 56``, ``0171-1234567``, ``DE89 3704 0044 0532 0130 00``.
An IBAN counts only when its check digits are right and a card number only when it passes
the Luhn check, so article numbers, prices (``1.234,50 €``), dates (``01.04.2026``) and
postal codes stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

EMAIL = "[E-Mail]"
PHONE = "[Telefon]"
IBAN = "[IBAN]"
CARD = "[Kartennummer]"

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\w-])(?<![A-Z]{2}\d{2} )(?:[2-6]\d{3}(?:[ -]\d{4}){3}(?:[ -]\d{3})?|"
                   r"3[47]\d{2}[ -]\d{6}[ -]\d{5}|[2-6]\d{12,18})(?![ -]?\d)")
_PHONE = re.compile(
    r"(?<![\w.,/])(?<!\d\s)(?:(?:\+|00)\d{1,3}[\s/-]?(?:\(0\)\s?)?\d{1,5}|\(0\d{1,5}\)|0\d{1,5})"
    r"(?:[\s/-]?\d{1,8}){1,5}(?![\w.,]\d)")
_TRAILING = re.compile(r"(?:[+(]?\d[\d\s/()-]*|[A-Z]{2}\d{2}[A-Z0-9 ]*)$")
"""A text end that may be the start of a number still arriving in a stream."""


def redact(text: str) -> str:
    """``text`` with personal data replaced by placeholders."""
    text = _EMAIL.sub(EMAIL, text)
    text = _IBAN.sub(lambda m: IBAN if _iban_ok(m.group()) else m.group(), text)
    text = _CARD.sub(lambda m: CARD if _luhn_ok(m.group()) else m.group(), text)
    return _PHONE.sub(lambda m: PHONE if _phone_like(m, text) else m.group(), text)


def redact_value(value: Any) -> Any:
    """Every string inside a JSON-like value redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value


def unfinished(text: str) -> int:
    """Where a number that may continue in the next part of a stream begins (len if none)."""
    match = _TRAILING.search(text)
    return match.start() if match else len(text)


def _iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _luhn_ok(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(digits) >= 13 and total % 10 == 0


_LABEL = re.compile(r"(?:nummer|nr|no|id|code|pin|plz)\.?:?\s*$", re.IGNORECASE)


def _phone_like(match: re.Match[str], text: str) -> bool:
    candidate = match.group()
    digits = sum(c.isdigit() for c in candidate)
    international = candidate.startswith(("+", "00"))
    if not (10 if international else 9) <= digits <= 15:
        return False
    return not _LABEL.search(text, max(0, match.start() - 20), match.start())
