"""The root of the ``autonom`` command line and its entry point.

Every command module of this package has one ``register(app)`` function; the root app
calls them in the order the commands appear in ``autonom --help``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.exceptions import TyperException

from autonom import __version__
from autonom.cli import (
    backends,
    catalog,
    console,
    engine,
    evals,
    keys,
    knowledge,
    mcp,
    models,
    redteam,
    serve,
    store,
    tune,
)
from autonom.errors import AutonomError

app = typer.Typer(rich_markup_mode=None,
    name="autonom",
    help="Your company's own language model, on your own machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"autonom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
          ) -> None:
    """Your company's own language model, on your own machines."""


for _module in (models, serve, knowledge, mcp, evals, engine, tune, store, redteam, catalog,
                backends, keys):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and a non-zero exit for every expected error."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="autonom", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.err.print("")
        return 130
    except AutonomError as exc:
        console.error(str(exc))
        return 1
    except TyperException as exc:  # usage errors: bad option values, missing arguments
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console.error(str(exc))
        return getattr(exc, "exit_code", 2)
    return result if isinstance(result, int) else 0
