"""What both APIs share: lenient request models, the function-tool declaration, and the
per-request context handed to the gateway."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from autonom import logs
from autonom.server.state import state
from autonom.services.gateway import CallContext, Gateway
from autonom.store.keys import ApiKey
from autonom.types import ChatChunk, ChatResponse, Tool


class Open(BaseModel):
    """Accepts fields it does not know, as the original servers do."""

    model_config = ConfigDict(extra="allow")


class FunctionSpec(Open):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolSpec(Open):
    """``{"type": "function", "function": {...}}`` — the same in OpenAI's and Ollama's API."""

    type: Literal["function"] = "function"
    function: FunctionSpec

    def to_tool(self) -> Tool:
        return Tool(name=self.function.name, description=self.function.description,
                    parameters=self.function.parameters)


def call_context(request: Request, key: ApiKey | None, body: BaseModel,
                 prefix: str) -> CallContext:
    """Route, caller and logged body of one request; ``prefix`` starts its id. A body too
    deeply nested to serialise is logged as a note; the limits refuse it later, logged."""
    try:
        logged = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    except (ValueError, RecursionError):
        logged = {"note": "body nested too deeply to log"}
    ctx = CallContext(route=request.url.path, key=key,
                      request_id=f"{prefix}-{secrets.token_hex(12)}", body=logged)
    logs.note(request_id=ctx.request_id, model=getattr(body, "model", None))
    return ctx


def gateway(request: Request) -> Gateway:
    return state(request).gateway


def grounding_fields(response: ChatResponse | ChatChunk) -> dict[str, Any]:
    """``citations``, ``abstained`` and ``related`` (an abstention's closest passages) of an
    answer from documents, as extra top-level fields (OpenAI's client libraries keep them:
    ``completion.citations``)."""
    if response.abstained is None:
        return {}
    return {"citations": [c.model_dump() for c in response.citations],
            "abstained": response.abstained,
            "related": [c.model_dump() for c in response.related]}
