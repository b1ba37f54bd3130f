"""Remote embedders against a real server: autonom serve plays the Ollama and the
OpenAI-compatible embedding server."""

from __future__ import annotations

import numpy as np
import pytest

from autonom.config import EmbedderSettings, KnowledgeSettings
from autonom.errors import BackendError, ConfigError
from autonom.knowledge.base import KnowledgeBase
from autonom.knowledge.embed import HttpEmbedder, make_embedder
from autonom.store import SqliteDatabase
from knowledge_support import CORPUS


def remote(server, kind: str, key: str = "embed") -> HttpEmbedder:
    return HttpEmbedder(EmbedderSettings(kind=kind, url=server.url, model=server.model,
                                         api_key=server.keys[key]))


@pytest.mark.engine
@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_remote_embeddings_are_unit_vectors_one_per_text(server, kind):
    embedder = remote(server, kind)
    vectors = embedder.embed_passages(["Die Pumpe fördert Wasser.", "Garantie 36 Monate"])
    query = embedder.embed_query("Wasserpumpe")
    assert vectors.shape[0] == 2 and vectors.shape[1] == query.shape[0]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert embedder.name == f"{kind}/{server.model}"


@pytest.mark.engine
def test_a_collection_can_be_indexed_with_a_remote_embedder(server, tmp_path):
    settings = KnowledgeSettings(embedder=EmbedderSettings(
        kind="openai", url=server.url, model=server.model, api_key=server.keys["embed"]))
    kb = KnowledgeBase(SqliteDatabase(tmp_path / "kb.db"), settings)
    report = kb.ingest([CORPUS / "prozesse"], "remote")
    assert sorted(report.added) == ["reklamation.md", "wartungsvertrag.md"]
    hits = kb.search("Wartungsvertrag Preis", "remote")
    assert hits[0].dense is not None and hits[0].source == "wartungsvertrag.md"


@pytest.mark.engine
def test_a_wrong_key_for_the_embedding_server_is_a_clear_error(server):
    embedder = remote(server, "openai", key="revoked")
    with pytest.raises(BackendError, match="401"):
        embedder.embed_query("x")


def test_an_unreachable_embedding_server_is_a_clear_error():
    embedder = HttpEmbedder(EmbedderSettings(kind="ollama", url="http://127.0.0.1:9",
                                             model="m", timeout_s=2))
    with pytest.raises(BackendError, match="unreachable"):
        embedder.embed_query("x")


def test_a_remote_embedder_needs_url_and_model():
    with pytest.raises(ConfigError, match="url"):
        make_embedder(EmbedderSettings(kind="openai"))
    assert make_embedder(EmbedderSettings(kind="none")) is None
