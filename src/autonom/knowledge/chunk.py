"""Split a parsed document into retrievable chunks that follow its structure.

A chunk never crosses a heading; list items and paragraphs under one heading are packed
together up to a size limit; each table row is a chunk of its own, read with its header; the
sentences of a paragraph that address the assistant (planted instructions, see
:func:`autonom.guard.injection.planted`) are isolated in chunks of their own and flagged, so
the genuine facts around them, even in the same paragraph, stay usable. Every chunk knows its
heading path, and its span in the document text, from which quotes are cut verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autonom.guard.injection import planted
from autonom.knowledge.parse import Block, ParsedDocument


@dataclass
class Chunk:
    ordinal: int
    start: int
    end: int
    kind: str  # "text" | "row"
    headings: list[str] = field(default_factory=list)
    body: str = ""  # the chunk's own words (a table row as "Header: value; …")
    injection: bool = False

    def index_text(self, title: str | None) -> str:
        return index_text(title, self.headings, self.body)


def index_text(title: str | None, headings: list[str], body: str) -> str:
    """What search sees of a chunk: document title and heading path, then the body."""
    path = [h for h in [title, *headings] if h]
    unique = [h for i, h in enumerate(path) if h not in path[:i]]
    return (" › ".join(unique) + "\n" + body) if unique else body


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9„\"(])")


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences (and lines of lists) inside ``text[start:end]`` as absolute spans."""
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _split(text, start, end, re.compile(r"\n\s*\n|\n(?=\s*[-*+•] )")):
        spans.extend(_split(text, line_start, line_end, _SENTENCE_END))
    return spans


def _split(text: str, start: int, end: int, boundary: re.Pattern[str]) -> list[tuple[int, int]]:
    out = []
    pos = start
    for match in boundary.finditer(text, start, end):
        out.append((pos, match.start()))
        pos = match.end()
    out.append((pos, end))
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in out) if e > s]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n-*+•|":
        start += 1
    while end > start and text[end - 1] in " \t\n|":
        end -= 1
    return start, end


def chunk_document(doc: ParsedDocument, max_chars: int = 800) -> list[Chunk]:
    chunks: list[Chunk] = []
    headings: dict[int, str] = {}
    group: list[Block] = []

    def path() -> list[str]:
        return [headings[level] for level in sorted(headings)]

    def emit(start: int, end: int, kind: str, body: str, injection: bool = False) -> None:
        chunks.append(Chunk(len(chunks), start, end, kind, path(), body, injection))

    def emit_sentences(start: int, end: int) -> None:
        """Text too long for one chunk, or around a planted instruction: its sentences,
        packed up to the size limit."""
        for s, e in _pack(sentence_spans(doc.text, start, end), max_chars):
            emit(s, e, "text", doc.text[s:e])

    def flush() -> None:
        if group:
            start, end = group[0].start, group[-1].end
            emit(start, end, "text", doc.text[start:end])
            group.clear()

    after_planted = False
    for block in doc.blocks:
        if block.kind == "heading":
            after_planted = False
            flush()
            headings = {lv: h for lv, h in headings.items() if lv < block.level}
            headings[block.level] = " ".join(doc.span(block).split())
            continue
        if block.kind == "row":
            after_planted = False
            flush()
            emit(block.start, block.end, "row", block.display or doc.span(block))
            continue
        span = doc.span(block)
        flagged, after_planted = planted(span, after_planted)
        if flagged:
            flush()
            pos = block.start
            for start, end in ((block.start + a, block.start + b) for a, b in flagged):
                emit_sentences(pos, start)
                emit(start, end, "text", doc.text[start:end], injection=True)
                pos = end
            emit_sentences(pos, block.end)
            continue
        if group and block.end - group[0].start > max_chars:
            flush()
        if block.end - block.start > max_chars:
            emit_sentences(block.start, block.end)
            continue
        group.append(block)
    flush()
    return chunks


def _pack(spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    packed: list[tuple[int, int]] = []
    for start, end in spans:
        if packed and end - packed[-1][0] <= max_chars:
            packed[-1] = (packed[-1][0], end)
        else:
            packed.append((start, end))
    return packed
