"""Inference backends behind one small interface (see :class:`Backend`)."""

from autonom.backends.base import Backend, Capabilities
from autonom.backends.fake import FakeBackend
from autonom.backends.pool import ModelPool, PoolSnapshot

__all__ = ["Backend", "Capabilities", "FakeBackend", "ModelPool", "PoolSnapshot"]
