"""Chatting with a model in the terminal: one-shot answers and the interactive session.

Ctrl-C while an answer streams stops that answer; Ctrl-C or Ctrl-D at the prompt (or
``/bye``) ends the session. A prompt the request path refuses (limits, input screening, a
deadline) gets one error line, and the session goes on. Answers stream token by token.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TextIO

from autonom.errors import AutonomError
from autonom.types import ChatChunk, ChatRequest, GenerationOptions, Message

HELP = """Commands:
  /clear   forget the conversation so far
  /bye     end the session (also Ctrl-D)
  /?       this help"""


@dataclass
class ChatSession:
    stream: Callable[[ChatRequest], AsyncIterator[ChatChunk]]
    """The request path a prompt takes (the gateway's, as on the HTTP API)."""
    model: str
    options: GenerationOptions
    system: str | None = None
    keep_alive: float | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    on_stats: Callable[[ChatChunk], None] | None = None
    history: list[Message] = field(default_factory=list)

    def messages(self, prompt: str) -> list[Message]:
        head = [Message(role="system", content=self.system)] if self.system else []
        return [*head, *self.history, Message(role="user", content=prompt)]

    async def _stream(self, prompt: str) -> tuple[str, ChatChunk | None]:
        request = ChatRequest(
            model=self.model, messages=self.messages(prompt), options=self.options,
            keep_alive=self.keep_alive,
        )
        parts: list[str] = []
        final = None
        async for chunk in self.stream(request):
            if chunk.delta:
                parts.append(chunk.delta)
                self.out.write(chunk.delta)
                self.out.flush()
            if chunk.finish_reason:
                final = chunk
        return "".join(parts), final

    def ask(self, prompt: str) -> str:
        """Stream one answer; it joins the history. Ctrl-C propagates as KeyboardInterrupt."""
        try:
            answer, final = asyncio.run(self._stream(prompt))
        finally:
            self.out.write("\n")
            self.out.flush()
        if final is not None and self.on_stats is not None:
            self.on_stats(final)
        self.history += [Message(role="user", content=prompt),
                         Message(role="assistant", content=answer)]
        return answer

    def interact(self, read: Callable[[str], str] = input) -> None:
        """Read prompts until /bye, Ctrl-D or Ctrl-C at the prompt."""
        self.out.write(f"Chatting with {self.model}. Type /? for help, /bye or Ctrl-D to end.\n")
        while True:
            try:
                line = read(">>> ")
            except (EOFError, KeyboardInterrupt):
                self.out.write("\n")
                return
            prompt = line.strip()
            if not prompt:
                continue
            if prompt in ("/bye", "/exit", "/quit"):
                return
            if prompt in ("/?", "/help"):
                self.out.write(HELP + "\n")
                continue
            if prompt == "/clear":
                self.history.clear()
                self.out.write("Cleared the conversation.\n")
                continue
            try:
                self.ask(prompt)
            except KeyboardInterrupt:
                self.out.write("(answer stopped)\n")
            except AutonomError as exc:  # a refused prompt ends that answer, not the session
                self.err.write(f"error: {str(exc).replace(chr(10), ' ')}\n")
                self.err.flush()
