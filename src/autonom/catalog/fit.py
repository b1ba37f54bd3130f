"""Memory and speed of a model on a machine, from the catalog's facts.

* Weights: **total** parameters × bits per weight of the quantization (a Mixture-of-Experts
  model keeps every expert in memory, whichever few it uses per token). For a local GGUF
  file the bits per weight are the file's own: size × 8 ÷ parameters.
* KV cache (f16): per layer and token ``2 × kv_heads × head_dim × 2`` bytes; layers with
  sliding-window or chunked attention hold at most ``window`` tokens; multi-head latent
  attention holds one compressed vector of ``kv_rank + rope_dim`` values per layer and token;
  a state-space model (Mamba) holds a fixed f32 state per sequence instead. Times parallel
  slots.
* Overhead: compute buffers and runtime, assumed 0.1 GB plus 5 % of the weights.
* Decode speed: memory bandwidth ÷ bytes read per token — the **active** parameters' weights
  (all of them for a dense model) plus the KV cache filled so far. Real engines reach 60–80 %
  of this bound; the estimate applies 0.7 and says so. On a CPU the engine also spends about
  0.1 ms per layer and token synchronising its threads (calibrated with the tiny models in
  benchmarks/RESULTS.md; it only matters for models under a few hundred MB).
* Prompt speed: compute ÷ FLOPs per token, at 55 % of the throughput given (prompt
  processing is compute-bound, decoding memory-bound). FLOPs per token: 2 × the active
  parameters without the embedding table (looked up, not multiplied) plus attention,
  4 × heads × head_dim per layer and token of context it sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from autonom.catalog.catalog import ModelFacts
from autonom.config import MEMORY_SHARE
from autonom.errors import InvalidRequestError

GB = 1e9
BITS_PER_WEIGHT = {"Q4_K_M": 4.85, "Q5_K_M": 5.69, "Q8_0": 8.5, "F16": 16.0}
"""Average bits per weight of llama.cpp's quantizations over a whole model."""
KV_BYTES = 2  # f16 cache
SSM_STATE_BYTES = 4  # Mamba states are kept in f32
OVERHEAD_FIXED_GB = 0.1
OVERHEAD_SHARE = 0.05
BANDWIDTH_EFFICIENCY = 0.7
CPU_LAYER_SYNC_S = 1e-4
COMPUTE_EFFICIENCY = 0.55
ASSUMPTIONS = (
    "weights = total parameters × bits per weight (every expert of a MoE model is resident); "
    "KV cache f16 per the model's attention layout × context × slots; overhead 0.1 GB + 5 %; "
    "decode ≈ 0.7 × memory bandwidth ÷ bytes of the active weights per token (+ 0.1 ms per "
    "layer on a CPU); "
    "prompt ≈ 0.55 × FLOP/s ÷ (2 × active parameters); several GPUs: tensor parallel, "
    "bandwidth and FLOP/s add up")


@dataclass(frozen=True)
class Quant:
    name: str
    bits: float

    @classmethod
    def named(cls, name: str) -> Quant:
        try:
            return cls(name.upper(), BITS_PER_WEIGHT[name.upper()])
        except KeyError:
            raise InvalidRequestError(f"unknown quantization {name!r}; known: "
                                      f"{', '.join(BITS_PER_WEIGHT)}") from None


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


def _quant(quant: str | Quant) -> Quant:
    return quant if isinstance(quant, Quant) else Quant.named(quant)


def weight_bytes(facts: ModelFacts, quant: str | Quant, active: bool = False) -> float:
    params = facts.active_b if active else facts.params_b
    return params * GB * _quant(quant).bits / 8


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
    if attention.kind == "ssm":
        assert attention.inner and attention.state and attention.conv
        per_layer = attention.inner * (attention.state + attention.conv) * SSM_STATE_BYTES
        return facts.layers * per_layer * slots
    if attention.kind == "mla":
        assert attention.kv_rank is not None and attention.rope_dim is not None
        per_token = facts.layers * (attention.kv_rank + attention.rope_dim) * KV_BYTES
        return per_token * context * slots
    per_layer_token = 2 * facts.kv_heads * facts.head_dim * KV_BYTES
    global_layers, local_layers = layer_split(facts)
    window = min(context, attention.window or context)
    return per_layer_token * (global_layers * context + local_layers * window) * slots


def estimate(facts: ModelFacts, quant: str | Quant, context: int | None = None,
             slots: int = 1) -> Estimate:
    q = _quant(quant)
    context = min(context or facts.context, facts.context)
    weights = weight_bytes(facts, q)
    return Estimate(model=facts.id, quant=q.name, context=context, slots=slots,
                    weights_gb=weights / GB, kv_gb=kv_bytes(facts, context, slots) / GB,
                    overhead_gb=OVERHEAD_FIXED_GB + OVERHEAD_SHARE * weights / GB)


def decode_tokens_per_s(facts: ModelFacts, quant: str | Quant, bandwidth_gbs: float,
                        filled: int = 0, cpu: bool = True) -> float:
    """Upper-bound decode speed × efficiency, for one sequence with ``filled`` tokens of
    context already in the cache (plus the CPU engine's per-layer synchronisation)."""
    per_token = weight_bytes(facts, quant, active=True) + kv_bytes(facts, filled)
    seconds = per_token / (BANDWIDTH_EFFICIENCY * bandwidth_gbs * GB)
    return 1 / (seconds + (CPU_LAYER_SYNC_S * facts.layers if cpu else 0.0))


def prompt_flops(facts: ModelFacts, prompt_tokens: int = 512) -> float:
    """FLOPs per token when a prompt of ``prompt_tokens`` is processed."""
    embedding = (facts.vocab or 0) * facts.hidden
    dense = 2 * max(facts.active_b * GB - embedding, facts.active_b * GB / 2)
    if facts.attention.kind == "ssm":
        return dense
    average = prompt_tokens / 2
    global_layers, local_layers = layer_split(facts)
    seen = global_layers * average + local_layers * min(average, facts.attention.window or
                                                        average)
    return dense + 4 * facts.heads * facts.head_dim * seen


def prompt_tokens_per_s(facts: ModelFacts, gflops: float, prompt_tokens: int = 512) -> float:
    """Prompt (prefill) speed from compute."""
    return COMPUTE_EFFICIENCY * gflops * GB / prompt_flops(facts, prompt_tokens)


RAM_SHARE = MEMORY_SHARE
"""Of the machine's RAM, what a model may use (the OS and other programs keep the rest):
the share the engine's memory budget allows."""
VRAM_SHARE = 0.95


@dataclass(frozen=True)
class Hardware:
    """What the estimate needs to know about a machine."""

    ram_gb: float
    cpu_bandwidth_gbs: float
    cpu_gflops: float = 0.0
    vram_gb: float = 0.0
    gpu_bandwidth_gbs: float | None = None
    gpu_tflops: float | None = None


@dataclass(frozen=True)
class Verdict:
    estimate: Estimate
    fits: str
    """vram | partial | ram | no"""
    gpu_layers: int
    decode_tok_s: float | None
    prompt_tok_s: float | None = None

    def to_json(self) -> dict[str, object]:
        e = self.estimate

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {"model": e.model, "quant": e.quant, "context": e.context, "slots": e.slots,
                "memory_gb": round(e.memory_gb, 2), "weights_gb": round(e.weights_gb, 2),
                "kv_gb": round(e.kv_gb, 2), "fits": self.fits, "gpu_layers": self.gpu_layers,
                "decode_tok_s": rounded(self.decode_tok_s),
                "prompt_tok_s": rounded(self.prompt_tok_s)}


def judge(facts: ModelFacts, quant: str | Quant, hw: Hardware, context: int | None = None,
          slots: int = 1) -> Verdict:
    """Where the model fits (all on the GPU, split, in RAM, nowhere) and how fast it runs
    there. A split puts whole layers on the GPU with the KV cache and overhead; the rest of
    the layers' weights are read from RAM at CPU bandwidth."""
    e = estimate(facts, quant, context, slots)
    ram, vram = hw.ram_gb * RAM_SHARE, hw.vram_gb * VRAM_SHARE
    gpu_bw = hw.gpu_bandwidth_gbs or hw.cpu_bandwidth_gbs
    gpu_gflops = (hw.gpu_tflops or 0) * 1000 or hw.cpu_gflops
    cpu_prompt = prompt_tokens_per_s(facts, hw.cpu_gflops) if hw.cpu_gflops else None
    if vram and e.memory_gb <= vram:
        return Verdict(e, "vram", facts.layers,
                       decode_tokens_per_s(facts, quant, gpu_bw, cpu=False),
                       prompt_tokens_per_s(facts, gpu_gflops) if gpu_gflops else None)
    per_layer = e.weights_gb / facts.layers
    room = vram - e.kv_gb - e.overhead_gb
    layers = max(0, min(facts.layers - 1, int(room // per_layer))) if vram else 0
    if layers and e.memory_gb - layers * per_layer <= ram:
        share = layers / facts.layers
        active = weight_bytes(facts, quant, active=True) / GB
        seconds = (active * share / gpu_bw + active * (1 - share) / hw.cpu_bandwidth_gbs) \
            / BANDWIDTH_EFFICIENCY + CPU_LAYER_SYNC_S * (facts.layers - layers)
        return Verdict(e, "partial", layers, 1 / seconds, cpu_prompt)
    if e.memory_gb <= ram:
        return Verdict(e, "ram", 0, decode_tokens_per_s(facts, quant, hw.cpu_bandwidth_gbs),
                       cpu_prompt)
    return Verdict(e, "no", 0, None)
