"""Terminal output for the CLI: tables, sizes, progress bars, speed lines (rich)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from autonom.types import ChatChunk

# Not a terminal (pipes, CI): wide lines instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def error(message: str) -> None:
    """One line on stderr, never interpreted as markup."""
    err.print("[red]error:[/] ", end="")
    err.print(message.replace("\n", " "), markup=False, soft_wrap=True)


def warn(message: str) -> None:
    """One warning line on stderr, never interpreted as markup."""
    err.print("[yellow]warning:[/] ", end="")
    err.print(message.replace("\n", " "), markup=False, soft_wrap=True)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def count(n: int) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def until(seconds: float) -> str:
    if seconds < 1:
        return "now"
    if seconds < 90:
        return f"{seconds:.0f} seconds from now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes from now"
    return f"{seconds / 3600:.1f} hours from now"


def table(headers: list[str], rows: list[list[str]], header: bool = True) -> None:
    grid = Table(show_header=header, box=None, pad_edge=False)
    for name in headers:
        grid.add_column(name, overflow="fold")
    for row in rows:  # cells are text, never markup: '[entwurf]' in a file name stays
        grid.add_row(*(Text(cell) for cell in row))
    out.print(grid)


def stats(chunk: ChatChunk) -> None:
    t, u = chunk.timings, chunk.usage
    if t is None or u is None:
        return
    err.print(
        f"[dim]prompt: {u.prompt_tokens} tokens, {t.prompt_per_second:.1f} tokens/s · "
        f"answer: {u.completion_tokens} tokens, {t.decode_per_second:.1f} tokens/s[/]"
    )


class LineProgress:
    """Progress for logs and pipes: one line per phase, no redrawing."""

    def start(self, description: str, total: int | None) -> None:
        err.print(f"{description}" + (f" ({size(total)})" if total else ""), markup=False)

    def advance(self, n: int) -> None:
        pass


class BarProgress:
    """Adapts rich's Progress to the pull Progress protocol (one task per phase)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total or 0)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


@contextmanager
def progress() -> Iterator[BarProgress | LineProgress]:
    if not err.is_terminal:
        yield LineProgress()
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    with bar:
        yield BarProgress(bar)


@contextmanager
def counting(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar over ``total`` items (a start and an end line when not a terminal);
    yields the function that counts one item done."""
    if not err.is_terminal:
        err.print(f"{description}: {total} …", markup=False)
        yield lambda: None
        err.print(f"{description}: done", markup=False)
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err, transient=True)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task, 1)
