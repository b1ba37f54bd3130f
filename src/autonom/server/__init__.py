"""``autonom serve``: OpenAI- and Ollama-compatible HTTP API with keys, limits, logs, metrics."""

from autonom.server.app import create_app

__all__ = ["create_app"]
