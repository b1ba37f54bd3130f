"""Request shapes both APIs share: lenient models and the function-tool declaration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autonom.types import Tool


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
