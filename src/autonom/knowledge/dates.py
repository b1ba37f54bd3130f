"""Dates, versions and "superseded" notices as documents state them, German and English.

``Stand: 05/2025``, ``gültig ab 1. Juli 2024``, ``01.03.2026``, ``2026-03-01``, ``as of
March 2026``, ``Version 4``. Dates come back as ISO strings with the precision the text
gives (``2025-05`` or ``2024-07-01``), so they sort correctly as strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS = {
    "januar": 1, "jänner": 1, "january": 1, "jan": 1,
    "februar": 2, "february": 2, "feb": 2,
    "märz": 3, "maerz": 3, "march": 3, "mär": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))

_DATE = re.compile(
    r"(?P<iso>(?P<iy>(?:19|20)\d\d)-(?P<im>[01]\d)(?:-(?P<id>[0-3]\d))?)(?!\d)"
    r"|(?<![\d.])(?P<dd>[0-3]?\d)\.(?P<dm>[01]?\d)\.(?P<dy>(?:19|20)\d\d)(?!\d)"
    r"|(?<![\d.])(?:(?P<nd>[0-3]?\d)\.?\s+)?(?P<nm>" + _MONTH_NAMES
    + r")\.?\s+(?P<ny>(?:19|20)\d\d)"
    r"|(?<![\d./])(?P<mm>[01]?\d)/(?P<my>(?:19|20)\d\d)(?!\d)",
    re.IGNORECASE,
)
_MARKER = re.compile(
    r"\b(?:stand|gültig\s+ab|gültig\s+seit|in\s+kraft\s+seit|datum|ausgabe|version\s+vom|"
    r"as\s+of|effective(?:\s+from)?|valid\s+from|last\s+updated|updated|dated?)\b[\s:.,·-]{0,4}",
    re.IGNORECASE,
)
_VERSION = re.compile(r"\b(?:version|rev(?:ision)?\.?|ausgabe)\s*:?\s*(\d+(?:\.\d+)*)", re.I)
_ACTIVE = r"(?!\s+(?:die|den|das|alle|sämtliche|frühere\w*|vorherige\w*|ältere\w*|version|fassung))"
_SUPERSEDED = re.compile(
    r"\bveraltet\b|\bnicht\s+mehr\s+gültig\b|\bersetzt\s+durch\b|\bwurde\s+(?:\S+\s+){0,8}"
    r"ersetzt\b" + _ACTIVE + r"|\bist\s+(?:\S+\s+){0,4}ersetzt\b" + _ACTIVE
    + r"|\bsuperseded\b|\breplaced\s+by\b|\bobsolete\b|\boutdated\b|\bno\s+longer\s+valid\b"
    r"|\baußer\s+kraft\b",
    re.IGNORECASE,
)
_SELF = re.compile(r"\b(?:dies\w*|this|fassung|version|dokument\w*|document|datenblatt|"
                   r"preisliste|ausgabe|richtlinie|blatt|liste|ordnung|regelung|bedingungen)\b",
                   re.IGNORECASE)
NOTICE_HEAD = 1500
"""A notice in the first characters of a document speaks of the document itself; further
down it must name it (``diese Fassung``, ``this version``) to count."""


@dataclass(frozen=True)
class Found:
    value: str
    start: int
    end: int


def parse_date(match: re.Match[str]) -> str | None:
    g = match.groupdict()
    if g["iso"]:
        year, month, day = int(g["iy"]), int(g["im"]), int(g["id"]) if g["id"] else None
    elif g["dy"]:
        year, month, day = int(g["dy"]), int(g["dm"]), int(g["dd"])
    elif g["ny"]:
        year, month = int(g["ny"]), MONTHS[g["nm"].lower()]
        day = int(g["nd"]) if g["nd"] else None
    else:
        year, month, day = int(g["my"]), int(g["mm"]), None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")


def dates(text: str) -> list[Found]:
    out = []
    for match in _DATE.finditer(text):
        value = parse_date(match)
        if value:
            out.append(Found(value, match.start(), match.end()))
    return out


def document_date(text: str) -> Found | None:
    """The date a document says it is valid from: the first date right after a marker such
    as ``Stand:`` or ``gültig ab``; without a marker, the newest full date in its head."""
    for marker in _MARKER.finditer(text):
        match = _DATE.match(text, marker.end())
        if match and (value := parse_date(match)):
            return Found(value, match.start(), match.end())
    head = [d for d in dates(text[:2000]) if len(d.value) == 10]
    return max(head, key=lambda d: d.value) if head else None


def document_version(text: str) -> str | None:
    match = _VERSION.search(text[:2000])
    return match[1] if match else None


def superseded_notice(text: str) -> Found | None:
    """Where a document says of itself that it is outdated or replaced."""
    for match in _SUPERSEDED.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        line = text[line_start:line_end if line_end >= 0 else len(text)]
        if match.start() < NOTICE_HEAD or _SELF.search(line):
            return Found(match.group(), match.start(), match.end())
    return None
