"""Words and numbers: tokenising, stemming (German and English) and number normalisation.

Retrieval, answer selection and answer verification all see text through this module, so
``5,5 kW`` in a question matches ``5,5 kW`` in a data sheet, ``Mängel`` matches ``Mangel`` and
the product code ``KP-55`` is one searchable token besides its parts.
"""

from __future__ import annotations

import re
from functools import lru_cache

# German-first stop words plus the English ones; question words are stop words too, since
# they never occur in the answer's wording.
_STOP_DE = """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
auch auf aus bei beim bin bis bist da damit dann das dass dein deine dem den denn der des
dessen die dies diese diesem diesen dieser dieses doch dort du durch ein eine einem einen
einer eines er es etwa euer eure für gegen gibt hab habe haben hat hatte hätte ich ihr ihre
im in ist ja jede jedem jeden jeder jedes jetzt kann kein keine können könnte man manche mehr
mein meine mit muss müssen musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine
sich sie sind so solche soll sollen sollte sondern sonst über um und uns unser unsere unter
vom von vor war waren warum was weil welche welchem welchen welcher welches wenn wer werden
wie wieso wir wird wo woher wohin wurde wurden zu zum zur zwar zwischen wann wieviel wieviele
viel viele vielen hoch groß lange oft schnell bekommt gibt haben hat darf dürfen
lautet heißt heißen gilt beträgt welchen welchem innerhalb ab
"""
_STOP_EN = """
a about an and any are as at be been but by can could did do does for from had has have how
i if in into is it its may might must no not of on or our shall should so than that the their
them then there these they this those to under up was we were what when where which who whom
why will with would you your much many long often
"""
STOPWORDS = frozenset((_STOP_DE + _STOP_EN).split())

_GERMAN_HINTS_TEXT = """der die das und ist nicht für mit von zu den im auf eine ein wird
sind bei dem wie welche wer was"""
_ENGLISH_HINTS_TEXT = "the and is are of to for with on what which who how does"
_GERMAN_HINTS = frozenset(_GERMAN_HINTS_TEXT.split())
_ENGLISH_HINTS = frozenset(_ENGLISH_HINTS_TEXT.split())

# A token: a number with decimal comma/point and thousands separators, or a word (letters,
# digits, joined by hyphens such as "KP-55" or "Edelstahl-Laufrad").
_TOKEN = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?|[^\W_]+(?:-[^\W_]+)*")
_NUMBER = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?(?!\d)|\d+(?:[.,]\d+)?")


def normalize_number(text: str) -> str:
    """Canonical form of a number as written in German or English: ``1.395,50`` → ``1395.5``.

    ``5,5`` and ``5.5`` both become ``5.5``; a dot followed by exactly three digits after one
    to three digits is a German thousands separator (``2.480`` → ``2480``).
    """
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", text):
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", ".")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.lstrip("0") or "0"


def numbers(text: str) -> list[str]:
    """Every number in ``text``, normalised."""
    return [normalize_number(m.group()) for m in _NUMBER.finditer(text)]


def guess_language(text: str) -> str:
    """``"de"`` or ``"en"`` from function words; German when in doubt."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    german = sum(w in _GERMAN_HINTS for w in words)
    english = sum(w in _ENGLISH_HINTS for w in words)
    return "en" if english > german else "de"


_CARDINALS = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf", 0)
_ORDINALS = ("- erst zweit dritt viert fünft sechst siebt acht neunt zehnt elft zwölft", 0)
_EN_CARDINALS = ("zero one two three four five six seven eight nine ten eleven twelve", 0)
_EN_ORDINALS = ("- first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
                "twelfth", 0)
NUMBER_WORDS: dict[str, str] = {"zwanzig": "20", "dreißig": "30", "hundert": "100",
                                "tausend": "1000", "twenty": "20", "thirty": "30",
                                "hundred": "100", "thousand": "1000", "beiden": "2",
                                "zweimal": "2", "dreimal": "3", "once": "1", "twice": "2"}
for _words, _ in (_CARDINALS, _EN_CARDINALS):
    NUMBER_WORDS.update({w: str(i) for i, w in enumerate(_words.split())})
for _stem in _ORDINALS[0].split()[1:]:
    i = _ORDINALS[0].split().index(_stem)
    NUMBER_WORDS.update({_stem + end: str(i) for end in ("e", "en", "er", "es", "em")})
for _word in _EN_ORDINALS[0].split()[1:]:
    NUMBER_WORDS[_word] = str(_EN_ORDINALS[0].split().index(_word))
"""Number words and ordinals as the digits they stand for: ``drei`` and ``dritten`` match
``3`` and ``3.`` in a document (``im dritten Lehrjahr`` ~ ``3. Ausbildungsjahr``)."""


@lru_cache(maxsize=2)
def _stemmer(language: str):
    import Stemmer  # PyStemmer: Snowball stemmers in C

    return Stemmer.Stemmer("english" if language == "en" else "german")


def tokens(text: str, language: str | None = None, keep_stopwords: bool = False) -> list[str]:
    """Search tokens: lower-cased, stop words dropped, stemmed, numbers normalised.

    A hyphenated code like ``KP-55`` yields ``kp-55`` and its parts ``kp`` and ``55``.
    """
    language = language or guess_language(text)
    stemmer = _stemmer(language)
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if word[0].isdigit() and _NUMBER.fullmatch(word):
            out.append(normalize_number(word))
            continue
        if word in NUMBER_WORDS:
            out.append(NUMBER_WORDS[word])
            continue
        parts = word.split("-")
        if len(parts) > 1:
            out.append(word)
        for part in parts:
            if part.isdigit():
                out.append(normalize_number(part))
            elif keep_stopwords or (part not in STOPWORDS and len(part) > 1):
                out.append(stemmer.stemWord(part))
    return out


def content_terms(text: str, language: str | None = None) -> list[str]:
    """The distinct search tokens of a question, in order (what an answer must cover)."""
    seen: dict[str, None] = {}
    for token in tokens(text, language):
        seen.setdefault(token, None)
    return list(seen)
