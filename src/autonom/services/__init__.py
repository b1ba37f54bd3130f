"""The service layer that every front door (CLI, HTTP API, MCP, web UI) calls.

* :mod:`~autonom.services.assembly` — :class:`Services`: settings, store, model registry,
  router, knowledge base and the stores the doors read (keys, runs, conversations,
  sign-ins), wired together once per process; pull with the licence policy; a gateway.
* :mod:`~autonom.services.gateway` — every chat request: admission (scopes, rate limits,
  concurrency), the guards, the plan (plain chat, answer from documents, tool loop, expert),
  the request log. ``autonom run`` and the HTTP routes go through the same one.
* :mod:`~autonom.services.access` — one credential per request, API keys (create, grant,
  revoke) and the request log; :mod:`~autonom.services.hosts` — which Host and Origin a
  browser-facing route accepts.
* :mod:`~autonom.services.grounding`, :mod:`~autonom.services.offered`,
  :mod:`~autonom.services.documents` — ``rag:`` targets, what a key may name, a
  collection's documents with their version state and its hygiene report.
* :mod:`~autonom.services.evals`, :mod:`~autonom.services.eval_runner`,
  :mod:`~autonom.services.bench`, :mod:`~autonom.services.redteam`,
  :mod:`~autonom.services.tuning` — evaluation, load and attack runs, post-training cycles.
* :mod:`~autonom.services.mcp_tools`, :mod:`~autonom.services.engine`,
  :mod:`~autonom.services.stores` — MCP servers' tools, the engine build, the store itself.

Capabilities below (knowledge, routing, backends, store, …) never import this package, and
front doors take only data types from them (``tests/test_layers.py`` checks both).
"""

from autonom.services.assembly import Services

__all__ = ["Services"]
