"""The ``autonom`` command line: commands parse, call services, print; nothing more.

One module per command group (``models``, ``serve``, ``knowledge``, ``mcp``, ``evals``,
``engine``, ``tune``, ``store``, ``redteam``, ``catalog``, ``backends``, ``keys``), each with
a ``register(app)`` function that :mod:`autonom.cli.app` calls; ``console`` prints,
``repl`` is the interactive chat of ``autonom run``.
"""

from autonom.cli.app import app, main

__all__ = ["app", "main"]
