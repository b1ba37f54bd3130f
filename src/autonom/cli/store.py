"""CLI commands for the store: its integrity, and moving a SQLite home to PostgreSQL.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import ensure_home, load_settings
from autonom.errors import ConfigError, StoreError
from autonom.store import SqliteDatabase, open_database, transfer

store_app = typer.Typer(
    rich_markup_mode=None,
    help="The store: check it, move it to PostgreSQL.",
    no_args_is_help=True)


@store_app.command("check")
def check(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
          ) -> None:
    """Integrity of the store the settings name: row counts, references between tables,
    SQLite's own integrity check. Exits non-zero when something is wrong."""
    settings = load_settings()
    ensure_home(settings)
    db = open_database(settings)
    try:
        report = transfer.check(db)
    finally:
        db.close()
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
    settings = load_settings()
    url = to or settings.store.resolved_url()
    if url is None:
        raise ConfigError("name the PostgreSQL database: --to postgresql://… "
                          "or AUTONOM_STORE__URL")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("--to must start with postgresql://")
    if not settings.db_path.is_file():
        raise StoreError(f"no SQLite store at {settings.db_path} to copy")
    from autonom.store.postgres import PostgresDatabase

    source = SqliteDatabase(settings.db_path)
    target = PostgresDatabase(url, pool_size=2)
    try:
        with console.err.status("copying …") as status:

            def advance(table: str, rows: int) -> None:
                status.update(f"copying {table}: {rows} rows")

            written = transfer.copy_store(source, target, advance)
        reports = transfer.compare(source, target)
    finally:
        target.close()
    console.table(["table", "rows read", "rows in PostgreSQL", "checksum"],
                  [[r.table, str(written[r.table]), str(r.target_rows),
                    "same" if r.same else "DIFFERENT"] for r in reports])
    different = [r.table for r in reports if not r.same]
    if different:
        raise StoreError(f"the copy differs in {', '.join(different)}: rows written to "
                         "PostgreSQL since, or text PostgreSQL cannot hold (NUL characters)")
    console.out.print(f"copied and verified into {target.describe()}; now set "
                      "store.url (or AUTONOM_STORE__URL) to it on every replica")


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
