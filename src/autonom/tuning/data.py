"""Training data from a collection: questions and answers grounded in its documents.

A *fact* is one thing a document states that a question can ask for: a spec-list line
(``Nenndruck: PN 16``), one cell of a table row read with its header (``Preis`` of the row
``KP-55``), or a section of prose under its heading. Each fact becomes several examples, each
with its provenance (file, character span of the statement, fact id):

* **closed** — a question in several wordings, answered with the value and its source,
  so that the model learns the fact itself;
* **reading** — the same question with the read-mode prompt of
  :mod:`autonom.knowledge.answer`: the fact's passage among distractor passages, answered with
  the value and the passage number, so that the model learns to answer from context;
* **refusal** / **reading-refusal** — near-miss questions: an attribute that other subjects
  have and this one does not, or passages that do not hold the answer, answered with the
  abstention sentence;
* **unknown** — for a share of the trained facts (:data:`UNKNOWN_SHARE`), the closed-book
  questions are answered with the abstention sentence instead (their reading examples still
  answer from the passage). A small model asked about a fact it was not taught otherwise
  invents a value; taught that some facts are not known, it says so far more often
  (``benchmarks/RESULTS.md``, post-training).

With ``rated``, answers that people rated good in the web UI (:mod:`autonom.store.
conversations`) are taught as they were given, with the conversation before them (at most
the last :data:`MAX_RATED_MESSAGES` messages) and their sources; provenance is the
conversation and the answer's position in it. A rated answer is left out when it cites a
document that is outdated or gone by now, when a message of it holds a planted instruction,
when an earlier answer in it was not given by the server (the page sends the history, so
such an answer could be anything), when it is too long, or when it repeats another. Rated
answers are all trained on: the held-out set tests the documents' facts.

Chunks flagged as planted instructions and superseded documents are left out; facts that
say the same thing (case, punctuation and word order ignored) are kept once. The split is
by fact: a share of the facts goes to the held-out set with all its wordings, and for the
trained facts one wording is held back, so the held-out set measures both a fact not
trained on and a trained fact asked in words not trained on. The held-out set is written as
an eval set (:mod:`autonom.evals.dataset`), so ``autonom eval`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonom.errors import InvalidRequestError
from autonom.guard.injection import find_injections
from autonom.knowledge.answer import ABSTAIN, NOT_FOUND, read_messages
from autonom.knowledge.chunk import index_text
from autonom.knowledge.text import guess_language
from autonom.knowledge.units import unit_spans
from autonom.knowledge.versions import outdated_documents
from autonom.store.conversations import RatedAnswer, StoredMessage
from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore

FORMAT = 1
TEST_SHARE = 0.2
REFUSAL_SHARE = 0.3
READING_SHARE = 0.5
"""Facts that also get a reading example (passages cost most of the training time)."""
UNKNOWN_SHARE = 0.3
"""Trained facts taught closed-book as not known instead (their passages still answered)."""
DISTRACTORS = 2
MAX_VALUE_CHARS = 400
MAX_CHECKABLE_CHARS = 80
MAX_FACTS = 50_000
MAX_RATED_MESSAGES = 6
"""A rated answer is taught with at most this many messages (its own included)."""
MAX_RATED_CHARS = 8_000

_LABEL = re.compile(r"^[\s*•+–-]*\**([^\n:]{2,50}?)\**\s*:\s*(\S.*)$", re.DOTALL)
_CODE = re.compile(r"\b[A-ZÄÖÜ]{1,6}-?\d{1,6}[A-Za-z]?\b")
_WORDS = re.compile(r"[^\W_]+")

# Question wordings per language and fact kind. A fact is taught in all but one of them; the
# one held back differs from fact to fact, so each wording is also taught for other facts.
_QUESTIONS = {
    ("de", "value"): [
        "Welchen Wert hat „{attribute}“ bei {subject}?",
        "Wie lautet {attribute} für {subject}?",
        "{subject}: {attribute}?",
        "Welche {attribute} hat {subject}?",
        "Was steht bei {subject} unter {attribute}?",
        "Nenne {attribute} von {subject}.",
        "{attribute} von {subject}?",
        "Was ist bei {subject} als {attribute} angegeben?",
    ],
    ("en", "value"): [
        "What is the {attribute} of {subject}?",
        "Which {attribute} does {subject} have?",
        "{subject}: {attribute}?",
        "What is stated as {attribute} for {subject}?",
        "Tell me the {attribute} of {subject}.",
        "{attribute} of {subject}?",
    ],
    ("de", "section"): [
        "Was steht in „{subject}“ zu „{attribute}“?",
        "Was gilt laut {subject} für {attribute}?",
        "Worum geht es in {subject} unter {attribute}?",
    ],
    ("en", "section"): [
        "What does “{subject}” say about “{attribute}”?",
        "According to {subject}, what applies to {attribute}?",
        "What is {subject} saying under {attribute}?",
    ],
}
_ANSWERS = {
    ("de", "value"): "{attribute} für {subject}: {value} (Quelle: {source})",
    ("en", "value"): "{attribute} of {subject}: {value} (source: {source})",
    ("de", "section"): "{value} (Quelle: {source})",
    ("en", "section"): "{value} (source: {source})",
}


@dataclass(frozen=True)
class Fact:
    id: str
    source: str
    start: int
    end: int
    kind: str
    """``spec`` (a label line), ``row`` (a table cell) or ``section`` (prose)."""
    subject: str
    attribute: str
    value: str
    language: str
    passage: str
    """The fact's chunk as search sees it (title, heading path, body): the reading examples'
    passage."""

    @property
    def shape(self) -> str:
        return "section" if self.kind == "section" else "value"


@dataclass
class Example:
    messages: list[dict[str, str]]
    kind: str
    fact: str
    source: str | None
    span: tuple[int, int] | None
    origin: dict[str, Any] | None = None
    """Where a rated answer comes from: ``conversation`` and ``ordinal``."""

    def to_json(self) -> dict[str, Any]:
        out = {"messages": self.messages, "kind": self.kind, "fact": self.fact,
               "source": self.source, "span": list(self.span) if self.span else None}
        return {**out, **self.origin} if self.origin else out


@dataclass
class TuneData:
    collection: str
    train: list[Example]
    heldout: list[dict[str, Any]]
    facts: int
    test_facts: int
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A hash over everything trained and tested on: unchanged data, same digest."""
        h = hashlib.sha256()
        for item in [*(e.to_json() for e in self.train), *self.heldout]:
            h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for example in self.train:
            out[example.kind] += 1
        return dict(sorted(out.items()))


def build(store: DocumentStore, collection: str, *, test_share: float = TEST_SHARE,
          seed: int = 0, rated: Sequence[RatedAnswer] = (),
          unknown_share: float = UNKNOWN_SHARE) -> TuneData:
    """Training examples and a held-out eval set from the collection's current documents
    (and the answers ``rated`` good about it)."""
    if not 0.0 <= test_share < 1.0:
        raise InvalidRequestError("the held-out share must be at least 0 and below 1")
    if not 0.0 <= unknown_share < 1.0:
        raise InvalidRequestError("the share of facts taught as unknown must be at least 0 "
                                  "and below 1")
    store.collection(collection)  # NotFoundError for an unknown collection
    listed = store.documents(collection)
    if not listed:
        raise InvalidRequestError(f"collection {collection!r} has no documents to learn from")
    outdated = outdated_documents(listed)
    excluded: dict[str, int] = defaultdict(int)
    facts: list[Fact] = []
    texts: list[str] = []
    for listed_doc in listed:
        if listed_doc.id in outdated:
            excluded["superseded documents"] += 1
            continue
        doc = store.document(collection, listed_doc.source)
        texts.append(doc.text)
        for chunk in doc.chunks:
            if chunk.injection:
                excluded["chunks with planted instructions"] += 1
                continue
            facts.extend(chunk_facts(doc, chunk))
        if len(facts) > MAX_FACTS:
            raise InvalidRequestError(f"collection {collection!r} has more than {MAX_FACTS} "
                                      "facts; tune on a smaller collection")
    corpus = "\n".join(texts)
    facts, duplicates = _unique(facts)
    if duplicates:
        excluded["duplicate facts"] = duplicates
    if not facts:
        raise InvalidRequestError(f"no facts found in collection {collection!r}")
    rng = random.Random(seed)
    pool = _passages(facts)
    test = {f.id for f in facts if _share(f.id, seed) < test_share}
    train: list[Example] = []
    heldout: list[dict[str, Any]] = []
    for fact in facts:
        wordings = questions(fact)
        if fact.id in test:
            heldout.extend(_cases(fact, wordings, collection, "unseen-fact"))
            continue
        if _share("unknown" + fact.id, seed) < unknown_share:
            # taught as not known without its passage: a fact the model was not taught is
            # one it should say it does not know, rather than invent a value for
            for question in wordings:
                train.append(_example("unknown", fact, [_user(question)],
                                      ABSTAIN[fact.language]))
            if _share("reading" + fact.id, seed) < READING_SHARE:
                train.append(_reading(fact, wordings[0], _distractors(fact, pool, rng), rng))
            continue
        held = int(_share("wording" + fact.id, seed) * len(wordings))
        taught = [w for i, w in enumerate(wordings) if i != held] if len(wordings) > 1 \
            else wordings
        kept_back = [wordings[held]] if len(wordings) > 1 else []
        heldout.extend(_cases(fact, kept_back, collection, "new-wording"))
        answer = _ANSWERS[fact.language, fact.shape].format(**_fields(fact))
        for question in taught:
            train.append(_example("closed", fact, [_user(question)], answer))
        if _share("reading" + fact.id, seed) < READING_SHARE:
            distractors = _distractors(fact, pool, rng)
            train.append(_reading(fact, taught[0], distractors, rng))
    refusals = _near_misses(facts, rng, int(len(train) * REFUSAL_SHARE), corpus.casefold())
    for fact, question in refusals:
        refusal = ABSTAIN[fact.language]
        if _share(fact.id + question, seed) < test_share:
            heldout.append({"id": f"refusal-{_short(fact.id + question)}",
                            "question": question, "must_abstain": True,
                            "tags": ["closed-book", "refusal"]})
            continue
        train.append(_example("refusal", fact, [_user(question)], refusal))
        passages = [(d.source, d.passage) for d in _distractors(fact, pool, rng)]
        if passages:
            messages = [*_plain(read_messages(question, passages)), _assistant(NOT_FOUND)]
            train.append(Example(messages, "reading-refusal", fact.id, None, None))
    current = {d.source for d in listed if d.id not in outdated}
    train.extend(_rated(rated, current, excluded))
    rng.shuffle(train)
    return TuneData(collection, train, heldout, len(facts), len(test), dict(excluded))


def chunk_facts(doc: DocumentRecord, chunk: ChunkRecord) -> list[Fact]:
    """The facts one chunk states."""
    passage = index_text(doc.title, chunk.headings, chunk.body)
    language = guess_language(chunk.body)
    language = language if language in ("de", "en") else "de"
    subject = _subject(doc)
    if chunk.kind == "row":
        return _row_facts(doc, chunk, passage, language)
    out: list[Fact] = []
    prose: list[tuple[int, int]] = []
    for start, end in unit_spans(doc.text, chunk.start, chunk.end):
        match = _LABEL.match(doc.text[start:end])
        if match and len(match.group(2)) <= MAX_VALUE_CHARS:
            attribute = " ".join(match.group(1).split())
            out.append(_fact(doc, start, end, "spec", subject, attribute,
                             " ".join(match.group(2).split()), language, passage))
        else:
            prose.append((start, end))
    if prose:
        start, end = prose[0][0], prose[0][1]
        for _, e in prose[1:]:
            if e - start > MAX_VALUE_CHARS:
                break
            end = e
        heading = chunk.headings[-1] if chunk.headings else (doc.title or doc.source)
        out.append(_fact(doc, start, end, "section", doc.title or _stem(doc.source),
                         heading, " ".join(doc.text[start:end].split()), language, passage))
    return out


def questions(fact: Fact) -> list[str]:
    return [q.format(**_fields(fact)) for q in _QUESTIONS[fact.language, fact.shape]]


def write(data: TuneData, out: Path) -> dict[str, Any]:
    """Writes ``train.jsonl``, ``heldout.jsonl`` (an eval set) and ``manifest.json``; returns
    the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(out / "train.jsonl", [e.to_json() for e in data.train])
    _write_lines(out / "heldout.jsonl", data.heldout)
    manifest = {"format": FORMAT, "collection": data.collection, "digest": data.digest,
                "created_at": time.time(), "facts": data.facts, "test_facts": data.test_facts,
                "train": len(data.train), "heldout": len(data.heldout),
                "kinds": data.counts(), "excluded": data.excluded}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{folder} is not training data made by 'autonom tune "
                                  f"data' ({path.name}: {exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidRequestError(f"{folder}: unknown training data format")
    return manifest


def read_train(folder: Path) -> list[list[dict[str, str]]]:
    """The conversations of ``train.jsonl`` (each a list of messages ending with the answer)."""
    read_manifest(folder)
    out = []
    with (folder / "train.jsonl").open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                messages = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidRequestError(f"train.jsonl line {number}: {exc}") from exc
            if not messages or messages[-1].get("role") != "assistant":
                raise InvalidRequestError(f"train.jsonl line {number}: the last message must "
                                          "be the assistant's answer")
            out.append(messages)
    return out


# -- facts ----------------------------------------------------------------------------------


def _row_facts(doc: DocumentRecord, chunk: ChunkRecord, passage: str,
               language: str) -> list[Fact]:
    cells = [part.partition(":") for part in chunk.body.split("; ")]
    pairs = [(" ".join(h.split()), " ".join(v.split())) for h, sep, v in cells if sep]
    pairs = [(h, v) for h, v in pairs if h and v]
    if len(pairs) < 2:
        return []
    if len(pairs) == 2:  # a two-column table lists attributes of the document's subject
        (_, attribute), (_, value) = pairs
        return [_fact(doc, chunk.start, chunk.end, "row", _subject(doc), attribute, value,
                      language, passage)] if len(value) <= MAX_VALUE_CHARS else []
    key = pairs[0][1]
    return [_fact(doc, chunk.start, chunk.end, "row", key, header, value, language, passage)
            for header, value in pairs[1:] if len(value) <= MAX_VALUE_CHARS]


def _fact(doc: DocumentRecord, start: int, end: int, kind: str, subject: str, attribute: str,
          value: str, language: str, passage: str) -> Fact:
    ident = hashlib.sha256(f"{doc.source}\0{start}\0{end}\0{attribute}".encode()).hexdigest()
    return Fact(ident[:16], doc.source, start, end, kind, subject, attribute, value, language,
                passage)


def _subject(doc: DocumentRecord) -> str:
    """What a document's spec lines are about: a product code in its title, else the title."""
    title = doc.title or _stem(doc.source)
    code = _CODE.search(title)
    return code.group() if code else title


def _stem(source: str) -> str:
    return Path(source).stem.replace("-", " ").replace("_", " ")


def _unique(facts: list[Fact]) -> tuple[list[Fact], int]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for fact in facts:
        key = tuple(sorted(set(_WORDS.findall(
            f"{fact.subject} {fact.attribute} {fact.value}".casefold()))))
        if key not in seen:
            seen.add(key)
            out.append(fact)
    return out, len(facts) - len(out)


def _share(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fields(fact: Fact) -> dict[str, str]:
    return {"subject": fact.subject, "attribute": fact.attribute, "value": fact.value,
            "source": fact.source}


# -- examples -------------------------------------------------------------------------------


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _plain(messages: list[Any]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _example(kind: str, fact: Fact, messages: list[dict[str, str]], answer: str) -> Example:
    return Example([*messages, _assistant(answer)], kind, fact.id, fact.source,
                   (fact.start, fact.end))


def _rated(answers: Sequence[RatedAnswer], current: set[str],
           excluded: dict[str, int]) -> list[Example]:
    """Examples of the answers people rated good; what is left out is counted in
    ``excluded``."""
    out: list[Example] = []
    seen: set[tuple[str, ...]] = set()
    for rated in answers:
        last = rated.messages[-1]
        cited = [str(c.get("source", "")) for c in last.citations]
        if any(source not in current for source in cited):
            excluded["rated answers citing outdated or removed documents"] += 1
            continue
        taught = rated.messages[-MAX_RATED_MESSAGES:]
        while taught and taught[0].role != "user":
            taught = taught[1:]
        if any(m.role == "assistant" and not m.model for m in taught):
            # the page sends the history; an answer the server did not give could be anything
            excluded["rated answers after answers the server did not give"] += 1
            continue
        if not taught or sum(len(m.content) for m in taught) > MAX_RATED_CHARS:
            excluded["rated answers too long to learn from"] += 1
            continue
        if any(find_injections(m.content) for m in taught):
            excluded["rated answers with planted instructions"] += 1
            continue
        key = tuple(" ".join(_WORDS.findall(m.content.casefold())) for m in taught)
        if key in seen:
            excluded["duplicate rated answers"] += 1
            continue
        seen.add(key)
        messages = [_user(m.content) if m.role == "user" else _assistant(_sourced(m))
                    for m in taught]
        out.append(Example(messages, "rated", f"rated-{rated.conversation}-{rated.ordinal}",
                           cited[0] if cited else None, None,
                           {"conversation": rated.conversation, "ordinal": rated.ordinal}))
    return out


def _sourced(message: StoredMessage) -> str:
    """An answer as taught: its text and, as in the facts' answers, the documents it cites."""
    sources = list(dict.fromkeys(str(c.get("source", "")) for c in message.citations))
    if not sources:
        return message.content
    language = guess_language(message.content)
    template = _ANSWERS[language if language in ("de", "en") else "de", "section"]
    return template.format(value=message.content, source=", ".join(sources))


def _passages(facts: list[Fact]) -> list[Fact]:
    """One fact per distinct passage, in a stable order: the pool distractors come from."""
    return sorted({f.passage: f for f in facts}.values(), key=lambda f: f.id)


def _distractors(fact: Fact, pool: list[Fact], rng: random.Random) -> list[Fact]:
    """Passages of other documents; the pool is built once per data set, since scanning all
    facts for each fact grows with the square of a large collection."""
    others = [f for f in pool if f.source != fact.source]
    return rng.sample(others, min(DISTRACTORS, len(others)))


def _reading(fact: Fact, question: str, distractors: list[Fact],
             rng: random.Random) -> Example:
    passages = [(d.source, d.passage) for d in distractors]
    position = rng.randint(0, len(passages))
    passages.insert(position, (fact.source, fact.passage))
    answer = f"{fact.value} [{position + 1}]"
    return _example("reading", fact, _plain(read_messages(question, passages)), answer)


def _near_misses(facts: list[Fact], rng: random.Random, wanted: int,
                 corpus: str) -> list[tuple[Fact, str]]:
    """Questions about a product that does not exist: a real subject's code with another
    number (``KP-57`` beside ``KP-55``) that occurs nowhere in the collection, asked for an
    attribute the real one has. Real subjects are never used, since one product often has
    several names (a type code, an article number) and a refusal would unteach a fact."""
    coded = sorted({(f.subject, f.attribute) for f in facts
                    if f.shape == "value" and _CODE.fullmatch(f.subject)})
    rng.shuffle(coded)
    out: list[tuple[Fact, str]] = []
    by_subject = {f.subject: f for f in facts}
    for subject, attribute in coded:
        if len(out) >= wanted:
            break
        invented = _other_code(subject, corpus, rng)
        if invented is None:
            continue
        real = by_subject[subject]
        probe = Fact(_short(invented + attribute), real.source, 0, 0, "spec", invented,
                     attribute, "", real.language, "")
        for question in rng.sample(questions(probe), min(2, len(questions(probe)))):
            out.append((probe, question))
    return out[:wanted]


def _other_code(code: str, corpus: str, rng: random.Random) -> str | None:
    digits = re.search(r"\d+", code)
    if digits is None:
        return None
    number = int(digits.group())
    for step in rng.sample([1, 2, 3, 5, 7, 10], 6):
        candidate = code[:digits.start()] + str(number + step).zfill(len(digits.group())) \
            + code[digits.end():]
        if candidate.casefold() not in corpus:
            return candidate
    return None


def _cases(fact: Fact, wordings: list[str], collection: str, tag: str) -> list[dict[str, Any]]:
    """Eval cases for a fact: closed-book and from the documents, for each wording."""
    if fact.shape != "value" or len(fact.value) > MAX_CHECKABLE_CHARS:
        return []
    out: list[dict[str, Any]] = []
    for question in wordings:
        base = f"{fact.id}-{_short(question)}"
        # the statement is what supports the answer: numbers in it are not invented
        reference = f"{fact.subject}: {fact.attribute}: {fact.value} ({fact.source})"
        out.append({"id": f"{base}-closed", "question": question, "expected": [fact.value],
                    "reference": reference, "tags": ["closed-book", tag, fact.kind]})
        out.append({"id": f"{base}-docs", "question": question, "collection": collection,
                    "expected": [fact.value], "expected_sources": [fact.source],
                    "tags": ["documents", tag, fact.kind]})
    return out


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
