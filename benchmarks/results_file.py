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


def machine() -> str:
    """This machine in one phrase, for the head of every results section."""
    import platform

    import psutil

    return (f"{platform.machine()}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def publish(start: str, end: str, report: str, write: bool) -> None:
    """Print a section and, unless told not to, record it in RESULTS.md."""
    print(report)
    if write:
        write_section(start, end, report)
