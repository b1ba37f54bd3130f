"""Errors carry their own HTTP status and retry hint; no table decides by order."""

import pytest

from autonom import errors
from autonom.errors import AutonomError, http_status


def _all(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all(sub)


def test_every_error_names_a_status_its_api_answer_uses():
    classes = list(_all(AutonomError))
    assert len(classes) >= 25
    for cls in classes:
        assert 400 <= cls.status <= 599, cls
        assert cls.__module__ == "autonom.errors", cls  # every error is defined in one place
    assert http_status(KeyError("x")) == 500  # a programming error stays a 500


@pytest.mark.parametrize(("error", "status", "retry"), [
    (errors.PullError("download failed"), 502, None),
    (errors.ModelNotFoundError("no model"), 404, None),
    (errors.InvalidModelFileError("not GGUF"), 400, None),
    (errors.ParseError("broken PDF"), 400, None),
    (errors.EvalSetError("bad case"), 400, None),
    (errors.PolicyError("licence"), 403, None),
    (errors.RateLimitError("slow down", retry_after=7.5), 429, 7.5),
    (errors.QueueFullError("busy"), 503, 1.0),
    (errors.StoreUnavailableError("db down"), 503, 2.0),
    (errors.UpstreamTimeoutError("slow upstream"), 504, None),
    (errors.UpstreamError("upstream broke"), 502, None),
])
def test_status_and_retry_hint(error, status, retry):
    assert http_status(error) == status
    assert error.retry_after == retry
