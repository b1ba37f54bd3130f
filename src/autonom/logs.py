"""autonom's log lines: one format, and the request each line belongs to.

Every line is ``key=value`` pairs (logfmt), one line per event, so that ``grep request=…``
finds everything one request caused — the access line, a router's fallback, a backend's
error — and log shippers parse it without a pattern::

    time=2026-11-29T10:12:03+0000 level=warning logger=autonom.router request=chatcmpl-3f…
      msg="ollama-gpu failed: BackendError: …"

The HTTP server opens a request's fields (:func:`begin`) before it handles it; whoever
learns the request id or the model notes it (:func:`note`). Outside a request (the CLI, an
evaluation run) lines carry ``request=-``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar

_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("autonom_request_fields", default=None)


def begin() -> dict[str, str]:
    """Opens the fields of the request handled in this context (and the tasks it starts)."""
    fields: dict[str, str] = {}
    _FIELDS.set(fields)
    return fields


def note(**values: str | None) -> None:
    """Records facts of the current request (``request_id``, ``model``); nothing outside a
    request."""
    fields = _FIELDS.get()
    if fields is not None:
        fields.update({k: v for k, v in values.items() if v})


def current() -> dict[str, str]:
    return dict(_FIELDS.get() or {})


class RequestFields(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _FIELDS.get() or {}
        record.request_id = fields.get("request_id", "-")
        return True


def _value(text: object) -> str:
    text = str(text)
    if text and not any(c in text for c in ' "=\n\r\t'):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r"))
    return f'"{escaped}"'


class Logfmt(logging.Formatter):
    """``time=… level=… logger=… request=… msg=…`` plus any ``extra`` fields of the call
    (``log.info("…", extra={"fields": {"status": 200}})``), one line whatever the message."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, object]] = [
            ("time", time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("request", getattr(record, "request_id", "-")),
        ]
        pairs += list(getattr(record, "fields", {}).items())
        message = record.getMessage()
        if message:
            pairs.append(("msg", message))
        if record.exc_info:
            pairs.append(("error", self.formatException(record.exc_info)))
        return " ".join(f"{k}={_value(v)}" for k, v in pairs)


def configure(level: int = logging.INFO) -> None:
    """autonom's loggers write logfmt lines to stderr (``autonom serve``); idempotent."""
    root = logging.getLogger("autonom")
    if not any(isinstance(h.formatter, Logfmt) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(Logfmt())
        handler.addFilter(RequestFields())
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
