"""Conversations of the web UI, kept on the server per API key: one row per conversation, one
per message (no JSON blob per chat that grows with every turn), deletable and exportable.

An answer can be rated good or bad by the conversation's owner; ``autonom tune data
--rated`` learns from the answers rated good (:meth:`ConversationStore.rated`)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.store.db import Database

Messages = list[tuple[str, str]]
MAX_CONVERSATIONS = 500
"""Per owner; the oldest beyond this are deleted."""
RATINGS: dict[str, int | None] = {"good": 1, "bad": -1, "none": None}
"""What an answer can be rated, as stored; ``none`` takes a rating back."""
_RATING_NAMES = {v: k for k, v in RATINGS.items() if v is not None}
MAX_RATED = 10_000
"""Rated answers read at most at once (the newest ratings)."""


@dataclass
class StoredMessage:
    role: str
    content: str
    model: str | None = None
    citations: list[dict[str, str]] = field(default_factory=list)
    abstained: bool | None = None
    rating: str | None = None
    """``good`` or ``bad`` for an answer its owner rated."""

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content, "model": self.model,
                "citations": self.citations, "abstained": self.abstained,
                "rating": self.rating}


@dataclass
class RatedAnswer:
    """A rated answer with the conversation that led to it."""

    conversation: str
    ordinal: int
    owner: str
    rating: str
    rated_at: float
    messages: list[StoredMessage]
    """The conversation up to and including the answer (its last message)."""

    @property
    def model(self) -> str | None:
        return self.messages[-1].model

    def to_json(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "ordinal": self.ordinal,
                "owner": self.owner, "rating": self.rating, "rated_at": self.rated_at,
                "model": self.model, "messages": [m.to_json() for m in self.messages]}


@dataclass
class Conversation:
    id: str
    owner: str
    title: str
    model: str
    created_at: float
    updated_at: float
    messages: list[StoredMessage] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "model": self.model,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "messages": [m.to_json() for m in self.messages]}

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", "", f"Modell: `{self.model}`", ""]
        for message in self.messages:
            lines += [f"## {'Frage' if message.role == 'user' else 'Antwort'}", "",
                      message.content, ""]
            for n, c in enumerate(message.citations, 1):
                lines.append(f"[{n}] {c.get('source', '')}: „{c.get('quote', '')}“")
            if message.citations:
                lines.append("")
        return "\n".join(lines)


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, owner: str, title: str, model: str) -> Conversation:
        now = time.time()
        conversation = Conversation("c_" + secrets.token_hex(8), owner,
                                    " ".join(title.split())[:80] or "…", model, now, now)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO conversations(id, owner, title, model, created_at, "
                         "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (conversation.id, owner, conversation.title, model, now, now))
            conn.execute("DELETE FROM conversations WHERE owner = ? AND id NOT IN (SELECT id "
                         "FROM conversations WHERE owner = ? ORDER BY updated_at DESC "
                         "LIMIT ?)", (owner, owner, MAX_CONVERSATIONS))
        return conversation

    def recent(self, owner: str, limit: int = 50) -> list[Conversation]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM conversations WHERE owner = ? "
                                "ORDER BY updated_at DESC LIMIT ?", (owner, limit)).fetchall()
        return [Conversation(r["id"], r["owner"], r["title"], r["model"], r["created_at"],
                             r["updated_at"]) for r in rows]

    def get(self, owner: str, conversation_id: str) -> Conversation:
        """The owner's conversation with its messages; another owner's is not found."""
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM conversations WHERE id = ? AND owner = ?",
                               (conversation_id, owner)).fetchone()
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            messages = conn.execute("SELECT * FROM conversation_messages WHERE "
                                    "conversation_id = ? ORDER BY ordinal",
                                    (conversation_id,)).fetchall()
        return Conversation(row["id"], row["owner"], row["title"], row["model"],
                            row["created_at"], row["updated_at"],
                            [_message(m) for m in messages])

    def sync(self, owner: str, conversation_id: str, model: str,
             messages: Messages) -> None:
        """Makes the stored messages equal to ``messages`` (role, content): the prefix both
        share is kept with its citations; what differs (a regenerated answer) is replaced."""
        stored = self.get(owner, conversation_id).messages
        keep = 0
        for (role, content), old in zip(messages, stored, strict=False):
            if (role, content) != (old.role, old.content):
                break
            keep += 1
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM conversation_messages WHERE conversation_id = ? AND "
                         "ordinal >= ?", (conversation_id, keep))
            conn.executemany("INSERT INTO conversation_messages(conversation_id, ordinal, role, "
                             "content, created_at) VALUES (?, ?, ?, ?, ?)",
                             [(conversation_id, i, role, content, now)
                              for i, (role, content) in enumerate(messages) if i >= keep])
            conn.execute("UPDATE conversations SET updated_at = ?, model = ? WHERE id = ?",
                         (now, model, conversation_id))

    def answer(self, owner: str, conversation_id: str, message: StoredMessage) -> int:
        """Appends the assistant's answer; returns its position in the conversation."""
        now = time.time()
        with self.db.transaction() as conn:
            _check_owner(conn, owner, conversation_id)
            ordinal = conn.execute("SELECT COUNT(*) FROM conversation_messages WHERE "
                                   "conversation_id = ?", (conversation_id,)).fetchone()[0]
            conn.execute("INSERT INTO conversation_messages(conversation_id, ordinal, role, "
                         "content, model, citations, abstained, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (conversation_id, ordinal, message.role, message.content,
                          message.model, json.dumps(message.citations, ensure_ascii=False),
                          message.abstained, now))
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                         (now, conversation_id))
        return int(ordinal)

    def rate(self, owner: str, conversation_id: str, ordinal: int, rating: str) -> None:
        """Rates the answer at ``ordinal`` of the owner's conversation ``good``, ``bad`` or
        ``none`` (no rating). Only answers are rated, and only by their conversation's owner;
        an answer that is regenerated loses its rating with it."""
        if rating not in RATINGS:
            raise InvalidRequestError(f"unknown rating {rating!r}: use "
                                      f"{', '.join(RATINGS)}")
        with self.db.transaction() as conn:
            _check_owner(conn, owner, conversation_id)
            row = conn.execute("SELECT role FROM conversation_messages WHERE "
                               "conversation_id = ? AND ordinal = ?",
                               (conversation_id, ordinal)).fetchone()
            if row is None:
                raise NotFoundError(f"conversation {conversation_id!r} has no message "
                                    f"{ordinal}")
            if row["role"] != "assistant":
                raise InvalidRequestError("only answers can be rated, not questions")
            value = RATINGS[rating]
            conn.execute("UPDATE conversation_messages SET rating = ?, rated_at = ? WHERE "
                         "conversation_id = ? AND ordinal = ?",
                         (value, None if value is None else time.time(), conversation_id,
                          ordinal))

    def rated(self, rating: str = "good", limit: int = MAX_RATED) -> list[RatedAnswer]:
        """Every owner's answers rated ``rating`` (the newest ``limit``, oldest first), each
        with the conversation up to it."""
        value = RATINGS.get(rating)
        if value is None:
            raise InvalidRequestError(f"unknown rating {rating!r}: use good or bad")
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT m.conversation_id, m.ordinal, m.rated_at, c.owner FROM "
                "conversation_messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.rating = ? ORDER BY m.rated_at DESC, m.conversation_id, m.ordinal "
                "LIMIT ?", (value, max(0, limit))).fetchall()
            read: dict[str, list[StoredMessage]] = {}
            out = []
            for row in reversed(rows):
                conversation, ordinal = row["conversation_id"], int(row["ordinal"])
                if conversation not in read:
                    read[conversation] = [_message(m) for m in conn.execute(
                        "SELECT * FROM conversation_messages WHERE conversation_id = ? "
                        "ORDER BY ordinal", (conversation,)).fetchall()]
                out.append(RatedAnswer(conversation, ordinal, row["owner"], rating,
                                       float(row["rated_at"]),
                                       read[conversation][:ordinal + 1]))
        return out

    def delete(self, owner: str, conversation_id: str) -> None:
        with self.db.transaction() as conn:
            gone = conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?",
                                (conversation_id, owner)).rowcount
        if not gone:
            raise NotFoundError(f"no conversation {conversation_id!r}")


def _message(row: Any) -> StoredMessage:
    return StoredMessage(row["role"], row["content"], row["model"], json.loads(row["citations"]),
                         None if row["abstained"] is None else bool(row["abstained"]),
                         _RATING_NAMES.get(row["rating"]))


def _check_owner(conn: Any, owner: str, conversation_id: str) -> None:
    """Another owner's conversation is not found, as one that does not exist."""
    owned = conn.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?",
                         (conversation_id, owner)).fetchone()
    if owned is None:
        raise NotFoundError(f"no conversation {conversation_id!r}")
