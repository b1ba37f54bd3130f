"""Memory and speed of a model on a machine, from the catalog's facts.

* Weights: **total** parameters × bits per weight of the quantization (a Mixture-of-Experts
  model keeps every expert in memory, whichever few it uses per token).
* KV cache (f16): per layer and token ``2 × kv_heads × head_dim × 2`` bytes; layers with
  sliding-window or chunked attention hold at most ``window`` tokens; multi-head latent
  attention holds one compressed vector of ``kv_rank + rope_dim`` values per layer and token.
  Times context × parallel slots.
* Overhead: compute buffers and runtime, assumed 0.3 GB plus 5 % of the weights.
* Decode speed: memory bandwidth ÷ bytes read per token — the **active** parameters' weights
  (all of them for a dense model) plus the KV cache filled so far. Real engines reach 60–80 %
  of this bound; the estimate applies 0.7 and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from autonom.catalog.catalog import ModelFacts
from autonom.errors import InvalidRequestError

GB = 1e9
BITS_PER_WEIGHT = {"Q4_K_M": 4.85, "Q5_K_M": 5.69, "Q8_0": 8.5, "F16": 16.0}
"""Average bits per weight of llama.cpp's quantizations over a whole model."""
KV_BYTES = 2  # f16 cache
OVERHEAD_FIXED_GB = 0.3
OVERHEAD_SHARE = 0.05
BANDWIDTH_EFFICIENCY = 0.7


@dataclass(frozen=True)
class Estimate:
    model: str
    quant: str
    context: int
    slots: int
    weights_gb: float
    kv_gb: float
    overhead_gb: float

    @property
    def memory_gb(self) -> float:
        return self.weights_gb + self.kv_gb + self.overhead_gb


def bits(quant: str) -> float:
    try:
        return BITS_PER_WEIGHT[quant.upper()]
    except KeyError:
        raise InvalidRequestError(f"unknown quantization {quant!r}; known: "
                                  f"{', '.join(BITS_PER_WEIGHT)}") from None


def weight_bytes(facts: ModelFacts, quant: str, active: bool = False) -> float:
    params = facts.active_b if active else facts.params_b
    return params * GB * bits(quant) / 8


def layer_split(facts: ModelFacts) -> tuple[int, int]:
    """(global layers, local layers): local ones see only the last ``window`` tokens."""
    attention = facts.attention
    if attention.kind not in ("sliding", "chunked"):
        return facts.layers, 0
    groups, rest = divmod(facts.layers, attention.pattern)
    global_layers = groups * (attention.pattern - attention.local_layers) \
        + max(0, rest - attention.local_layers)
    return global_layers, facts.layers - global_layers


def kv_bytes(facts: ModelFacts, context: int, slots: int = 1) -> float:
    attention = facts.attention
    if attention.kind == "mla":
        assert attention.kv_rank is not None and attention.rope_dim is not None
        per_token = facts.layers * (attention.kv_rank + attention.rope_dim) * KV_BYTES
        return per_token * context * slots
    per_layer_token = 2 * facts.kv_heads * facts.head_dim * KV_BYTES
    global_layers, local_layers = layer_split(facts)
    window = min(context, attention.window or context)
    return per_layer_token * (global_layers * context + local_layers * window) * slots


def estimate(facts: ModelFacts, quant: str, context: int | None = None,
             slots: int = 1) -> Estimate:
    context = min(context or facts.context, facts.context)
    weights = weight_bytes(facts, quant)
    return Estimate(model=facts.id, quant=quant.upper(), context=context, slots=slots,
                    weights_gb=weights / GB, kv_gb=kv_bytes(facts, context, slots) / GB,
                    overhead_gb=OVERHEAD_FIXED_GB + OVERHEAD_SHARE * weights / GB)


def decode_tokens_per_s(facts: ModelFacts, quant: str, bandwidth_gbs: float,
                        filled: int = 0) -> float:
    """Upper-bound decode speed × efficiency, for one sequence with ``filled`` tokens of
    context already in the cache."""
    per_token = weight_bytes(facts, quant, active=True) + kv_bytes(facts, filled)
    return BANDWIDTH_EFFICIENCY * bandwidth_gbs * GB / per_token


RAM_SHARE = 0.85
"""Of the machine's RAM, what a model may use (the OS and other programs keep the rest)."""
VRAM_SHARE = 0.95


@dataclass(frozen=True)
class Verdict:
    estimate: Estimate
    fits: str
    """vram | partial | ram | no"""
    gpu_layers: int
    decode_tok_s: float | None

    def to_json(self) -> dict[str, object]:
        e = self.estimate
        return {"model": e.model, "quant": e.quant, "context": e.context, "slots": e.slots,
                "memory_gb": round(e.memory_gb, 2), "weights_gb": round(e.weights_gb, 2),
                "kv_gb": round(e.kv_gb, 2), "fits": self.fits, "gpu_layers": self.gpu_layers,
                "decode_tok_s": None if self.decode_tok_s is None
                else round(self.decode_tok_s, 1)}


def judge(facts: ModelFacts, quant: str, ram_gb: float, cpu_bandwidth_gbs: float,
          vram_gb: float = 0.0, gpu_bandwidth_gbs: float | None = None,
          context: int | None = None, slots: int = 1) -> Verdict:
    """Where the model fits (all on the GPU, split, in RAM, nowhere) and how fast it decodes
    there. A split puts whole layers on the GPU with the KV cache and overhead; the rest of
    the layers' weights are read from RAM at CPU bandwidth."""
    e = estimate(facts, quant, context, slots)
    ram, vram = ram_gb * RAM_SHARE, vram_gb * VRAM_SHARE
    gpu_bw = gpu_bandwidth_gbs or cpu_bandwidth_gbs
    if vram and e.memory_gb <= vram:
        return Verdict(e, "vram", facts.layers, decode_tokens_per_s(facts, quant, gpu_bw))
    per_layer = e.weights_gb / facts.layers
    room = vram - e.kv_gb - e.overhead_gb
    layers = max(0, min(facts.layers - 1, int(room // per_layer))) if vram else 0
    if layers and e.memory_gb - layers * per_layer <= ram:
        share = layers / facts.layers
        active = weight_bytes(facts, quant, active=True) / GB
        seconds = (active * share / gpu_bw + active * (1 - share) / cpu_bandwidth_gbs)
        return Verdict(e, "partial", layers, BANDWIDTH_EFFICIENCY / seconds)
    if e.memory_gb <= ram:
        return Verdict(e, "ram", 0, decode_tokens_per_s(facts, quant, cpu_bandwidth_gbs))
    return Verdict(e, "no", 0, None)
