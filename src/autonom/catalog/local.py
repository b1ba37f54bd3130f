"""Catalog facts for a local GGUF file, read from the file's own metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from autonom.catalog.catalog import Attention, Experts, ModelFacts, Source, find
from autonom.catalog.fit import Quant
from autonom.errors import InvalidModelFileError
from autonom.models.gguf_file import GGUFInfo, read_gguf

# Where the GGUF metadata gives the window but not which layers use it, the architecture's
# fixed pattern (local layers per group of layers).
_PATTERNS = {"gemma3": (5, 6), "gemma3n": (5, 6), "cohere2": (3, 4), "llama4": (3, 4)}


def facts_from_file(path: Path, label: str) -> tuple[ModelFacts, Quant]:
    """:func:`facts_from_gguf` of a GGUF file on this machine."""
    return facts_from_gguf(read_gguf(path, label), label)


def facts_from_gguf(info: GGUFInfo, label: str) -> tuple[ModelFacts, Quant]:
    """The file's architecture as catalog facts, and its own bits per weight (file size × 8 ÷
    parameters) as the quantization."""
    if not (info.parameters and info.block_count and info.embedding_length):
        raise InvalidModelFileError(f"{label}: the file does not say its layer count and "
                                    "width; cannot estimate its memory")
    extra = info.extra
    heads = info.head_count or 1
    kv_heads = info.head_count_kv or heads
    head_dim = info.key_length or max(1, info.embedding_length // heads)
    experts = None
    active = None
    if extra.get("expert_count") and extra.get("expert_used_count") and extra.get(
            "expert_params"):
        total, used = extra["expert_count"], extra["expert_used_count"]
        experts = Experts(total=total, active=used, shared=extra.get("expert_shared_count", 0))
        active = (info.parameters - extra["expert_params"] * (1 - used / total)) / 1e9
    facts = ModelFacts(
        id=label, name=info.name or label, family=info.architecture,
        params_b=info.parameters / 1e9, active_params_b=active, experts=experts,
        layers=info.block_count, hidden=info.embedding_length, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, context=info.context_length or 4096,
        vocab=extra.get("vocab_size"),
        attention=_attention(info), license="unknown",
        source=Source(facts=f"GGUF metadata of {label}", verified=True))
    bits = info.file_size * 8 / info.parameters
    return facts, Quant(info.quantization, bits)


def _attention(info: GGUFInfo) -> Attention:
    extra = info.extra
    if extra.get("ssm_inner_size") and extra.get("ssm_state_size"):
        return Attention(kind="ssm", inner=extra["ssm_inner_size"],
                         state=extra["ssm_state_size"], conv=extra.get("ssm_conv_kernel", 4))
    if extra.get("kv_lora_rank") and extra.get("rope_dimension_count"):
        return Attention(kind="mla", kv_rank=extra["kv_lora_rank"],
                         rope_dim=extra["rope_dimension_count"])
    window = extra.get("sliding_window") or extra.get("chunk_size")
    if window:
        known = find(info.name or "")
        if known is not None and known.attention.kind in ("sliding", "chunked"):
            return known.attention
        local, pattern = _PATTERNS.get(info.architecture, (1, 1))
        if pattern_key := extra.get("sliding_window_pattern"):
            local, pattern = pattern_key - 1, pattern_key
        kind: Literal["chunked", "sliding"] = "chunked" if extra.get("chunk_size") else "sliding"
        return Attention(kind=kind, window=window, local_layers=local, pattern=pattern)
    return Attention()
