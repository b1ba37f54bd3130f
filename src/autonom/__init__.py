"""autonom: your company's own language model, on your own machines.

The public Python API::

    from autonom import Services, load_settings, ChatRequest, Message

    services = Services(load_settings())
    answer = asyncio.run(services.router.chat(
        ChatRequest(model="smollm2-135m", messages=[Message(role="user", content="Hallo")])))
"""

from autonom.backends import Backend, Capabilities, FakeBackend
from autonom.config import Settings, load_settings
from autonom.errors import AutonomError
from autonom.models import GGUFInfo, ModelRecord, Registry, pull, read_gguf
from autonom.services import Services
from autonom.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    GenerationOptions,
    Message,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "AutonomError",
    "Backend",
    "Capabilities",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "FakeBackend",
    "GGUFInfo",
    "GenerationOptions",
    "Message",
    "ModelRecord",
    "Registry",
    "Services",
    "Settings",
    "Usage",
    "__version__",
    "load_settings",
    "pull",
    "read_gguf",
]
