"""Exceptions raised by autonom.

Every error a user can cause derives from :class:`AutonomError`; the CLI prints its message
on one line and exits non-zero, the HTTP API answers with the status its class names
(``status``; subclasses inherit it) and, where one is set, a ``Retry-After`` header::

    AutonomError
    ├── ConfigError              bad settings, unusable AUTONOM_HOME (500)
    ├── StoreError               the store (SQLite or PostgreSQL) cannot be opened or migrated
    │   └── StoreUnavailableError  the database server cannot be reached right now (503)
    ├── ModelError               (400)
    │   ├── ModelNotFoundError   no such model in the registry / unknown pull source (404)
    │   ├── ModelFileMissingError   registry entry whose file vanished (500)
    │   ├── InvalidModelFileError   not GGUF, truncated, or implausible header
    │   └── PullError            a download or extraction failed (502)
    ├── TemplateError            a chat template was rejected (unsafe, too slow, broken)
    ├── EngineBuildError         a native engine build could not be made or failed its test
    ├── TrainingInterrupted      training stopped on request; its checkpoint resumes it
    ├── InvalidRequestError      a request that cannot be served as given (400)
    │   ├── ParseError           a file could not be read as its format
    │   └── EvalSetError         an eval set file or one of its cases is invalid
    ├── NotFoundError            no such collection or document (404)
    ├── AuthenticationError      missing, invalid or revoked API key (401)
    ├── PermissionDeniedError    the key lacks the scope for this route (403)
    │   └── PolicyError          the licence policy refuses this model (403)
    ├── RateLimitError           the key's requests or tokens per minute are used up (429)
    └── BackendError             the engine or an upstream failed
        ├── CapacityError        no room to load a model (memory budget, all slots busy)
        │   └── QueueFullError   the admission queue is full (503)
        │   └── CoolingDownError every backend for the model is cooling down (503)
        ├── DeadlineError        a request ran past its deadline (504)
        ├── ToolServerError      an MCP server could not be started, reached or used (502)
        └── UpstreamError        a model server behind autonom failed (502)
            └── UpstreamTimeoutError   it did not answer in time (504)
"""

from __future__ import annotations


class AutonomError(Exception):
    """Base class of every error autonom raises on purpose. ``status`` is the HTTP status
    the API answers with; ``retry_after`` (seconds), when set, becomes a ``Retry-After``
    header."""

    status = 500
    retry_after: float | None = None


class ConfigError(AutonomError):
    """Settings are invalid or the data directory cannot be used."""

    status = 500


class StoreError(AutonomError):
    """The store cannot be opened, migrated or written."""

    status = 500


class StoreUnavailableError(StoreError):
    """The database server cannot be reached right now; the request may be retried (the
    connection pool reconnects by itself when the server is back)."""

    status = 503

    retry_after = 2.0


class ModelError(AutonomError):
    """Something is wrong with a model or the model store."""

    status = 400


class ModelNotFoundError(ModelError):
    """The named model is not in the registry (or not a known source)."""

    status = 404


class ModelFileMissingError(ModelError):
    """The registry knows the model, but its file is gone."""

    status = 500


class InvalidModelFileError(ModelError):
    """A file is not a usable GGUF model (wrong magic, truncated, implausible)."""


class PullError(ModelError):
    """Fetching a model failed (download, package index, extraction, checksum)."""

    status = 502


class TemplateError(AutonomError):
    """A chat template was refused: unsafe, over its time or size budget, or broken."""

    status = 400


class EngineBuildError(AutonomError):
    """A native engine build failed, was interrupted or did not pass its self-test; the
    engine that was active stays active."""


class TrainingInterrupted(AutonomError):
    """Training was stopped (Ctrl-C, SIGTERM); a checkpoint was kept and the same command
    resumes from it. Nothing that serves answers changed."""


class InvalidRequestError(AutonomError):
    """A request cannot be served as given (bad option values, bad schema)."""

    status = 400


class PromptInjectionError(InvalidRequestError):
    """A request refused because it tries to give the assistant instructions it must not
    follow (``server.screen_input = "refuse"``)."""


class ParseError(InvalidRequestError):
    """A file could not be read as the format its name says."""


class EvalSetError(InvalidRequestError):
    """An eval set file cannot be read or a case in it is invalid."""


class NotFoundError(AutonomError):
    """A collection or document that does not exist."""

    status = 404


class BackendError(AutonomError):
    """The inference engine or an upstream server failed."""

    status = 502


class CapacityError(BackendError):
    """A model cannot be loaded now: over the memory budget or every slot busy."""

    status = 503


class AuthenticationError(AutonomError):
    """No API key, an unknown one, or a revoked one."""

    status = 401


class PermissionDeniedError(AutonomError):
    """The API key is valid but lacks the scope this route needs."""

    status = 403


class PolicyError(PermissionDeniedError):
    """The company's licence policy does not allow this model (``[policy]`` in the config)."""


class GateRefusedError(PermissionDeniedError):
    """The evaluation gate measured a tuned version as worse than the serving one; only
    ``--force`` with a reason promotes it anyway."""


class RateLimitError(AutonomError):
    """A per-key limit is used up; retry after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFullError(CapacityError):
    """Too many requests are already waiting for the engine."""

    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CoolingDownError(CapacityError):
    """Every backend that could answer is in its cooldown after failures."""

    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(BackendError):
    """A model server behind autonom failed: unreachable, an error status, a broken answer.

    ``retryable`` says whether the same request may pass on a second try (connection
    problems, timeouts, 429 and 5xx answers); ``backend`` names the server.
    """

    def __init__(self, message: str, backend: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.backend = backend
        self.retryable = retryable


class UpstreamTimeoutError(UpstreamError):
    """A model server did not connect, start its answer or finish it in time."""

    status = 504


class DeadlineError(BackendError):
    """The request did not finish within its deadline."""

    status = 504


class ToolServerError(BackendError):
    """An MCP server the assistant uses could not be started, reached or listed."""


def http_status(exc: BaseException) -> int:
    """The HTTP status for an error: its class says (500 for anything unexpected)."""
    return exc.status if isinstance(exc, AutonomError) else 500
