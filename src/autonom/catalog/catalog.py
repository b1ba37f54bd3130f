"""The model catalog shipped with autonom: facts per model variant, the licences they come
under and the GPUs ``autonom fit --gpu`` knows, read from models.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autonom.errors import NotFoundError

CATALOG_FILE = Path(__file__).with_name("models.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attention(_Frozen):
    kind: Literal["full", "sliding", "chunked", "mla", "ssm"] = "full"
    window: int | None = Field(default=None, ge=1)
    """Tokens a local layer sees (sliding window or chunk size)."""
    local_layers: int = Field(default=0, ge=0)
    pattern: int = Field(default=1, ge=1)
    """``local_layers`` of every ``pattern`` layers are local; the rest see everything."""
    kv_rank: int | None = None
    rope_dim: int | None = None
    inner: int | None = None
    """State-space models: width of the inner (expanded) stream."""
    state: int | None = None
    conv: int | None = None

    @model_validator(mode="after")
    def _complete(self) -> Attention:
        if self.kind in ("sliding", "chunked") and (self.window is None
                                                    or not 0 < self.local_layers <= self.pattern):
            raise ValueError(f"{self.kind} attention needs window and 0 < local_layers ≤ pattern")
        if self.kind == "mla" and (self.kv_rank is None or self.rope_dim is None):
            raise ValueError("mla attention needs kv_rank and rope_dim")
        if self.kind == "ssm" and not (self.inner and self.state and self.conv):
            raise ValueError("ssm needs inner, state and conv")
        return self


class Experts(_Frozen):
    total: int = Field(ge=1)
    active: int = Field(ge=1)
    shared: int = 0


class Source(_Frozen):
    facts: str
    verified: bool


class Get(_Frozen):
    """Where to get a model: Hugging Face repo, Ollama tag, a GGUF file autonom can pull,
    or a name ``autonom pull`` knows."""

    hf: str | None = None
    ollama: str | None = None
    gguf: str | None = None
    """``hf://owner/repo/file.gguf``; ``{quant}`` in it stands for the quantization."""
    autonom: str | None = None

    def gguf_for(self, quant: str) -> str | None:
        return self.gguf.replace("{quant}", quant) if self.gguf else None


class Regional(_Frozen):
    regions: list[str]
    scope: str
    rule: str


class License(_Frozen):
    id: str
    name: str
    url: str
    commercial: bool
    """Commercial use of the weights is allowed at all."""
    mau_cap: int | None = None
    """Above this many monthly active users a separate licence is needed."""
    revenue_cap_usd: int | None = None
    above_revenue: Literal["needs_licence", "contact"] | None = None
    attribution: str | None = None
    use_policy: str | None = None
    regional: list[Regional] = Field(default_factory=list)
    note: str | None = None
    source: Source

    @model_validator(mode="after")
    def _revenue(self) -> License:
        if (self.revenue_cap_usd is None) != (self.above_revenue is None):
            raise ValueError("revenue_cap_usd and above_revenue go together")
        return self


class GpuSpec(_Frozen):
    id: str
    name: str
    vram_gb: float = Field(gt=0)
    bandwidth_gbs: float = Field(gt=0)
    fp16_tflops: float = Field(gt=0)


class ModelFacts(_Frozen):
    id: str
    name: str
    family: str
    kind: Literal["instruct", "base", "code"] = "instruct"
    params_b: float = Field(gt=0)
    active_params_b: float | None = Field(default=None, gt=0)
    """Parameters used per token (Mixture of Experts); None for dense models."""
    experts: Experts | None = None
    layers: int = Field(ge=1)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    context: int = Field(ge=1)
    vocab: int | None = Field(default=None, ge=1)
    """Vocabulary size: the embedding table is looked up, not multiplied, per prompt token."""
    attention: Attention = Field(default_factory=Attention)
    languages: list[str] = Field(default_factory=list)
    """ISO 639-1 codes the model card names (a selection when language_count is larger)."""
    language_count: int | None = None
    modalities: list[Literal["text", "image"]] = Field(default_factory=lambda: list[
        Literal["text", "image"]](["text"]))
    tools: Literal["native", "prompted", "none"] = "none"
    thinking: Literal["hybrid", "always", "none"] = "none"
    strengths: list[Literal["code", "fim", "rag", "reasoning"]] = Field(default_factory=list)
    license: str
    get: Get = Field(default_factory=Get)
    source: Source

    @property
    def active_b(self) -> float:
        return self.active_params_b or self.params_b

    @property
    def is_moe(self) -> bool:
        return self.experts is not None


class Catalog(_Frozen):
    licenses: dict[str, License]
    gpus: list[GpuSpec]
    models: list[ModelFacts]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate model ids")
        for model in self.models:
            if model.license not in self.licenses:
                raise ValueError(f"{model.id}: unknown licence {model.license!r}")
            if (model.active_params_b is None) != (model.experts is None):
                raise ValueError(f"{model.id}: MoE models need both experts and active_params_b")
        return self


@lru_cache(maxsize=4)
def read(path: Path = CATALOG_FILE) -> Catalog:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, entry in data.get("licenses", {}).items():
        entry["id"] = key
    return Catalog.model_validate(data)


def load(path: Path = CATALOG_FILE) -> tuple[ModelFacts, ...]:
    return tuple(read(path).models)


def get(model_id: str, path: Path = CATALOG_FILE) -> ModelFacts:
    for facts in read(path).models:
        if facts.id == model_id:
            return facts
    raise NotFoundError(f"model {model_id!r} is not in the catalog; "
                        "'autonom fit --json' lists the ids")


def license_of(facts: ModelFacts, path: Path = CATALOG_FILE) -> License:
    return read(path).licenses[facts.license]


def gpu(spec: str, path: Path = CATALOG_FILE) -> GpuSpec:
    for entry in read(path).gpus:
        if entry.id == spec.lower():
            return entry
    known = ", ".join(g.id for g in read(path).gpus)
    raise NotFoundError(f"unknown GPU {spec!r}; known: {known}")


def find(name: str, path: Path = CATALOG_FILE) -> ModelFacts | None:
    """The catalog entry a model name, Ollama tag, Hugging Face repo or hf:// source refers
    to, or None."""
    wanted = name.strip().lower().removesuffix(":latest")
    for facts in read(path).models:
        get_ = facts.get
        names = {facts.id, get_.autonom, get_.ollama, get_.hf}
        if wanted in {n.lower() for n in names if n}:
            return facts
    if wanted.startswith("hf://"):
        repo = "/".join(wanted.removeprefix("hf://").split("/")[:2])
        for facts in read(path).models:
            for candidate in (facts.get.hf, facts.get.gguf):
                if candidate and repo == "/".join(
                        candidate.lower().removeprefix("hf://").split("/")[:2]):
                    return facts
    return None
