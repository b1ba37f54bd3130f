"""Turn files into text plus structure: headings, paragraphs, list items and table rows.

Every parser returns a :class:`ParsedDocument`: the document's text (what citations quote
from, verbatim) and :class:`Block` spans into it. Plain-text formats (Markdown, text, CSV)
keep the file's own text, so a quote can be found in the file itself; HTML, PDF, DOCX and
XLSX keep the text their parser extracts.

Parsers, and why: ``selectolax`` (lexbor, fast and maintained) for HTML, ``pypdf`` (pure
Python, no system libraries) for PDF, ``python-docx`` for DOCX, ``openpyxl`` (read-only
streaming mode) for XLSX; Markdown, text and CSV need only the standard library.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autonom.errors import ParseError


@dataclass(frozen=True)
class Block:
    kind: str  # "heading" | "paragraph" | "item" | "row"
    start: int
    end: int
    level: int = 0  # heading level, 1 = title
    display: str | None = None  # how a table row reads with its header ("Preis: 2.480,00; …")


@dataclass
class ParsedDocument:
    text: str
    blocks: list[Block] = field(default_factory=list)
    title: str | None = None

    def span(self, block: Block) -> str:
        return self.text[block.start:block.end]


class _Builder:
    """Collects text and block spans for formats whose text autonom assembles itself."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []

    def add(self, kind: str, text: str, level: int = 0, display: str | None = None) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if self.parts:
            self.parts.append("\n")
            self.length += 1
        self.blocks.append(Block(kind, self.length, self.length + len(text), level, display))
        self.parts.append(text)
        self.length += len(text)

    def build(self, title: str | None = None) -> ParsedDocument:
        doc = ParsedDocument("".join(self.parts), self.blocks)
        doc.title = title or _first_heading(doc)
        return doc


def _first_heading(doc: ParsedDocument) -> str | None:
    """The first heading; else a short first line (plain text often starts with a title)."""
    for block in doc.blocks:
        if block.kind == "heading":
            return doc.span(block)
    first = doc.text.strip().split("\n", 1)[0].strip()
    return first if 0 < len(first) <= 100 else None


# -- plain text and Markdown ----------------------------------------------------------------

_MD_HEADING = re.compile(r"(#{1,6})[ \t]+(.+?)[ \t#]*$")
_MD_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+(.+)$")
_MD_TABLE_RULE = re.compile(r"\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
_RULE = re.compile(r"[ \t]*([-=_*~#])(?:[ \t]*\1){2,}[ \t]*$")
SECTION_NUMBER = r"\d{1,2}(?:\.\d{1,2})*\.?"  # 4. / 2.1
_SECTION_SIGN = r"§\s*\d+[a-z]?"  # § 3, § 12a
# Plain-text section headings: "4. Vergütung", "2.1 Fristen", "§ 3 Einteilung", "TEIL B".
_TEXT_HEADING = re.compile(rf"(?:(?P<number>{SECTION_NUMBER})|{_SECTION_SIGN})[ \t]+"
                           r"[A-ZÄÖÜ][^\n]{1,60}$|[A-ZÄÖÜ][A-ZÄÖÜ0-9 &/,.-]{3,60}$")


_CAPITALS_HEADING = re.compile(rf"(?:{SECTION_NUMBER}|{_SECTION_SIGN})[ \t]+"
                               r"[A-ZÄÖÜ][A-ZÄÖÜß &/,-]{2,60}")
"""A numbered section title in capitals (``2. URLAUB``): a heading even with a blank line
below it (an unnumbered line in capitals then may be a code, ``BIC COBADEFFXXX``)."""


def parse_text(text: str) -> ParsedDocument:
    """Plain text: what Markdown finds, plus the structure people type without markup —
    underlined or boxed headings (``----``), numbered section headings on a line of their own
    (``4. Vergütung``) and a letterhead line above the real title."""
    return parse_markdown(text, plain=True)


def parse_markdown(text: str, plain: bool = False) -> ParsedDocument:
    """Headings (``#`` and underlined), list items, table rows (with their header) and
    paragraphs."""
    blocks: list[Block] = []
    lines = _lines_with_offsets(text)
    paragraph: list[tuple[int, int]] = []
    header: list[str] | None = None

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", paragraph[0][0], paragraph[-1][1]))
            paragraph.clear()

    def blank(i: int) -> bool:
        return not (0 <= i < len(lines)) or not text[lines[i][0]:lines[i][1]].strip()

    for i, (start, end) in enumerate(lines):
        line = text[start:end]
        stripped = line.strip()
        if not stripped:
            flush()
            header = None
            continue
        lead = start + len(line) - len(line.lstrip())
        if _RULE.match(line) and not stripped.startswith("|"):
            if len(paragraph) == 1:  # the line above is underlined: a heading
                begin, finish = paragraph.pop()
                blocks.append(Block("heading", begin, finish, 2))
            elif (not paragraph and blocks and blocks[-1].kind == "item"
                  and blocks[-1].end == _previous_line_end(text, start)):
                last = blocks.pop()  # "1) BR-170 CO2-Inkubator" underlined: a numbered heading
                blocks.append(Block("heading", last.start, last.end, 2))
            flush()
            continue
        if plain and _is_text_heading(text, lines, i, blank):
            flush()
            number = _TEXT_HEADING.match(stripped)
            depth = number["number"].rstrip(".").count(".") if number and number["number"] \
                else 0
            blocks.append(Block("heading", lead, start + len(line.rstrip()), 2 + depth))
            continue
        if heading := _MD_HEADING.match(stripped):
            flush()
            begin = lead + stripped.index(heading[2])
            blocks.append(Block("heading", begin, begin + len(heading[2]), len(heading[1])))
        elif stripped.startswith("|"):
            flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if _MD_TABLE_RULE.fullmatch(stripped):
                continue
            if header is None:
                header = cells
                continue
            blocks.append(Block("row", lead, start + len(line.rstrip()),
                                display=_row_display(header, cells)))
        elif item := _MD_ITEM.match(line):
            flush()
            begin = start + item.start(1)
            blocks.append(Block("item", begin, start + len(line.rstrip())))
        elif not paragraph and blocks and blocks[-1].kind == "item" and \
                blocks[-1].end == _previous_line_end(text, start):
            last = blocks.pop()  # a wrapped list item goes on on the next line
            blocks.append(Block("item", last.start, start + len(line.rstrip())))
        else:
            paragraph.append((lead, start + len(line.rstrip())))
    flush()
    doc = ParsedDocument(text, blocks)
    doc.title = _plain_title(doc) if plain else _first_heading(doc)
    return doc


def _is_text_heading(text: str, lines: list[tuple[int, int]], i: int,
                     blank: Callable[[int], bool]) -> bool:
    """A short line on its own (blank or rule above, text below) that looks like a heading."""
    stripped = text[lines[i][0]:lines[i][1]].strip()
    if len(stripped) > 70 or stripped.endswith((".", ",", ";", ":")):
        return False
    if blank(i + 1) and not _CAPITALS_HEADING.fullmatch(stripped):
        return False  # a short paragraph of its own; but "2. URLAUB" is a heading
    above = blank(i - 1) or bool(_RULE.match(text[lines[i - 1][0]:lines[i - 1][1]]))
    return above and bool(_TEXT_HEADING.fullmatch(stripped))


def _plain_title(doc: ParsedDocument) -> str | None:
    """The first line that is not a letterhead in capitals (``FIRMA GMBH`` above the title)."""
    head = doc.text.strip().split("\n\n", 1)[0].split("\n")[:3]
    for line in head:
        line = line.strip()
        if line and not _RULE.match(line) and not (line.isupper() and len(head) > 1):
            return line if len(line) <= 120 else None
    return _first_heading(doc)


def _previous_line_end(text: str, start: int) -> int:
    """Where the text of the line before ``start`` ends (without trailing blanks)."""
    return len(text[:max(start - 1, 0)].rstrip(" \t"))


def _lines_with_offsets(text: str) -> list[tuple[int, int]]:
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        out.append((pos, pos + len(body)))
        pos += len(line)
    return out


def _row_display(header: list[str], cells: list[str]) -> str:
    pairs = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        name = header[i] if i < len(header) and header[i] else f"Spalte {i + 1}"
        pairs.append(f"{name}: {cell}")
    return "; ".join(pairs)


# -- tables ---------------------------------------------------------------------------------

def parse_csv(text: str) -> ParsedDocument:
    """One block per data row, readable with its header; the delimiter is sniffed
    (German Excel writes ``;``)."""
    lines = _lines_with_offsets(text)
    sample = "\n".join(text[s:e] for s, e in lines[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    header: list[str] | None = None
    blocks: list[Block] = []
    for start, end in lines:
        line = text[start:end]
        if not line.strip():
            continue
        cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]
        if header is None:
            header = cells
            continue
        blocks.append(Block("row", start, end, display=_row_display(header, cells)))
    if header is None:
        raise ParseError("the CSV file has no rows")
    return ParsedDocument(text, blocks, title=None)


def parse_xlsx(data: bytes) -> ParsedDocument:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise ParseError(f"not a readable XLSX workbook ({exc})") from exc
    out = _Builder()
    try:
        for sheet in book.worksheets:
            out.add("heading", sheet.title, level=1)
            header: list[str] | None = None
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if v is None else _cell_text(v) for v in row]
                if not any(cells):
                    continue
                if header is None:
                    header = cells
                    continue
                display = _row_display(header, cells)
                out.add("row", display, display=display)
    finally:
        book.close()
    return out.build()


def _cell_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",") if value != int(value) else str(int(value))
    if hasattr(value, "strftime"):
        return value.strftime("%d.%m.%Y")  # type: ignore[union-attr]
    return str(value).strip()


# -- HTML, PDF, DOCX ------------------------------------------------------------------------

_HTML_BLOCKS = "h1, h2, h3, h4, h5, h6, p, li, tr, pre, blockquote, dt, dd"
_INNER_BLOCKS = _HTML_BLOCKS.replace(", tr", "")  # (selectolax's css() includes the node)


def parse_html(text: str) -> ParsedDocument:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    out = _Builder()
    header: list[str] | None = None
    for node in tree.css(_HTML_BLOCKS):
        tag = node.tag
        if tag != "tr" and len(node.css(_INNER_BLOCKS)) > 1:
            continue  # a container of other blocks: its children are visited themselves
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            out.add("heading", node.text(separator=" "), level=int(tag[1]))
        elif tag == "tr":
            cells = [" ".join(c.text(separator=" ").split()) for c in node.css("th, td")]
            if node.css_first("th") is not None and header is None:
                header = cells
                continue
            display = _row_display(header or [], cells)
            out.add("row", display, display=display)
        elif tag == "li":
            out.add("item", node.text(separator=" "))
        elif node.parent is None or node.parent.tag not in ("li", "td", "th"):
            out.add("paragraph", node.text(separator=" "))
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else None
    return out.build(title or None)


def parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"not a readable PDF ({exc})") from exc
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise ParseError("the PDF has no extractable text (scanned pages need OCR first)")
    return parse_markdown(_pdf_lines_to_paragraphs(text))


def _pdf_lines_to_paragraphs(text: str) -> str:
    """PDF text breaks lines where the page did; short lines that look like headings or
    items stay lines, everything else flows into paragraphs separated by blank lines."""
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            out.append("")
        elif out and out[-1] and not out[-1].startswith(("## ", "- ")) and \
                not _looks_like_heading(stripped) and not _MD_ITEM.match(stripped):
            out[-1] += " " + stripped  # the page broke the line, not the author
        elif _looks_like_heading(stripped):
            out.extend(["", "## " + stripped, ""])
        elif _MD_ITEM.match(stripped) or stripped.startswith(("•", "–")):
            out.append("- " + stripped.lstrip("•–-* ").strip())
        else:
            out.append(stripped)
    return "\n".join(out)


def _looks_like_heading(line: str) -> bool:
    return (len(line) <= 60 and not line.endswith((".", ",", ";", ":"))
            and (re.match(r"\d+(\.\d+)*\.?\s+\S", line) is not None
                 or (line[0].isupper() and len(line.split()) <= 6)))


def parse_docx(data: bytes) -> ParsedDocument:
    from docx import Document

    try:
        document = Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zipfile/KeyError/ValueError variants
        raise ParseError(f"not a readable DOCX document ({exc})") from exc
    out = _Builder()
    title = document.core_properties.title or None
    body = document.element.body
    paragraphs = {p._p: p for p in document.paragraphs}
    tables = {t._tbl: t for t in document.tables}
    for child in body.iterchildren():
        if child in paragraphs:
            paragraph = paragraphs[child]
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style == "Title" or style.startswith("Heading"):
                level = 1 if style == "Title" else int(re.sub(r"\D", "", style) or 1)
                out.add("heading", paragraph.text, level=level)
            elif style.startswith("List") or (paragraph._p.pPr is not None and \
                    paragraph._p.pPr.numPr is not None):
                out.add("item", paragraph.text)
            else:
                out.add("paragraph", paragraph.text)
        elif child in tables:
            rows = [[cell.text.strip() for cell in row.cells] for row in tables[child].rows]
            if rows:
                for cells in rows[1:]:
                    display = _row_display(rows[0], cells)
                    out.add("row", display, display=display)
    return out.build(title)


# -- dispatch -------------------------------------------------------------------------------

def _text_parser(parse: Callable[[str], ParsedDocument]) -> Callable[[bytes], ParsedDocument]:
    return lambda data: parse(decode_text(data))


PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    ".md": _text_parser(parse_markdown),
    ".markdown": _text_parser(parse_markdown),
    ".txt": _text_parser(parse_text),
    ".text": _text_parser(parse_text),
    ".csv": _text_parser(parse_csv),
    ".html": _text_parser(parse_html),
    ".htm": _text_parser(parse_html),
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".xlsx": parse_xlsx,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in PARSERS


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as written by German Office tools."""
    if b"\x00" in data[:4096]:
        raise ParseError("binary data in a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_file(path: Path, data: bytes) -> ParsedDocument:
    """Parse ``data`` read from ``path`` by its extension; raises :class:`ParseError`."""
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise ParseError(f"unsupported file type {path.suffix or '(none)'}")
    doc = parser(data)
    if not doc.text.strip() or not doc.blocks:
        raise ParseError("no text found")
    return doc
