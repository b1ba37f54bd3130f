"""CLI commands for the store: its integrity, and moving a SQLite home to PostgreSQL.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.errors import StoreError
from autonom.services import stores

store_app = typer.Typer(
    rich_markup_mode=None,
    help="The store: check it, move it to PostgreSQL.",
    no_args_is_help=True)


@store_app.command("check")
def check(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
          ) -> None:
    """Integrity of the store the settings name: row counts, references between tables,
    SQLite's own integrity check. Exits non-zero when something is wrong."""
    report = stores.check(load_settings())
    if as_json:
        console.out.print_json(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        console.out.print(f"{report.kind} store at {report.where}, schema {report.schema}")
        console.table(["table", "rows"], [[t, str(n)] for t, n in report.rows.items()])
        for problem in report.problems:
            console.error(problem)
        if not report.problems:
            console.out.print("no problems found")
    if report.problems:
        raise typer.Exit(1)


@store_app.command("migrate")
def migrate(
    to: Annotated[str | None, typer.Option(
        "--to", help="postgresql://… (default: store.url / AUTONOM_STORE__URL)")] = None,
) -> None:
    """Copy this data directory's SQLite store into PostgreSQL, then verify every table by
    row count and checksum. Interrupted copies resume: run the same command again. Point
    store.url at the database afterwards."""
    with console.err.status("copying …") as status:

        def advance(table: str, rows: int) -> None:
            status.update(f"copying {table}: {rows} rows")

        done = stores.migrate(load_settings(), to, advance)
    console.table(["table", "rows read", "rows in PostgreSQL", "checksum"],
                  [[r.table, str(done.written[r.table]), str(r.target_rows),
                    "same" if r.same else "DIFFERENT"] for r in done.tables])
    if done.different:
        raise StoreError(f"the copy differs in {', '.join(done.different)}: rows written to "
                         "PostgreSQL since, or text PostgreSQL cannot hold (NUL characters)")
    console.out.print(f"copied and verified into {done.target}; now set "
                      "store.url (or AUTONOM_STORE__URL) to it on every replica")


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
