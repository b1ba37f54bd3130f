"""The service layer that every front door (CLI, HTTP API, MCP, web UI) calls.

* :mod:`~autonom.services.assembly` — :class:`Services`: settings, store, model registry,
  router and knowledge base wired together once per process; pull with the licence policy.
* :mod:`~autonom.services.gateway` — every chat request: admission (scopes, rate limits,
  concurrency), the guards, the plan (plain chat, answer from documents, tool loop, expert),
  the request log.
* :mod:`~autonom.services.grounding` — ``rag:`` targets: which collection, may this key read it.
* :mod:`~autonom.services.offered` — what a key may name: models, collections, experts.
* :mod:`~autonom.services.evals`, :mod:`~autonom.services.tuning` — evaluation runs and
  post-training cycles, both through the gateway.

Capabilities below (knowledge, routing, backends, …) never import this package.
"""

from autonom.services.assembly import Services

__all__ = ["Services"]
