"""Answer units: the smallest pieces of a chunk that can answer a question on their own.

A unit is a sentence, a line of a list or spec sheet (``- Nenndruck: PN 16``) or a table row
(read with its header). Sentences are found by pysbd, a rule-based sentence splitter with
German rules for ordinals, dates and initials (``am 8. Oktober 2015``, ``J. S. Bach``);
chosen over syntok (splits after ordinals: ``am 8.`` | ``Oktober``) and regular expressions
(the old splitter broke on ``z. B.``). Where pysbd still breaks after an abbreviation of
German office text (``gem. § 5``, ``inkl. MwSt.``), the pieces are joined again here.

Units are spans of the document text, so a quote is always cut verbatim from it.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Lines that stand on their own even without a blank line before them: list items and
# ``Label: value`` lines of spec sheets (also ``Label ...... value`` in plain text).
LIST_MARKER = r"(?:[-*+•–]|\d{1,2}[.)])"
"""What starts a list item: a bullet or a number (``-``, ``•``, ``1.``, ``2)``)."""
_LIST_LINE = re.compile(rf"[ \t]*{LIST_MARKER}[ \t]+\S")
_LABEL_LINE = re.compile(r"[ \t]*\**[^\n:.!?]{2,50}?\**[ \t]*(?::|[ \t]\.{4,})[ \t]*\S")
_LEADER_LINE = re.compile(r"[^\n]{2,60}?[ \t]\.{4,}[^\n]*")
_ABBREVIATIONS = frozenset({
    "abs", "abt", "allg", "art", "bd", "bzgl", "bzw", "ca", "chr", "co", "dipl", "dr",
    "evtl", "ff", "gem", "ggf", "gmbh", "hr", "hrsg", "inkl", "incl", "jh", "jr", "kap",
    "kfm", "max", "mind", "min", "mio", "mrd", "mwst", "nr", "o.ä", "od", "prof", "rd",
    "s", "sog", "st", "str", "tel", "u.a", "usw", "vgl", "vs", "z.b", "zb", "zzgl", "zt",
    "ing", "bspw", "eigtl", "einschl", "entspr", "erg", "geb", "gegr", "hl", "insb",
    "jhd", "lt", "mtl", "n.chr", "v.chr", "zw", "ugs"
})
_YES_NO = re.compile(r"(?:ja|nein|jein|doch|yes|no)[.!]?", re.I)
_WORD_BEFORE_DOT = re.compile(r"([^\W\d_]+(?:\.[^\W\d_]+)*)\.\s*$")


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="de", clean=False)


def _segments(flat: str) -> list[tuple[int, int]]:
    """pysbd's sentences of ``flat`` as spans, found in order. (pysbd's own ``char_span``
    compiles a regular expression per sentence, which cost more than the split itself, and
    it can return overlapping spans.)"""
    spans: list[tuple[int, int]] = []
    position = 0
    for sentence in _segmenter().segment(flat):
        found = flat.find(sentence, position)
        if found >= 0:
            position = found + len(sentence)
            spans.append((found, position))
    return spans


def unit_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Units inside ``text[start:end]`` as absolute spans, in document order."""
    out: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text, start, end):
        out.extend(_sentences(text, line_start, line_end))
    return out


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraphs, with list items and label lines split off as lines of their own."""
    pieces: list[tuple[int, int]] = []
    current = start
    position = start
    while position < end:
        newline = text.find("\n", position, end)
        if newline < 0:
            break
        following = text[newline + 1:end]
        blank = following.startswith("\n") or not following.strip()
        line = text[current:newline]
        stands_alone = (_LIST_LINE.match(following) or _LABEL_LINE.match(following)
                        or _LIST_LINE.match(line) or _LABEL_LINE.match(line)
                        or line.rstrip().endswith(":"))
        if blank or stands_alone:
            pieces.append((current, newline))
            current = newline + 1
        position = newline + 1
    pieces.append((current, end))
    return [span for span in (_trim(text, s, e) for s, e in pieces) if span[1] > span[0]]


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    piece = text[start:end]
    if len(piece) < 40 or not re.search(r"[.!?]\s", piece) or _LEADER_LINE.fullmatch(piece):
        return [(start, end)]
    # a line break inside a paragraph is wrapping, not a sentence end (same length: the
    # spans stay those of the document text)
    flat = piece.replace("\n", " ")
    spans = [(start + s, start + e) for s, e in _segments(flat)]
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and _continues(text[merged[-1][0]:merged[-1][1]], text[s:e]):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [span for span in (_trim(text, s, e) for s, e in merged) if span[1] > span[0]]


def _continues(previous: str, following: str) -> bool:
    """Whether a split between two pieces fell after an abbreviation or an ordinal."""
    head = following.lstrip()
    if not head:
        return True
    if _YES_NO.fullmatch(previous.strip()):
        return True  # an FAQ's "Ja." says nothing without the sentence that follows it
    if head[0].islower() or head[0] in "§(,;":
        return True
    if head[0].isdigit() and not re.search(r"[.!?…:][\"'»«“”)\]]*$", previous.rstrip()):
        return True  # pysbd splits "am | 29. und | 30. Dezember": no sentence ended there
    match = _WORD_BEFORE_DOT.search(previous.rstrip())
    if match and match.group(1).lower() in _ABBREVIATIONS:
        return True
    return bool(re.search(r"(?:^|\s)\d{1,2}\.\s*$", previous))  # "am 3." | "Mai"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n-*+•–|#>":
        start += 1
    while end > start and text[end - 1] in " \t\n|":
        end -= 1
    return start, end
