"""What every route of the HTTP server (API, MCP and web UI) works with, typed.

``create_app`` builds one :class:`ServerState` and keeps it on the app; a route asks
:func:`state` for it instead of reading untyped attributes of ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from autonom.config import Settings
    from autonom.metrics import Metrics
    from autonom.services import Services
    from autonom.services.access import Access
    from autonom.services.gateway import Gateway
    from autonom.store.conversations import ConversationStore
    from autonom.store.sessions import SessionStore


@dataclass
class ServerState:
    settings: Settings
    services: Services
    access: Access
    conversations: ConversationStore
    sessions: SessionStore
    metrics: Metrics
    gateway: Gateway
    eval_jobs: dict[str, Any] = field(default_factory=dict)
    """Evaluation runs started from the web UI, by job id (this process only)."""


def state(connection: HTTPConnection) -> ServerState:
    found = connection.app.state.autonom
    assert isinstance(found, ServerState)
    return found
