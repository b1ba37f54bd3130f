"""What is wrong with a collection's documents, before it misleads an answer.

Findings, each naming the files and the lines (as ``autonom docs show`` prints the text):

* ``duplicate`` — the same text more than once (also across formats);
* ``near_duplicate`` — mostly the same text (word 5-gram overlap, Jaccard or containment
  ≥ 0.8), unless one is a known older version of the other;
* ``superseded`` — a document that says it is outdated, or has an older ``Stand`` than a
  document with the same title; named with the version that replaces it;
* ``conflict`` — current documents stating different values for the same attribute of the
  same product (``Motorleistung`` of ``KP-55``: ``5,5 kW`` here, ``4,0 kW`` there);
* ``unreadable`` — empty files and files that could not be parsed (skipped at ingest);
* ``no_date`` — documents that state no date (``Stand:``, ``gültig ab`` …);
* ``injection`` — passages that address the assistant instead of the reader.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from autonom.knowledge.dates import document_date, superseded_notice
from autonom.knowledge.text import numbers
from autonom.knowledge.versions import outdated_documents, why_older
from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore

KINDS = ("conflict", "superseded", "duplicate", "near_duplicate", "injection", "unreadable",
         "no_date")
SHINGLE = 5
NEAR = 0.8
MIN_SHINGLES = 8
_WORD = re.compile(r"[^\W_]+(?:[.,][^\W_]+)*")
_CODE = re.compile(r"\b[A-ZÄÖÜ]{1,5}(?:-[A-ZÄÖÜ]{1,5})*-\d{1,5}[A-Z]?\b")
_FOR_CODE = re.compile(r"\b(?:für|fuer|for|zur|zum|passend\s+zu[mr]?)\s+(?:die\s+|den\s+|das\s+"
                       r"|the\s+)?(" + _CODE.pattern + ")", re.I)
_FACT_LINE = re.compile(r"^[ \t]*(?:[-*•+]|\d+\.)?[ \t]*\**(?P<label>[^\n:*|]{2,40}?)\**[ \t]*:"
                        r"[ \t]*(?P<value>[^\n]+)$", re.MULTILINE)
_NOT_FACTS = re.compile(r"^(?:stand|gültig|datum|version|dokument|seite|ausgabe|hinweis|"
                        r"artikelnummer|art\.?-?nr|as\s+of|date|page|note)\b", re.I)


@dataclass(frozen=True)
class Place:
    source: str
    line: int | None = None
    end_line: int | None = None

    def label(self) -> str:
        if self.line is None:
            return self.source
        if self.end_line and self.end_line != self.line:
            return f"{self.source}:{self.line}-{self.end_line}"
        return f"{self.source}:{self.line}"

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "end_line": self.end_line}


@dataclass
class Finding:
    kind: str
    message: str
    places: list[Place]

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "message": self.message,
                "places": [p.to_json() for p in self.places]}


@dataclass
class HygieneReport:
    collection: str
    documents: int
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}

    def to_json(self) -> dict[str, object]:
        return {"collection": self.collection, "documents": self.documents,
                "summary": self.counts(), "findings": [f.to_json() for f in self.findings]}


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(0, offset)) + 1


def check(store: DocumentStore, collection: str) -> HygieneReport:
    """Every finding for one collection, most harmful kinds first."""
    store.collection(collection)  # unknown collection → NotFoundError
    docs = [store.document(collection, d.source) for d in store.documents(collection)]
    outdated = outdated_documents(docs)
    findings = [
        *conflicts(docs, outdated),
        *superseded(docs, outdated),
        *duplicates(docs, outdated),
        *injections(docs),
        *(Finding("unreadable", reason, [Place(source)])
          for source, reason in store.skipped(collection)),
        *(Finding("no_date", "states no date (add e.g. 'Stand: 05/2026' or 'gültig ab …')",
                  [Place(d.source)]) for d in docs if not d.doc_date),
    ]
    findings.sort(key=lambda f: KINDS.index(f.kind))
    return HygieneReport(collection, len(docs), findings)


# -- superseded versions -----------------------------------------------------------------------


def superseded(docs: list[DocumentRecord], outdated: dict[int, int | None]) -> list[Finding]:
    by_id = {d.id: d for d in docs}
    out = []
    for old_id, new_id in outdated.items():
        old, new = by_id[old_id], by_id.get(new_id) if new_id is not None else None
        notice = superseded_notice(old.text)
        old_place = Place(old.source, line_of(old.text, notice.start) if notice
                          else _date_line(old))
        if new is None:
            said = _short(old.superseded or "")
            out.append(Finding("superseded", f"says it is outdated ('{said}'), "
                               "and no newer version is in the collection", [old_place]))
            continue
        why = why_older(old, new)
        out.append(Finding("superseded", f"older version of {new.source} ({why}); answers use "
                           "the newer one", [old_place, Place(new.source, _date_line(new))]))
    return out


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _date_line(doc: DocumentRecord) -> int | None:
    found = document_date(doc.text)
    return line_of(doc.text, found.start) if found else None


# -- duplicates ----------------------------------------------------------------------------------


@dataclass
class _Shingled:
    doc: DocumentRecord
    spans: dict[int, tuple[int, int]]  # shingle hash → (start, end) of its first occurrence


def _shingles(doc: DocumentRecord) -> _Shingled:
    words = list(_WORD.finditer(doc.text.lower()))
    spans: dict[int, tuple[int, int]] = {}
    for i in range(len(words) - SHINGLE + 1):
        gram = " ".join(w.group() for w in words[i:i + SHINGLE])
        key = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
        spans.setdefault(key, (words[i].start(), words[i + SHINGLE - 1].end()))
    return _Shingled(doc, spans)


def duplicates(docs: list[DocumentRecord], outdated: dict[int, int | None]) -> list[Finding]:
    out: list[Finding] = []
    by_text: dict[str, list[DocumentRecord]] = defaultdict(list)
    for doc in docs:
        if doc.text.strip():
            normal = " ".join(doc.text.lower().split())
            by_text[hashlib.sha256(normal.encode()).hexdigest()].append(doc)
    exact: set[int | None] = set()
    for group in by_text.values():
        if len(group) > 1:
            exact |= {d.id for d in group}
            places = [Place(d.source, 1, line_of(d.text, len(d.text.rstrip()))) for d in group]
            out.append(Finding("duplicate", f"the same text in {len(group)} files: keep one",
                               places))
    shingled = [_shingles(d) for d in docs if d.id not in exact]
    shingled = [s for s in shingled if len(s.spans) >= MIN_SHINGLES]
    for a, b, share in _similar_pairs(shingled):
        if outdated.get(a.doc.id or -1) == b.doc.id or outdated.get(b.doc.id or -1) == a.doc.id:
            continue  # an old version resembles its successor: reported as superseded
        common = a.spans.keys() & b.spans.keys()
        out.append(Finding("near_duplicate", f"{share:.0%} of the wording is the same",
                           [_span_place(a, common), _span_place(b, common)]))
    return out


def _similar_pairs(shingled: list[_Shingled]) -> list[tuple[_Shingled, _Shingled, float]]:
    """Pairs sharing at least ``NEAR`` of their 5-grams (Jaccard, or containment of the
    smaller in the larger), found through an inverted index of 5-gram hashes."""
    postings: dict[int, list[int]] = defaultdict(list)
    for i, item in enumerate(shingled):
        for key in item.spans:
            postings[key].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for holders in postings.values():
        if 1 < len(holders) <= 50:  # boilerplate in many files says nothing about a pair
            for pair in combinations(holders, 2):
                shared[pair] += 1
    pairs = []
    for (i, j), count in shared.items():
        a, b = shingled[i], shingled[j]
        smaller = min(len(a.spans), len(b.spans))
        jaccard = count / (len(a.spans) + len(b.spans) - count)
        share = max(jaccard, count / smaller)
        if share >= NEAR:
            pairs.append((a, b, share))
    return pairs


def _span_place(item: _Shingled, common: set[int]) -> Place:
    starts = [item.spans[k][0] for k in common]
    ends = [item.spans[k][1] for k in common]
    text = item.doc.text
    return Place(item.doc.source, line_of(text, min(starts)), line_of(text, max(ends)))


# -- conflicting facts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    subject: str
    label: str
    value: str
    place: Place


def facts(doc: DocumentRecord) -> list[Fact]:
    """``Attribute: value`` statements about one product code: data-sheet lines and table
    rows (a two-column row reads as attribute and value)."""
    out = []
    for chunk in doc.chunks:
        if chunk.injection:
            continue
        if chunk.kind == "row":
            out += _row_facts(doc, chunk)
            continue
        context = _codes(" ".join([doc.title or "", *chunk.headings]))
        for match in _FACT_LINE.finditer(chunk.body):
            label, value = match["label"].strip(), match["value"].strip()
            subject = _codes(match.group()) or context
            if len(subject) == 1:
                out.append(_fact(doc, chunk, min(subject), label, value))
    return [f for f in out if f is not None]


def _row_facts(doc: DocumentRecord, chunk: ChunkRecord) -> list[Fact | None]:
    cells = [c.partition(":")[::2] for c in chunk.body.split("; ")]
    cells = [(h.strip(), v.strip()) for h, v in cells if v.strip()]
    if len(cells) == 2:  # "Eigenschaft: Motorleistung; Wert: 2,2 kW"
        subject = _codes(" ".join([doc.title or "", *chunk.headings]))
        if len(subject) == 1:
            return [_fact(doc, chunk, min(subject), cells[0][1], cells[1][1])]
        return []
    # a code that fills a whole cell is the row's own id (Artikelnummer PW-055); the product
    # is the code named inside the other cells (Kreiselpumpe KP-55)
    ids = {value for _, value in cells if _CODE.fullmatch(value)}
    named = _codes(" ".join(value for _, value in cells if value not in ids))
    subject = named or ids
    if len(subject) != 1:
        return []
    return [_fact(doc, chunk, min(subject), label, value) for label, value in cells]


def _codes(text: str) -> set[str]:
    """Product codes a text is about; ``Dichtung für KP-55`` is not about the KP-55."""
    accessory = {m[1] for m in _FOR_CODE.finditer(text)}
    return set(_CODE.findall(text)) - accessory


def _fact(doc: DocumentRecord, chunk: ChunkRecord, subject: str, label: str,
          value: str) -> Fact | None:
    if _NOT_FACTS.match(label) or not numbers(value) or subject in value:
        return None
    at = doc.text.find(value, chunk.start)
    line = line_of(doc.text, at if 0 <= at <= chunk.end else chunk.start)
    return Fact(subject, " ".join(label.lower().split()), value, Place(doc.source, line))


def conflicts(docs: list[DocumentRecord], outdated: dict[int, int | None]) -> list[Finding]:
    """Different numbers for the same product attribute in current documents."""
    stated: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for doc in docs:
        if doc.id not in outdated:
            for fact in facts(doc):
                stated[fact.subject, fact.label].append(fact)
    out = []
    for (subject, label), found in sorted(stated.items()):
        values = {tuple(sorted(numbers(f.value))) for f in found}
        sources = {f.place.source for f in found}
        if len(values) > 1 and len(sources) > 1:
            said = "; ".join(f"{f.place.source}: {f.value}" for f in found)
            out.append(Finding("conflict", f"{subject} {label}: different values ({said})",
                               [f.place for f in found]))
    return out


# -- planted instructions ------------------------------------------------------------------------


def injections(docs: list[DocumentRecord]) -> list[Finding]:
    out = []
    for doc in docs:
        for chunk in doc.chunks:
            if chunk.injection:
                excerpt = " ".join(chunk.body.split())[:120]
                out.append(Finding(
                    "injection", f"addresses the assistant, never used as evidence: „{excerpt}“",
                    [Place(doc.source, line_of(doc.text, chunk.start),
                           line_of(doc.text, chunk.end))]))
    return out
