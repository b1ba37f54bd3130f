"""Finding the sentence that answers a question, and deciding whether there is one.

Candidate sentences come from the retrieved chunks. Each is scored by how much of the
question it covers: question terms found in the sentence count fully, terms found only in its
context (heading path, title, the rest of the chunk) count less, and the kind of answer the
question asks for (a weight, a price, a duration …) must be present as a value with a fitting
unit. In German questions, capitalised words (nouns, names) and numbers are *key terms*:
evidence that lacks one of them does not answer the question, so autonom abstains instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autonom.knowledge.chunk import sentence_spans
from autonom.knowledge.index import CollectionIndex
from autonom.knowledge.retrieve import Hit
from autonom.knowledge.text import STOPWORDS, guess_language, numbers, tokens

# What a question asks for → a pattern its answer must contain, and the question's own words
# that name that kind (they count as covered when the pattern is found).
_N = r"\d+(?:[.,]\d+)?"
ANSWER_KINDS: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("money", re.compile(r"\b(?:was\s+kostet|kosten|kostet|preis\w*|teuer|gehalt|lohn|"
                         r"verdien\w*|umsatz\w*\s+in\s+euro|how\s+much\s+does|price|cost|"
                         r"salary)\b", re.I),
     re.compile(_N + r"\s*(?:€|eur\b|euro\b)|(?:€|eur)\s*" + _N + r"|preis[^:;]*:\s*" + _N,
                re.I)),
    ("weight", re.compile(r"\b(?:wiegt|wiegen|gewicht|schwer|weigh\w*|weight)\b", re.I),
     re.compile(_N + r"\s*(?:kg|g|t|tonnen)\b", re.I)),
    ("duration", re.compile(r"\b(?:wie\s+lange|frist|dauer|lieferzeit|wie\s+schnell|"
                            r"wie\s+viel\s+zeit|how\s+long|how\s+quickly|deadline)\b", re.I),
     re.compile(_N + r"\s*(?:sekunden|minuten|stunden|tage\w*|arbeitstage\w*|wochen|"
                     r"monate\w*|jahre\w*|h|min|days?|weeks?|months?|years?|hours?)\b"
                     r"|lieferzeit[^:;]*:\s*" + _N, re.I)),
    ("frequency", re.compile(r"\b(?:wie\s+oft|wie\s+häufig|how\s+often)\b", re.I),
     re.compile(r"\balle\s+" + _N + r"|\b(?:jährlich|monatlich|wöchentlich|täglich|"
                r"halbjährlich|every|annually|monthly|weekly|daily)\b", re.I)),
    ("length", re.compile(r"\b(?:wie\s+tief|wie\s+weit|wie\s+groß|wie\s+lang\b|abstand|"
                          r"länge|tiefe|how\s+deep|how\s+far|distance)\b", re.I),
     re.compile(_N + r"\s*(?:mm|cm|m|km)\b", re.I)),
    ("share", re.compile(r"\b(?:anteil|umsatzanteil|prozent|percent|share)\w*", re.I),
     re.compile(_N + r"\s*(?:%|prozent)", re.I)),
    ("date", re.compile(r"\b(?:wann|seit\s+wann|ab\s+wann|datum|when)\b", re.I),
     re.compile(r"\b(?:19|20)\d\d\b|\d{1,2}\.\s*\d{1,2}\.|\d{1,2}\.\s+[A-ZÄÖÜ][a-zä]+", re.I)),
    ("reason", re.compile(r"\b(?:warum|weshalb|wieso|weswegen|ursache|grund|why|cause)\b",
                          re.I),
     re.compile(r"\b(?:weil|wegen|aufgrund|ursache|grund|durch|daher|deshalb|führte|"
                r"because|due\s+to|caused|reason)\b", re.I)),
    ("count", re.compile(r"\b(?:wie\s+viele|wie\s+hoch|wie\s+viel|ab\s+welchem|how\s+many|"
                         r"how\s+high|how\s+much)\b", re.I),
     re.compile(r"\d")),
]

# Parts of a sentence that only say when a document was written are not evidence for
# questions about the subject itself.
_METADATA_LINE = re.compile(r"^\s*(?:stand|gültig\s+ab|version|as\s+of|dokument|verfasst|"
                            r"erstellt|autor|author|written)\b|^\W*(?:dies\w*|this)\s+\w+\s+"
                            r"(?:ersetzt|replaces|supersedes)\b", re.I)
_ABOUT_VALIDITY = re.compile(r"\b(?:stand|gültig|aktuell|version|fassung|valid|current)\w*",
                             re.I)

CONTEXT_WEIGHT = 0.8
VERB_WEIGHT = 0.5
MIN_COVERAGE = 0.55


@dataclass
class Candidate:
    hit: Hit
    start: int
    end: int
    quote: str
    readable: str
    coverage: float = 0.0
    missing_key: list[str] = field(default_factory=list)
    kind_ok: bool = True
    score: float = 0.0

    @property
    def source(self) -> str:
        return self.hit.source


@dataclass(frozen=True)
class QuestionTerms:
    terms: list[str]
    weights: dict[str, float]
    key: set[str]
    numbers: set[str]
    kinds: list[tuple[str, re.Pattern[str], re.Pattern[str]]]
    kind_words: set[str]
    about_validity: bool


def analyse(question: str) -> QuestionTerms:
    language = guess_language(question)
    kinds = [k for k in ANSWER_KINDS if k[1].search(question)]
    if len(kinds) > 1:  # "wie viel" is generic: a more specific kind replaces it
        kinds = [k for k in kinds if k[0] != "count"]
    kind_words = {t for _, asks, _ in kinds for m in asks.finditer(question)
                  for t in tokens(m.group(), language, keep_stopwords=True)}
    weights: dict[str, float] = {}
    key: set[str] = set()
    words = list(re.finditer(r"[^\W_]+(?:-[^\W_]+)*", question))
    for position, match in enumerate(words):
        word = match.group()
        for token in tokens(word, language):
            if token in kind_words:
                continue
            # German nouns and names are capitalised; so are codes and numbers everywhere.
            noun = (word[0].isupper() and position > 0) or any(c.isdigit() for c in word)
            weights[token] = max(weights.get(token, 0.0), 1.0 if noun else VERB_WEIGHT)
            if noun and (language == "de" or any(c.isdigit() for c in word)
                         or word.isupper()):
                key.add(token)
            elif language == "en" and not word.lower().endswith(("ed", "ing")):
                # English does not mark nouns; every content word but verb forms is key
                weights[token] = 1.0
                key.add(token)
    kind_words -= STOPWORDS
    return QuestionTerms(list(weights), weights, key, set(numbers(question)), kinds,
                         {w for w in kind_words if len(w) >= 4},
                         bool(_ABOUT_VALIDITY.search(question)))


def candidates(hits: list[Hit], texts: dict[int, str]) -> list[Candidate]:
    """Sentences of the retrieved chunks (table rows whole), never from flagged chunks."""
    out: list[Candidate] = []
    for hit in hits:
        chunk, document = hit.entry.chunk, hit.entry.document
        if chunk.injection or document.id not in texts:
            continue
        text = texts[document.id]
        if chunk.kind == "row":
            out.append(Candidate(hit, chunk.start, chunk.end, text[chunk.start:chunk.end],
                                 chunk.body))
            continue
        for start, end in sentence_spans(text, chunk.start, chunk.end):
            quote = text[start:end]
            out.append(Candidate(hit, start, end, quote, " ".join(quote.split())))
    return out


def _present(token: str, vocabulary: set[str]) -> bool:
    if token in vocabulary:
        return True
    # German compounds: "Abstand" is in "Mindestabstand", "Service" in "PumpenService".
    return len(token) >= 4 and not token[0].isdigit() and any(
        token in word for word in vocabulary if len(word) > len(token))


def score(candidate: Candidate, question: QuestionTerms, index: CollectionIndex) -> Candidate:
    entry = candidate.hit.entry
    own = set(tokens(candidate.readable))
    context = set(entry.tokens)
    if not question.about_validity and _METADATA_LINE.match(candidate.readable):
        candidate.kind_ok = False
        candidate.score = -1.0
        return candidate
    total = covered = 0.0
    missing: list[str] = []
    for term in question.terms:
        weight = question.weights[term] * index.idf(term)
        total += weight
        if _present(term, own):
            covered += weight
        elif _present(term, context):
            covered += CONTEXT_WEIGHT * weight
        elif term in question.key:
            missing.append(term)
    candidate.coverage = covered / total if total else 0.0
    found_numbers = set(numbers(entry.index_text)) | set(numbers(candidate.readable))
    missing += [n for n in question.numbers if n not in found_numbers]
    candidate.missing_key = missing
    candidate.kind_ok = all(pattern.search(candidate.readable)
                            for _, _, pattern in question.kinds)
    # the question's own kind word in the sentence ("wie tief" ~ "Eintauchtiefe")
    named = any(_present(word, own) for word in question.kind_words)
    candidate.score = (candidate.coverage + (0.3 if candidate.kind_ok else 0.0)
                       + (0.3 if named else 0.0)
                       + 20 * candidate.hit.score - 0.5 * len(missing)
                       - (0.2 if candidate.hit.outdated else 0.0))
    return candidate


def best(question: str, hits: list[Hit], texts: dict[int, str],
         index: CollectionIndex) -> tuple[Candidate | None, list[Candidate]]:
    """The best-supported sentence, or ``None`` when no sentence answers the question."""
    terms = analyse(question)
    scored = sorted((score(c, terms, index) for c in candidates(hits, texts)),
                    key=lambda c: -c.score)
    passing = [c for c in scored if passes(c)]
    return (passing[0] if passing else None), scored


def passes(candidate: Candidate) -> bool:
    """Evidence that may answer: current, all key terms, the asked-for kind of value, and
    enough of the question's words."""
    return (not candidate.hit.outdated and not candidate.missing_key and candidate.kind_ok
            and candidate.coverage >= MIN_COVERAGE)


def unsupported_numbers(answer: str, quotes: list[str]) -> list[str]:
    """Numbers in ``answer`` that none of the quotes contains (``5,5`` = ``5.5``)."""
    known = {n for quote in quotes for n in numbers(quote)}
    return [n for n in numbers(answer) if n not in known]


def unsupported_names(answer: str, quotes: list[str], question: str) -> list[str]:
    """Capitalised words of ``answer`` (names, nouns, units) found in neither the quotes nor
    the question, compared by stem; words at sentence starts are not names."""
    known = {t for text in [*quotes, question] for t in tokens(text)}
    known |= {t for text in [*quotes, question] for t in tokens(text, "en")}
    out = []
    for match in re.finditer(r"(?<![.!?:]\s)(?<!^)\b[A-ZÄÖÜ][\w-]{2,}", answer):
        word = match.group()
        if word.lower() in STOPWORDS:
            continue
        stems = tokens(word)
        if stems and not any(_present(s, known) for s in stems):
            out.append(word)
    return out

