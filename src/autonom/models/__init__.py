"""The model store: GGUF facts, safe chat templates, the registry and pulling models."""

from autonom.models.gguf_file import GGUFInfo, read_gguf
from autonom.models.pull import WHEEL_MODELS, pull
from autonom.models.registry import ModelRecord, Registry

__all__ = ["WHEEL_MODELS", "GGUFInfo", "ModelRecord", "Registry", "pull", "read_gguf"]
