"""Value types shared by every layer: messages, requests, responses, stream chunks."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autonom.errors import InvalidRequestError

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "cancelled"]
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1,
                            description="sampling seed, a 64-bit integer")]


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any]


class Tool(BaseModel):
    """A function the model may call: name, description and a JSON schema of its arguments."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """For assistant messages that called tools."""
    tool_call_id: str | None = None
    name: str | None = None
    """For tool messages: the tool whose result this is."""


class GenerationOptions(BaseModel):
    """Sampling and output options understood by every backend."""

    temperature: float | None = Field(default=None, ge=0.0, le=5.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    seed: Seed | None = None
    stop: list[str] = Field(default_factory=list)
    max_tokens: int | None = Field(default=None, ge=1)
    json_schema: dict[str, Any] | None = None
    repeat_penalty: float | None = Field(default=None, ge=0.0, le=5.0)
    """Penalty on tokens repeated from the recent output (Ollama's and llama.cpp's name; 1 =
    none): keeps small models out of loops like ``-1.1000000…``."""
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)


class ChatRequest(BaseModel):
    """A conversation to continue, or (with ``prompt``) a raw text to complete as given."""

    model: str
    messages: list[Message] = Field(default_factory=list)
    prompt: str | None = None
    """Raw completion: the text goes to the model unchanged, without a chat template."""
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    keep_alive: float | None = None
    """Seconds to keep the model loaded after this request; None = backend default."""
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] | str = "auto"
    """"auto", "none", "required", or the name of the one tool that must be called."""
    adapters: dict[str, float] | None = None
    """Tuned models of one base model mixed for this request, each with its weight (the
    LoRA scale): an expert set's top-2 choice. Set by the gateway, never from a client's
    request."""

    @property
    def user_text(self) -> str:
        """What the user asked: the raw prompt, or the last user message ("" if none)."""
        if self.prompt is not None:
            return self.prompt
        users = [m.content for m in self.messages if m.role == "user"]
        return users[-1] if users else ""

    @model_validator(mode="after")
    def _needs_input(self) -> ChatRequest:
        if not self.messages and self.prompt is None:
            raise ValueError("messages must not be empty")
        return self


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Timings(BaseModel):
    """Engine-side timings, as llama.cpp reports them."""

    prompt_ms: float = 0.0
    prompt_per_second: float = 0.0
    decode_ms: float = 0.0
    decode_per_second: float = 0.0
    cached_tokens: int = 0


class Citation(BaseModel):
    """Where a grounded answer comes from: a document path and a verbatim quote of it."""

    model_config = ConfigDict(frozen=True)

    source: str
    quote: str


class ChatResponse(BaseModel):
    model: str
    message: Message
    finish_reason: FinishReason
    usage: Usage = Field(default_factory=Usage)
    timings: Timings | None = None
    load_ms: float = 0.0
    citations: tuple[Citation, ...] = ()
    abstained: bool | None = None
    """Set for answers from documents: whether the documents did not contain the answer."""
    related: tuple[Citation, ...] = ()
    """With such an abstention: the closest passages, places to look (not an answer)."""
    served_by: str | None = None
    """``model@backend`` that answered, when the router chose it."""


class ChatChunk(BaseModel):
    """One piece of a streamed answer; the last chunk has a finish_reason and usage."""

    model: str
    delta: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    citations: tuple[Citation, ...] = ()
    abstained: bool | None = None
    related: tuple[Citation, ...] = ()
    served_by: str | None = None


_DURATION = re.compile(r"(?P<num>-?\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_keep_alive(value: str | int | float | None) -> float | None:
    """Turn an Ollama-style keep-alive into seconds.

    ``"5m"``, ``"1h30m"``, ``"90s"``, ``300`` and ``"300"`` are seconds to stay loaded after
    use; ``0`` unloads right after the request; any negative value keeps the model loaded
    forever (returned as ``float('inf')``). ``None`` means "use the default".
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequestError(f"invalid keep_alive {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        pos, seconds = 0, 0.0
        negative = text.startswith("-")
        if negative:
            text = text[1:]
        if not text:
            raise InvalidRequestError(f"invalid keep_alive {value!r}")
        while pos < len(text):
            match = _DURATION.match(text, pos)
            if not match or match.group("num").startswith("-"):
                raise InvalidRequestError(
                    f"invalid keep_alive {value!r}: "
                    "use seconds or a duration like '5m', '1h', '30s'"
                )
            seconds += float(match.group("num")) * _UNIT_SECONDS[match.group("unit")]
            pos = match.end()
        seconds = -seconds if negative else seconds
    if seconds < 0:
        return float("inf")
    return seconds
