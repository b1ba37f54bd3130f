"""Writes one benchmark's section into RESULTS.md, between its own marker comments."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(start: str, end: str, report: str, path: Path = RESULTS) -> None:
    """Replace the text between ``start`` and ``end`` (or append it) in the results file."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + report + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + report + "\n"
    path.write_text(text, encoding="utf-8")
