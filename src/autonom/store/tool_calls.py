"""What the MCP client remembers: tool definitions approved by hash, and every tool call."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from autonom.store.db import Database


@dataclass(frozen=True)
class Pin:
    server: str
    tool: str
    sha256: str
    definition: dict[str, Any]
    pinned_at: float


@dataclass(frozen=True)
class ToolCallRecord:
    server: str
    tool: str
    arguments: dict[str, Any] | None
    """None when content logging is off."""
    outcome: str
    """ok | tool_error | invalid_arguments | refused | blocked | timeout | failed"""
    detail: str | None
    result_chars: int
    duration_ms: float
    flagged: bool = False
    """The result contained text that looks like planted instructions."""
    request_id: str | None = None
    created_at: float = 0.0


class ToolLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- pins -------------------------------------------------------------------------

    def pins(self, server: str) -> dict[str, Pin]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM tool_pins WHERE server = ?", (server,)).fetchall()
        return {r["tool"]: Pin(r["server"], r["tool"], r["sha256"], json.loads(r["definition"]),
                               r["pinned_at"]) for r in rows}

    def pin(self, server: str, tool: str, sha256: str, definition: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO tool_pins(server, tool, sha256, definition, pinned_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(server, tool) DO UPDATE SET"
                " sha256 = excluded.sha256, definition = excluded.definition,"
                " pinned_at = excluded.pinned_at",
                (server, tool, sha256, json.dumps(definition, ensure_ascii=False),
                 time.time()))

    def unpin(self, server: str, tool: str | None = None) -> int:
        with self.db.transaction() as conn:
            if tool is None:
                cursor = conn.execute("DELETE FROM tool_pins WHERE server = ?", (server,))
            else:
                cursor = conn.execute("DELETE FROM tool_pins WHERE server = ? AND tool = ?",
                                      (server, tool))
        return cursor.rowcount

    # -- call log ---------------------------------------------------------------------

    def record(self, call: ToolCallRecord) -> None:
        arguments = None if call.arguments is None else json.dumps(call.arguments,
                                                                   ensure_ascii=False)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO tool_calls(created_at, request_id, server, tool, arguments,"
                " outcome, detail, result_chars, duration_ms, flagged)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (call.created_at or time.time(), call.request_id, call.server, call.tool,
                 arguments, call.outcome, call.detail, call.result_chars, call.duration_ms,
                 int(call.flagged)))

    def calls(self, request_id: str | None = None, limit: int = 100) -> list[ToolCallRecord]:
        """The latest calls, newest first (optionally those of one request)."""
        where, params = ("WHERE request_id = ?", (request_id,)) if request_id else ("", ())
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT * FROM tool_calls {where} ORDER BY id DESC LIMIT ?",
                                (*params, limit)).fetchall()
        return [ToolCallRecord(
            server=r["server"], tool=r["tool"],
            arguments=None if r["arguments"] is None else json.loads(r["arguments"]),
            outcome=r["outcome"], detail=r["detail"], result_chars=r["result_chars"],
            duration_ms=r["duration_ms"], flagged=bool(r["flagged"]),
            request_id=r["request_id"], created_at=r["created_at"]) for r in rows]
