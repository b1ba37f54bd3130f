"""The model catalog shipped with autonom: facts per model variant, read from models.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autonom.errors import NotFoundError

CATALOG_FILE = Path(__file__).with_name("models.yaml")


class Attention(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["full", "sliding", "chunked", "mla"] = "full"
    window: int | None = Field(default=None, ge=1)
    """Tokens a local layer sees (sliding window or chunk size)."""
    local_layers: int = Field(default=0, ge=0)
    pattern: int = Field(default=1, ge=1)
    """``local_layers`` of every ``pattern`` layers are local; the rest see everything."""
    kv_rank: int | None = None
    rope_dim: int | None = None

    @model_validator(mode="after")
    def _complete(self) -> Attention:
        if self.kind in ("sliding", "chunked") and (self.window is None
                                                    or not 0 < self.local_layers < self.pattern):
            raise ValueError(f"{self.kind} attention needs window and local_layers < pattern")
        if self.kind == "mla" and (self.kv_rank is None or self.rope_dim is None):
            raise ValueError("mla attention needs kv_rank and rope_dim")
        return self


class Experts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int = Field(ge=1)
    active: int = Field(ge=1)
    shared: int = 0


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    facts: str
    verified: bool


class ModelFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    family: str
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
    attention: Attention = Field(default_factory=Attention)
    source: Source

    @property
    def active_b(self) -> float:
        return self.active_params_b or self.params_b

    @property
    def is_moe(self) -> bool:
        return self.experts is not None


@lru_cache(maxsize=4)
def load(path: Path = CATALOG_FILE) -> tuple[ModelFacts, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(ModelFacts.model_validate(entry) for entry in data["models"])


def get(model_id: str, path: Path = CATALOG_FILE) -> ModelFacts:
    for facts in load(path):
        if facts.id == model_id:
            return facts
    raise NotFoundError(f"model {model_id!r} is not in the catalog")
