"""Finding the unit that answers a question, and deciding whether there is one.

Candidate units (sentences, list lines, table rows: :mod:`autonom.knowledge.units`) come from
the retrieved chunks. Each gets features: how much of the question it covers by stems
(German compounds included), alone and with its heading path, the unit before it and its
chunk; which key terms (German nouns, names, codes, numbers) it lacks; whether it holds the
kind of value asked for (a weight, a price, a date …); its chunk's retrieval scores; and, for
the best few, the cosine of its own embedding with the question (which also lets an English
question find a German sentence). A logistic model fitted on question sets
(:mod:`autonom.knowledge.selector`) turns them into the probability that the unit answers;
below a threshold calibrated on data, autonom abstains.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from autonom.knowledge.chunk import index_text
from autonom.knowledge.index import SearchIndex
from autonom.knowledge.parse import SECTION_NUMBER
from autonom.knowledge.retrieve import Hit
from autonom.knowledge.selector import softmax
from autonom.knowledge.text import STOPWORDS, guess_language, numbers, tokens
from autonom.knowledge.units import LIST_MARKER, unit_spans

if TYPE_CHECKING:
    from autonom.knowledge.selector import Logistic, Selector

# What a question asks for → a pattern its answer must contain, and the question's own words
# that name that kind (they count as covered when the pattern is found).
_N = (r"(?:\d+(?:[.,]\d+)?|ein(?:e[nm]?)?|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|"
      r"elf|zwölf|zwanzig|dreißig|one|two|three|four|five|six|seven|eight|nine|ten)")
_TITLES = r"(?:Herrn?|Frau|Dr\.|Prof\.|Mr\.|Ms\.)"
"""Titles before a surname (``Herr Ebert``)."""
_ARTICLES = ("der die das den dem des ein eine einen einem einer im am zum zur vom beim "
             "unser unsere unseren unserem für mit von bei nach the our")
ANSWER_KINDS: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("money", re.compile(r"\b(?:was\s+kostet|kosten|kostet|preis\w*|teuer|gehalt|lohn|"
                         r"verdien\w*|(?:was|wie\s+viel)\s+(?:\w+\s+)?(?:zahl|bezahl|verlang|"
                         r"berechn)\w*|in\s+rechnung|gebühr\w*|aufpreis|\w*pauschale|vergütung|kaution|pfand|"
                         r"(?:leasing|monats|miet|jahres|finanzierungs|raten)rate\w*|"
                         r"umsatz\w*\s+in\s+euro|prices?|costs?|fees?|charges?|charged|deposit|"
                         r"how\s+much\s+(?:do|does|did|will|would)\s+\w+\s+(?:pay|charge)|"
                         r"salary)\b", re.I),
     re.compile(_N + r"\s*(?:€|eur\b|euro\b)|(?:€|eur\b|euro\b)\W{0,3}\s*" + _N
                + r"|preis[^:;]*:\s*" + _N, re.I)),
    ("weight", re.compile(r"\b(?:wiegt|wiegen|\w*gewicht|schwer|weigh\w*|weight|heavy)\b", re.I),
     re.compile(_N + r"\s*(?:kg|g|t|tonnen)\b", re.I)),
    ("duration", re.compile(r"\b(?:wie\s+lange|\w*frist|dauer|lieferzeit|wie\s+schnell|"
                            r"wie\s+früh|wie\s+lange\s+vorher|vorlauf\w*|how\s+early|"
                            r"how\s+far\s+in\s+advance|"
                            r"wie\s+viele[nr]?\s+(?:\w+tage\w*|tage\w*|wochen|monate\w*|"
                            r"jahre\w*|stunden|minuten)|innerhalb\s+welche\w*|"
                            r"how\s+many\s+(?:days|weeks|months|years|hours)|"
                            r"wie\s+viel\s+zeit|how\s+long|how\s+quickly|deadline)\b", re.I),
     re.compile(_N + r"\s*(?:sekunden|minuten|stunden|tage\w*|arbeitstage\w*|wochen|"
                     r"monate\w*|jahre\w*|h|min|days?|weeks?|months?|years?|hours?)\b"
                     r"|lieferzeit[^:;]*:\s*" + _N, re.I)),
    ("frequency", re.compile(r"\b(?:wie\s+oft|wie\s+häufig|how\s+often)\b", re.I),
     re.compile(r"\balle\s+" + _N + r"|\d+\s*-?\s*mal\b|\b(?:jährlich|monatlich|wöchentlich|"
                r"täglich|halbjährlich|every|annually|monthly|weekly|daily)\b", re.I)),
    ("length", re.compile(r"\b(?:wie\s+tief|wie\s+weit|wie\s+groß|wie\s+lang\b|abstand|"
                          r"länge|tiefe|wie\s+breit|breite|abmessung\w*|maße|reichweite|"
                          r"how\s+deep|how\s+far|how\s+wide|width|how\s+tall|height|"
                          r"dimensions?|distance)\b", re.I),
     re.compile(_N + r"\s*(?:mm|cm|m|km)\b", re.I)),
    ("share", re.compile(r"\b(?:anteil|umsatzanteil|prozent|percent|share|rabatt|discount|"
                         r"\w*quote\b|rate\b)\w*", re.I),
     re.compile(_N + r"\s*(?:%|prozent)", re.I)),
    ("date", re.compile(r"\b(?:wann|seit\s+wann|ab\s+wann|datum|what\s+date|by\s+when)\b|"
                        r"^\W*(?:since\s+|from\s+|until\s+)?when\b", re.I),
     re.compile(r"\b(?:19|20)\d\d\b|\d{1,2}\.\s*\d{1,2}\.|\d{1,2}\.\s+[A-ZÄÖÜ][a-zä]+", re.I)),
    ("reason", re.compile(r"\b(?:warum|weshalb|wieso|weswegen|ursache|grund|why|cause)\b",
                          re.I),
     re.compile(r"\b(?:weil|wegen|aufgrund|ursache|grund|durch|daher|deshalb|führte|"
                r"because|due\s+to|caused|reason)\b", re.I)),
    ("pressure", re.compile(r"\b(?:\w*druck\w*|pressure)\b", re.I),
     re.compile(_N + r"\s*(?:bar|mbar|pa|hpa|kpa|mpa|psi)\b|\bPN\s?\d+", re.I)),
    ("power", re.compile(r"\b(?:(?!förder|schall)\w*leistung(?:saufnahme)?\b|watt|"
                         r"\w*stromverbrauch|stromaufnahme|power|output)\b", re.I),
     re.compile(_N + r"\s*(?:kw|w|mw|ps|kva|va)\b", re.I)),
    ("temperature", re.compile(r"\b(?:\w*temperatur\w*|wie\s+(?:warm|kalt|heiß)|"
                               r"temperature)\b", re.I),
     re.compile(_N + r"\s*°\s*[CF]|" + _N + r"\s*(?:grad|kelvin|k)\b", re.I)),
    ("voltage", re.compile(r"\b(?:\w*spannung|volt\w*|voltage)\b", re.I),
     re.compile(_N + r"\s*(?:v|kv|volt)\b", re.I)),
    ("volume", re.compile(r"\b(?:volumen|fassungsvermögen|inhalt|liter|wie\s+viel\s+passt|"
                          r"capacity|volume)\b", re.I),
     re.compile(_N + r"\s*(?:l|liter|m³|m3|ml|hl|litres?|liters?)\b", re.I)),
    ("flow", re.compile(r"\b(?:förderstrom|durchfluss\w*|förderleistung|zapfmenge|"
                        r"flow\s+rate)\b", re.I),
     re.compile(_N + r"\s*(?:m³/h|m3/h|l/min|l/h|l/s)", re.I)),
    ("noise", re.compile(r"\b(?:lautstärke|wie\s+laut|schall\w*|geräusch\w*|noise|loud\w*)\b",
                         re.I),
     re.compile(_N + r"\s*db", re.I)),
    ("bandwidth", re.compile(r"\b(?:bandbreite|anbindung|datenrate|bandwidth)\b", re.I),
     re.compile(_N + r"\s*(?:[kmgt]bit/s|[kmgt]b/s|[kmgt]bps)", re.I)),
    ("term", re.compile(r"\b(?:wie\s+lautet|wie\s+heißt|wie\s+nennt\s+man|als\s+was|"
                        r"welche[rn]?\s+(?:begriff|bezeichnung|name[n]?|ausdruck)|"
                        r"what\s+is\s+the\s+(?:name|term)|what\s+is\s+\w+\s+called)\b", re.I),
     re.compile(r"\b(?:bekannt\s+als|genannt|heißt|hießen|bezeichnet|nennt\s+man|"
                r"bezeichnung|begriff|name[n]?|known\s+as|called|named|term)\b", re.I)),
    ("person", re.compile(r"\b(?:wer|wem|wen|wessen|who|whom|whose|"
                          r"(?:welche[rnm]?|which)\s+(?:\w+\s+)?(?:person|mitarbeiter\w*|"
                          r"ansprechpartner\w*|kolleg\w*|abteilung|stelle|team))\b", re.I),
     # a title and a name, or two capitalised words that are not an article's noun phrase
     # ("der Leiter Rechenzentrum"): "Herr Brodbeck", "erstellt Florian Straßer."
     re.compile(r"(?-i:\b" + _TITLES + r"\s+[A-ZÄÖÜ][\w-]*|"
                + "".join(rf"(?<!\b{w} )" for w in _ARTICLES.split())
                + r"\b(?!(?:" + _ARTICLES.title().replace(" ", "|") + r")\b)"
                r"[A-ZÄÖÜ][a-zäöüß]+ [A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?\b(?! [a-zäöüß]))"
                r"|\b(?:\w*leiter(?:in)?|\w*leitung|geschäftsführ\w*|\w*beauftragte[rn]?|"
                r"vorgesetzte\w*|\w*verantwortliche[rn]?|\w*abteilung|team\s+\w+|"
                r"disposition|manager(?:in)?)\b", re.I)),
    ("count", re.compile(r"\b(?:wie\s+viele[nr]?|wie\s+hoch|wie\s+viel|ab\s+welchem|how\s+many|"
                         r"how\s+high|how\s+much)\b", re.I),
     re.compile(r"\d")),
]

MEASURED = frozenset({"money", "weight", "length", "share", "pressure", "power", "temperature",
                      "voltage", "volume", "flow", "noise", "bandwidth"})
"""Kinds of value that come with a unit: a question asking for one is not answered by a
unit without such a value."""

# Parts of a sentence that only say when a document was written are not evidence for
# questions about the subject itself.
_METADATA_LINE = re.compile(r"^\s*(?:stand|gültig\s+ab|version|as\s+of|dokument|verfasst|"
                            r"erstellt|autor|author|written)\b|^\W*(?:dies\w*|this)\s+\w+\s+"
                            r"(?:ersetzt|replaces|supersedes)\b", re.I)
_ABOUT_VALIDITY = re.compile(r"\b(?:stand|gültig|aktuell|version|fassung|valid|current)\w*",
                             re.I)
_LABEL = re.compile(r"^\**([^:\n]{2,50}?)\**\s*:\s*\S")

VERB_WEIGHT = 0.5
UNITS_PER_CHUNK = 40
DENSE_UNITS = 3
"""Units whose own embedding is computed per question (the best ones by the cheap features);
embedding costs about 9 ms per unit on two cores."""
DENSE_UNITS_ACROSS_LANGUAGES = 8
"""The same for a question in another language than the documents (English about German)."""
EMBED_CHARS = 160
"""A long unit (a table row with many columns) is compared by its beginning."""


@dataclass
class Candidate:
    """One answer unit of a retrieved chunk, with what the selector made of it."""

    hit: Hit
    start: int
    end: int
    quote: str
    readable: str
    rank: int = 0
    """Rank of its chunk in the retrieval result (1 = best)."""
    previous: str = ""
    """The unit before it in the same chunk (an FAQ's question, a list's lead-in)."""
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0
    head: str = ""
    """The first line of its block when it is a label or list line below it: what a person's
    or a product's attribute lines belong to (``Jörg Nowak`` above ``Vertretung: Nils
    Ebert``), like a heading that nobody marked as one."""
    lead: str = ""
    """The sentence before it when it refers back to it (``An diesen Tagen …`` after the
    sentence naming the days): part of its quote and of the answer, not of its features."""

    @property
    def answer_text(self) -> str:
        return f"{self.lead} {self.readable}" if self.lead else self.readable

    @property
    def source(self) -> str:
        return self.hit.source

    @cached_property
    def valued(self) -> str:
        """The readable text with the unit a table header names after each value
        (:func:`with_header_units`): what the kind of value asked for is looked for in."""
        return with_header_units(self.readable)


@dataclass(frozen=True)
class QuestionTerms:
    language: str
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
            # German nouns and names are capitalised; so are codes and numbers everywhere.
            code = any(c.isdigit() or c.isupper() for c in word[1:])  # "eTGM", "BS-100"
            noun = (word[0].isupper() and position > 0) or code
            if token in kind_words:
                if noun:  # "Urlaubstage", "Lieferzeit": names the value, counts as a term
                    weights[token] = max(weights.get(token, 0.0), 1.0)
                continue
            weights[token] = max(weights.get(token, 0.0), 1.0 if noun else VERB_WEIGHT)
            if noun and (language == "de" or code or word.isupper()):
                key.add(token)
            elif language == "en" and not word.lower().endswith(("ed", "ing")):
                weights[token] = 1.0
                key.add(token)
    kind_words -= STOPWORDS
    return QuestionTerms(language, list(weights), weights, key, set(numbers(question)), kinds,
                         {w for w in kind_words if len(w) >= 4},
                         bool(_ABOUT_VALIDITY.search(question)))


def candidates(hits: list[Hit], texts: dict[int, str]) -> list[Candidate]:
    """Answer units of the retrieved chunks (table rows whole), never from flagged chunks."""
    out: list[Candidate] = []
    for rank, hit in enumerate(hits, 1):
        chunk, document = hit.entry.chunk, hit.entry.document
        if chunk.injection or document.id not in texts:
            continue
        text = texts[document.id]
        if chunk.kind == "row":
            out.append(Candidate(hit, chunk.start, chunk.end, text[chunk.start:chunk.end],
                                 chunk.body, rank))
            continue
        previous, previous_start = "", chunk.start
        for start, end in unit_spans(text, chunk.start, chunk.end)[:UNITS_PER_CHUNK]:
            quote = text[start:end]
            readable = _LEADER.sub(": ", " ".join(quote.split()))
            if previous and _REFERS_BACK.match(readable):
                # "An diesen Tagen …" says nothing without the sentence naming the days: it is
                # scored on its own words but quoted and answered together with that sentence
                out.append(Candidate(hit, previous_start, end, text[previous_start:end],
                                     readable, rank, previous, lead=previous))
            else:
                out.append(Candidate(hit, start, end, quote, readable, rank, previous,
                                     head=_block_head(text, chunk.start, start, readable)))
            previous, previous_start = readable, start
    return out


def _block_head(text: str, floor: int, start: int, readable: str) -> str:
    """The first line of the paragraph holding a label or list line, when it is another,
    short line: the subject of the lines below it."""
    line_start = max(text.rfind("\n", floor, start) + 1, floor)
    prefix = _LINE_PREFIX.fullmatch(text[line_start:start])
    if not prefix or not (prefix.group(1) or _LABEL.match(readable)):
        return ""  # a sentence inside a paragraph, or a line that is neither label nor item
    blanks = list(_BLANK_LINE.finditer(text, floor, line_start))
    block = blanks[-1].end() if blanks else floor
    end = text.find("\n", block, line_start)
    if end < 0:
        return ""  # the unit is on the paragraph's first line
    raw = text[block:end]
    if _ITEM_START.match(raw) or _LABEL.match(raw.strip()):
        return ""  # the first of the same list's lines, not what they are about
    first = raw.strip(" \t#*-•")
    return first if 0 < len(first) <= 80 and not first.endswith(".") else ""


_ITEM_START = re.compile(rf"[ \t]*{LIST_MARKER}[ \t]")
_LINE_PREFIX = re.compile(rf"[ \t]*({LIST_MARKER}[ \t]+)?")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


_LEADER = re.compile(r"\s*\.{4,}\s*")
"""Dot leaders of plain-text spec sheets (``Innenvolumen ........ 55 l``) read as a colon."""

_REFERS_BACK = re.compile(
    r"(?:(?:an|in|zu|bei|mit|von|für|nach|vor|seit|ab|bis|auf|aus|unter|über)\s+)?"
    r"(?:dies(?:e[nmrs]?)?|dort|dabei|dafür|dazu|damit|davon|daraus|darin|hierfür|hierzu|"
    r"hierbei|these|this|those|there)\b", re.I)


def _present(token: str, vocabulary: set[str]) -> bool:
    if token in vocabulary:
        return True
    if len(token) < 4 or token[0].isdigit():
        return False
    # German compounds: "Abstand" is in "Mindestabstand", "Service" in "PumpenService" …
    # (but "ungebremst" is the opposite of "gebremst", not a kind of it)
    if any(token in word and not word.startswith("un" + token)
           for word in vocabulary if len(word) > len(token)):
        return True
    # … and "Meisterstunde" is "Meister" and "Stunde" written as two words.
    if len(token) >= 8:
        heads = [w for w in vocabulary if len(w) >= 4 and token.startswith(w)]
        tails = [w for w in vocabulary if len(w) >= 4 and token.endswith(w)]
        return bool(heads and tails)
    return False


def _coverage(question: QuestionTerms, vocabulary: set[str], index: SearchIndex
              ) -> tuple[float, set[str]]:
    """IDF-weighted share of the question's terms found, and the key terms missing."""
    total = covered = 0.0
    missing: set[str] = set()
    for term in question.terms:
        weight = question.weights[term] * index.idf(term)
        total += weight
        if _present(term, vocabulary):
            covered += weight
        elif term in question.key:
            missing.add(term)
    return (covered / total if total else 0.0), missing


def cheap_features(candidate: Candidate, question: QuestionTerms, index: SearchIndex,
                   best_hit: Hit) -> dict[str, float]:
    """What the selector knows of a unit before its embedding is computed."""
    entry, hit = candidate.hit.entry, candidate.hit
    language = entry.language
    own = set(tokens(candidate.readable, language))
    in_range = _in_range(question.numbers, candidate.readable)
    if in_range:  # "700 km" is what the 651–800 km row is about
        own |= question.numbers
    context = own | entry.heading_tokens | set(tokens(candidate.head, language))
    lex, missing_own = _coverage(question, own, index)
    lex_ctx, missing = _coverage(question, context, index)
    lex_chunk, _ = _coverage(question, set(entry.tokens), index)
    lex_prev, _ = _coverage(question, set(tokens(candidate.previous, language)), index)
    found_numbers = set(numbers(entry.index_text))
    kinds_asked = bool(question.kinds)
    kind_ok = kinds_asked and any(_holds_kind(name, p, candidate.valued, question)
                                  for name, _, p in question.kinds)
    label = _LABEL.match(candidate.readable)
    label_lex = (_coverage(question, set(tokens(label.group(1), language)), index)[0]
                 if label else 0.0)
    key_total = len(question.key) or 1
    novel = [t for t in own if not _present(t, set(question.terms))]
    return {
        "novelty": len(novel) / len(own) if own else 0.0,
        "lex": lex,
        "lex_context": lex_ctx,
        "lex_chunk": lex_chunk,
        "lex_previous": lex_prev,
        "key_missing": len(missing) / key_total,
        "key_missing_own": len(missing_own) / key_total,
        "number_missing": float(not in_range and any(n not in found_numbers
                                                     for n in question.numbers)),
        "kind_match": float(kind_ok),
        "kind_miss": float(kinds_asked and not kind_ok),
        "kind_named": float(any(_present(w, own) for w in question.kind_words)),
        "label_lex": label_lex,
        "retrieval": hit.score / best_hit.score if best_hit.score else 0.0,
        "rank_inverse": 1.0 / candidate.rank,
        "chunk_dense": (hit.dense or 0.0) - (best_hit.dense or 0.0),
        "item": float(bool(label) or entry.chunk.kind == "row"),
        "length": min(len(candidate.readable), 600) / 600,
        "has_number": float(bool(numbers(candidate.readable))),
        "metadata": float(bool(_METADATA_LINE.match(candidate.readable))),
        # a lead-in ("… richtet sich nach dem Arbeitsbereich:") or a bare heading-like
        # fragment ("2. URLAUB", "Ja.") names a subject but answers nothing itself
        "lead_in": float(candidate.readable.rstrip().endswith(":")),
        "bare": float(_is_bare(candidate.readable)),
        "in_range": float(in_range),
        "cross_language": float(language != question.language),
    }


def _is_bare(readable: str) -> bool:
    """Up to three words without a number, not a label line: ``2. URLAUB``, ``Ja.``."""
    if _LABEL.match(readable):
        return False
    core = _SECTION_NUMBER.sub("", readable)
    return len(core.split()) <= 3 and not numbers(core)


_SECTION_NUMBER = re.compile(rf"^\s*{SECTION_NUMBER}\s+")


def _holds_kind(kind: str, pattern: re.Pattern[str], text: str,
                question: QuestionTerms) -> bool:
    """Whether ``text`` holds a value of the kind asked for. A person named in the question
    is not the answer to who else ("Jörg Nowak ist im Urlaub – wer vertritt ihn?" is not
    answered by "Vertretung: Jörg Nowak")."""
    if kind != "person":
        return bool(pattern.search(text))
    asked = set(question.terms)
    for match in pattern.finditer(text):
        words = tokens(_TITLE.sub("", match.group()), question.language)
        if not words or not all(_present(w, asked) for w in words):
            return True
    return False


_TITLE = re.compile(r"\b" + _TITLES + r"\s*")


_RANGE = re.compile(r"(?:\b(?:von|ab|zwischen|from|between)\s+|[(\[]\s*)(\d[\d.,]*)\s*"
                    r"(?:[^\W\d]{1,6}\s+)?(?:bis|und|to|and|[-–])\s*(\d[\d.,]*)", re.I)
"""``von 651 bis 800 km``, ``zwischen 10 und 20``, ``(25 bis 60 km)``, ``(25–60 km)``."""
_FIELD = re.compile(r"([^:;]{1,60}):\s*(\d[\d.,]*)")
_LOW, _HIGH = re.compile(r"\b(?:von|ab|min\w*|from|untergrenze)\b", re.I), \
    re.compile(r"\b(?:bis|max\w*|to|obergrenze)\b", re.I)


def _value(text: str) -> float | None:
    found = numbers(text)
    try:
        return float(found[0]) if found else None
    except ValueError:
        return None


def _ranges(unit: str) -> list[tuple[float, float]]:
    """Ranges the unit states: ``von 651 bis 800 km``, ``zwischen 10 und 20``, or a table
    row's ``Entfernung von (km): 651; Entfernung bis (km): 800``."""
    pairs = [(_value(m.group(1)), _value(m.group(2))) for m in _RANGE.finditer(unit)]
    fields = _FIELD.findall(unit)
    pairs += [(_value(a[1]), _value(b[1])) for a, b in itertools.pairwise(fields)
              if _LOW.search(a[0]) and _HIGH.search(b[0])]
    return [(low, high) for low, high in pairs
            if low is not None and high is not None and low < high]


def _in_range(asked: set[str], unit: str) -> bool:
    """Whether a number of the question falls into a range the unit states (the row of a
    tariff table that applies to "gut 700 km")."""
    values = [float(n) for n in asked if re.fullmatch(r"\d+(?:\.\d+)?", n)]
    if not values:  # most questions: no need to look for ranges at all
        return False
    return any(low <= v <= high for low, high in _ranges(unit) for v in values)


def answers_at_all(unit: Candidate, question: QuestionTerms) -> bool:
    """Units that can never be the answer: those of outdated documents (when a newer one
    exists they are never cited), questions (an FAQ's question; its answer is the next
    unit) and lines about the document rather than its subject (``Stand: 04/2026``), unless
    the question asks about validity."""
    if unit.hit.outdated or unit.readable.endswith("?"):
        return False
    return question.about_validity or not _METADATA_LINE.match(unit.readable)


def _measured(unit: Candidate, question: QuestionTerms) -> bool | None:
    """Whether the unit holds a value of the measured kind asked for (None: none asked)."""
    patterns = [pattern for name, _, pattern in question.kinds if name in MEASURED]
    return any(p.search(unit.valued) for p in patterns) if patterns else None


_HEADER_UNIT = re.compile(r"[(\[]([^()\[\]\d]{1,12})[)\]]\s*:\s*[-−+]?\d(?:[\d.,]*\d)?")


def with_header_units(text: str) -> str:
    """A table row or spec line with the unit its header names repeated after each value:
    ``Gewicht (kg): 18,5`` reads ``Gewicht (kg): 18,5 kg``, so that it holds a weight."""
    if "(" not in text and "[" not in text:
        return text
    return _HEADER_UNIT.sub(lambda m: f"{m.group(0)} {m.group(1).strip()}", text)


def usable(units: list[Candidate], question: QuestionTerms) -> list[Candidate]:
    """The units that may answer; when the question asks for a measured value (a pressure,
    a price, a weight …), only units holding one: "Welchen Druck hat die HW-350?" is not
    answered by the HW-350's price-list row, and when no retrieved unit states a pressure
    at all, the documents most likely do not say."""
    kept = [u for u in units
            if answers_at_all(u, question) and _measured(u, question) is not False]
    return _applicable_ranges(kept, question)


def _applicable_ranges(units: list[Candidate], question: QuestionTerms) -> list[Candidate]:
    """When the question's number falls into a range that units of a document state (the
    rows of a tariff table by distance or weight), that document's units stating other
    ranges do not apply: "700 km" is answered by the 651–800 km row, not the 0–100 km one."""
    if not question.numbers:
        return units
    inside = {id(u) for u in units if _in_range(question.numbers, u.readable)}
    if not inside:
        return units
    holding = {u.hit.entry.document.id for u in units if id(u) in inside}
    return [u for u in units if u.hit.entry.document.id not in holding
            or id(u) in inside or not _ranges(u.readable)]


def scored_units(question: QuestionTerms, hits: list[Hit], texts: dict[int, str],
                 index: SearchIndex) -> list[Candidate]:
    """The units that may answer, each with its cheap features."""
    units = usable(candidates(hits, texts), question)
    for unit in units:
        unit.features = cheap_features(unit, question, index, hits[0])
        unit.probability = 0.0
    return units


def dense_stage(units: list[Candidate], first: Logistic) -> list[Candidate]:
    """Sorts ``units`` by the first model, best first, and returns the best few, which get
    their embedding compared; without shared words (a question in another language than
    the documents) the cheap features know little, so more units are compared by meaning."""
    units.sort(key=lambda c: -first.score(c.features))
    wide = bool(units) and units[0].features["cross_language"] > 0
    return units[:DENSE_UNITS_ACROSS_LANGUAGES if wide else DENSE_UNITS]


def rescore(top: list[Candidate], second: Logistic) -> None:
    """The probability of each of the best units to be the answer among them (a softmax of
    the second model's scores), best first."""
    for unit, p in zip(top, softmax([second.score(u.features) for u in top]), strict=True):
        unit.probability = p
    top.sort(key=lambda c: -c.probability)


def rank_units(question: QuestionTerms, hits: list[Hit], texts: dict[int, str],
               index: SearchIndex, query_vector: np.ndarray | None,
               embed: Callable[[list[str]], np.ndarray] | None,
               model: Selector) -> list[Candidate]:
    """Units of current documents, most probable answer first (``probability`` set).

    Two stages: every unit is scored on cheap features; the best few also get the cosine of
    their own embedding with the question, and are scored again with it. Units of outdated
    documents are not ranked at all: they are never the answer when a newer version exists.
    """
    units = scored_units(question, hits, texts, index)
    top = dense_stage(units, model.first)
    add_dense(top, index, query_vector, embed)
    rescore(top, model.second)
    return top + units[len(top):]


def _with_context(unit: Candidate) -> str:
    """What a unit's embedding is computed from: its heading path (which product a spec
    line belongs to), then the unit itself, cut to EMBED_CHARS."""
    entry = unit.hit.entry
    path = index_text(entry.document.title, entry.chunk.headings, "").strip()
    if unit.head:
        path = f"{path} {unit.head}".strip()
    text = f"{path}: {unit.readable}" if path else unit.readable
    return text[:EMBED_CHARS]


def add_dense(units: list[Candidate], index: SearchIndex, query_vector: np.ndarray | None,
              embed: Callable[[list[str]], np.ndarray] | None) -> None:
    """The cosine of each unit's own embedding with the question, and its gap to the best."""
    if units and query_vector is not None and embed is not None:
        vectors = index.unit_vectors([(c.hit.entry.document.id or 0, c.start, c.end,
                                       _with_context(c)) for c in units], embed)
        similarity = vectors @ query_vector.astype(np.float32)
        best = float(similarity.max())
        for unit, value in zip(units, similarity, strict=True):
            unit.features["dense"] = float(value)
            unit.features["dense_gap"] = float(value) - best
    for unit in units:
        unit.features.setdefault("dense", 0.0)
        unit.features.setdefault("dense_gap", -1.0)


def decision_features(ranked: list[Candidate], hits: list[Hit], ranker: Logistic,
                      question: QuestionTerms, index: SearchIndex) -> dict[str, float]:
    """What tells an answerable question from one the documents do not answer: how sure
    the selector is of its best unit and how far ahead of the next it is, how well that unit
    covers the question, and how close the collection comes to the question at all."""
    top = ranked[0].features
    second = ranked[1].probability if len(ranked) > 1 else 0.0
    return {
        "probability": ranked[0].probability,
        "score": ranker.score(top),
        "margin": ranked[0].probability - second,
        "lex": top["lex"], "lex_context": top["lex_context"],
        "key_missing": top["key_missing"], "kind_miss": top["kind_miss"],
        "kind_match": top["kind_match"], "kind_named": top["kind_named"],
        "label_lex": top["label_lex"], "lex_previous": top["lex_previous"],
        "number_missing": top["number_missing"], "dense": top.get("dense", 0.0),
        "best_dense": max((h.dense or 0.0) for h in hits),
        # (no BM25 score: it grows with the collection, a one-file collection has tiny ones)
        "cross_language": top["cross_language"],
        # key terms the collection does not contain anywhere ("Förderhöhe" when no document
        # states one): the question is probably about something the documents lack
        # (a number inside a range the best unit states is known: "700 km" in "651–800 km")
        "key_unknown": (sum(not index.document_frequency.get(t, 0) for t in question.key
                            if not (top["in_range"] and t in question.numbers))
                        / (len(question.key) or 1)),
    }


def best(question: str, hits: list[Hit], texts: dict[int, str], index: SearchIndex,
         query_vector: np.ndarray | None, embed: Callable[[list[str]], np.ndarray] | None,
         model: Selector) -> tuple[list[Candidate], float]:
    """The answer units, most probable first, and the probability that answering with the
    first is right (0 when there is none)."""
    terms = analyse(question)
    ranked = rank_units(terms, hits, texts, index, query_vector, embed, model)
    if not ranked:
        return ranked, 0.0
    add_dense(second_sources(ranked), index, query_vector, embed)
    return ranked, model.decide(decision_features(ranked, hits, model.second, terms, index))


SECOND_SOURCES = 3
"""Units of other documents, beyond the best few, whose embedding is compared as well, so
that a second document stating the same value, or another one, is recognised."""


def second_sources(ranked: list[Candidate]) -> list[Candidate]:
    """The units of other documents than the best unit's that could state its value too:
    they hold the kind of value asked for and the question's key terms."""
    best_unit = ranked[0]
    if not numbers(best_unit.readable) or not best_unit.features.get("kind_match"):
        return []
    out = [u for u in ranked if "dense" not in u.features and u.source != best_unit.source
           and numbers(u.readable) and states_the_same_kind(best_unit, u)]
    return out[:SECOND_SOURCES]


def states_the_same_kind(chosen: Candidate, other: Candidate) -> bool:
    """Whether ``other`` could state what ``chosen`` states, by its cheap features: the kind
    of value asked for, the question's key terms, much of its wording."""
    mine, theirs = chosen.features, other.features
    return (theirs.get("kind_match", 0.0) >= mine.get("kind_match", 0.0)
            and theirs.get("key_missing", 1.0) <= mine.get("key_missing", 0.0)
            and theirs.get("lex", 0.0) >= 0.5 * mine.get("lex", 0.0))


SUPPORT_PROBABILITY = 0.1


def passes(candidate: Candidate) -> bool:
    """Evidence that may back an answer: current, and among the selector's likely units."""
    return not candidate.hit.outdated and candidate.probability >= SUPPORT_PROBABILITY


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

