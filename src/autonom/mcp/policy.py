"""Which MCP tools the model may use, and which need a person's yes first.

- **Allowlist** per server (``allow``): unset means the tools the server marks read-only.
- **Pinning**: a tool's definition (description, schema, annotations) is pinned by hash the
  first time it is used or approved. If the server later serves a different definition, the
  tool is blocked until someone approves it again (``autonom mcp approve``): a changed
  description is how a compromised server slips new instructions to the model.
- **Confirmation**: a tool that is not read-only asks before every call unless it is listed
  in ``auto_approve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from autonom.config import McpServerSettings
from autonom.mcp.client import RemoteTool
from autonom.store.tool_calls import Pin

State = Literal["allowed", "new", "changed", "not_allowed"]


@dataclass(frozen=True)
class Verdict:
    tool: RemoteTool
    state: State
    asks: bool
    """Each call needs a person's confirmation (the tool changes data)."""

    @property
    def usable(self) -> bool:
        return self.state in ("allowed", "new")

    def explain(self) -> str:
        if self.state == "not_allowed":
            return "blocked: not in the server's allow list"
        if self.state == "changed":
            return (f"blocked: definition changed since it was approved "
                    f"(review, then: autonom mcp approve {self.tool.server} {self.tool.name})")
        text = "allowed" if self.state == "allowed" else "allowed, pinned on first use"
        return text + (", asks before each call" if self.asks else "")


def allowed(tool: RemoteTool, settings: McpServerSettings) -> bool:
    if settings.allow is None:
        return tool.read_only
    return "*" in settings.allow or tool.name in settings.allow


def judge(tool: RemoteTool, settings: McpServerSettings, pin: Pin | None) -> Verdict:
    asks = not tool.read_only and tool.name not in settings.auto_approve
    if not allowed(tool, settings):
        state: State = "not_allowed"
    elif pin is None:
        state = "new"
    elif pin.sha256 != tool.sha256:
        state = "changed"
    else:
        state = "allowed"
    return Verdict(tool=tool, state=state, asks=asks)
