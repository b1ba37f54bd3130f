"""Which documents are older versions of others, from what the documents themselves show.

Two documents are versions of one another when they are about the same subject: their file
names agree once dates, version numbers and words like ``alt``/``archiv`` are taken out
(``preise/stundensaetze_2024.csv`` and ``preise/archiv/stundensaetze_2026.csv``;
``kp-55-datenblatt-2023.md`` and ``kp-55-datenblatt.md``), or their titles agree the same way
and either only these two documents carry that title (of three words or more), one of them
lies in an archive folder, or their file names share most words. Of a group, the newest is
the one with the latest date (``Stand``, ``gültig ab``), then the highest version number
(``Version 3.1`` over ``2.0``), then the one outside an archive folder; the others are
outdated. A document that
says of itself that it is outdated (``Diese Fassung ist veraltet``, ``ersetzt durch …``,
``superseded``) is outdated whether or not its successor is present. A title that many
documents share (a letterhead) is not a subject by itself.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from autonom.store.documents import DocumentRecord

_VERSION_MARK = re.compile(r"(?:^|(?<=[\s_.-]))(?:v|ver|version|rev|fassung|ausgabe|stand)"
                           r"[\s_.-]*\d+(?:[._-]\d+)*", re.I)
_DATE_MARK = re.compile(r"(?<!\d)(?:\d{1,2}[._-])?(?:\d{1,2}[._-])?(?:19|20)\d\d(?:[._-]\d{1,2})?"
                        r"(?:[._-]\d{1,2})?(?!\d)")
_NOISE = frozenset({
    "alt", "alte", "alter", "altes", "neu", "neue", "neuer", "neues", "old", "new",
    "archiv", "archive", "aktuell", "current", "entwurf", "draft", "final", "kopie",
    "copy", "stand", "version", "fassung", "gültig", "ab", "as", "of", "vom", "von"
})
_ARCHIVE = re.compile(r"(?:^|/)(?:archiv\w*|archive\w*|alt|old|veraltet\w*|obsolete)(?:/|$)",
                      re.I)
_SPLIT = re.compile(r"[^\w]+|_")


def subject_words(name: str) -> list[str]:
    """The words of a file stem or title that name its subject (dates and versions out)."""
    name = _VERSION_MARK.sub(" ", name)
    name = _DATE_MARK.sub(" ", name)
    words = [w for w in _SPLIT.split(name.lower()) if w]
    return [w for w in words if (w not in _NOISE and not w.isdigit()) or _is_code_part(w, words)]


def _is_code_part(word: str, words: list[str]) -> bool:
    """Numbers that belong to a product code (``kp 55``) stay: they tell products apart."""
    return word.isdigit() and len(word) <= 4 and words.index(word) > 0


def _stem_key(doc: DocumentRecord) -> str:
    return " ".join(subject_words(PurePosixPath(doc.source).stem))


def _title_key(doc: DocumentRecord) -> str:
    return " ".join(subject_words(doc.title or ""))


def _similar_names(a: DocumentRecord, b: DocumentRecord) -> bool:
    wa, wb = set(_stem_key(a).split()), set(_stem_key(b).split())
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.5


def version_groups(documents: list[DocumentRecord]) -> list[list[DocumentRecord]]:
    """Groups of two or more documents that are versions of one subject."""
    docs = [d for d in documents if d.id is not None]
    parent = {d.id: d.id for d in docs}

    def find(x: int | None) -> int | None:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(a: DocumentRecord, b: DocumentRecord) -> None:
        parent[find(a.id)] = find(b.id)

    by_stem: dict[str, DocumentRecord] = {}
    by_title: dict[str, list[DocumentRecord]] = {}
    for doc in docs:
        if len(key := _stem_key(doc)) >= 4:
            if key in by_stem:
                join(doc, by_stem[key])
            else:
                by_stem[key] = doc
        if len(key := _title_key(doc)) >= 4:
            by_title.setdefault(key, []).append(doc)
    for key, group in by_title.items():
        # a specific title (three words or more) that exactly two documents share names
        # one subject; a title many share is a letterhead and needs similar file names
        specific = len(group) == 2 and len(key.split()) >= 3
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                archived = bool(_ARCHIVE.search(a.source)) != bool(_ARCHIVE.search(b.source))
                if specific or archived or _similar_names(a, b):
                    join(a, b)
    groups: dict[int | None, list[DocumentRecord]] = {}
    for doc in docs:
        groups.setdefault(find(doc.id), []).append(doc)
    return [g for g in groups.values() if len(g) > 1]


def _version_tuple(version: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version or ""))[:4]


def recency(doc: DocumentRecord) -> tuple[object, ...]:
    """What makes one version newer than another, in order of trust."""
    return (doc.superseded is None, doc.doc_date or "", _version_tuple(doc.version),
            not _ARCHIVE.search(doc.source))


def why_older(old: DocumentRecord, new: DocumentRecord) -> str:
    """In words, what makes ``old`` the older version of ``new``."""
    if old.superseded:
        return f"says '{' '.join(old.superseded.split())[:60]}'"
    if (old.doc_date or "") != (new.doc_date or ""):
        return f"dated {old.doc_date or 'without a date'}, the other {new.doc_date}"
    if _version_tuple(old.version) != _version_tuple(new.version):
        return f"version {old.version or '?'}, the other {new.version}"
    return "it lies in an archive folder"


def outdated_documents(documents: list[DocumentRecord]) -> dict[int, int | None]:
    """document id → id of the newer document that replaces it (``None``: the document says
    itself that it is outdated, but no newer version is in the collection)."""
    outdated: dict[int, int | None] = {}
    for group in version_groups(documents):
        newest = max(group, key=recency)
        for doc in group:
            if doc is not newest and doc.id is not None and recency(doc) < recency(newest):
                outdated[doc.id] = newest.id
    for doc in documents:
        if doc.id is not None and doc.superseded and doc.id not in outdated:
            outdated[doc.id] = None
    return outdated
