"""LoRA weights → a GGUF adapter file that llama.cpp loads beside the base model.

A LoRA adapter adds ``scale · B·A`` to a weight ``W`` (``A``: rank × in, ``B``: out × rank);
llama.cpp scales by ``alpha / rank``, as peft does. The file holds, per adapted weight, two
tensors named after llama.cpp's tensor (``blk.3.attn_q.weight.lora_a`` and ``…lora_b``),
and the keys ``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``.

One detail matters for llama-family models: when a GGUF file is written, the rows of the
query and key projections are reordered (rotary embeddings in llama.cpp pair neighbouring
dimensions, Hugging Face pairs the halves), and transformers undoes that when it loads a
GGUF file. An adapter trained on the loaded model therefore has its ``B`` rows reordered
the same way before it is written, or the adapter would change the wrong dimensions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autonom.errors import InvalidRequestError

_MODULE = re.compile(r"(model\.layers\.\d+\.[a-z_]+\.[a-z_]+)\.lora_([AB])\.")
_REORDERED = {"attn_q": "heads", "attn_k": "kv_heads"}


@dataclass(frozen=True)
class BaseFacts:
    """What the export needs to know about the base model."""

    architecture: str
    blocks: int
    heads: int
    kv_heads: int


def pairs(state: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """peft state-dict entries grouped per adapted module: name → (A, B)."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        match = _MODULE.search(key)
        if match:
            found.setdefault(match.group(1), {})[match.group(2)] = value
    missing = [name for name, ab in found.items() if set(ab) != {"A", "B"}]
    if missing or not found:
        raise InvalidRequestError("not a LoRA adapter: no complete lora_A/lora_B pairs"
                                  + (f" ({', '.join(missing[:3])})" if missing else ""))
    return {name: (ab["A"], ab["B"]) for name, ab in sorted(found.items())}


def interleave_rows(b: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a query/key projection from Hugging Face's rotary order (per head: first half,
    second half) to llama.cpp's (pairs side by side)."""
    rows = b.shape[0]
    if rows % (2 * heads):
        raise InvalidRequestError(f"{rows} rows do not split into {heads} heads")
    half = rows // heads // 2
    return b.reshape(heads, 2, half, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def write_adapter(path: Path, weights: dict[str, tuple[np.ndarray, np.ndarray]],
                  base: BaseFacts, alpha: float) -> int:
    """Writes the adapter; returns the number of adapted weights."""
    import gguf

    arch = _architecture(base.architecture)
    names = gguf.get_tensor_name_map(arch, base.blocks)
    writer = gguf.GGUFWriter(str(path), base.architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for module, (a, b) in weights.items():
        target = names.get_name(module)
        if target is None:
            raise InvalidRequestError(f"no llama.cpp tensor for {module} ({base.architecture})")
        kind = target.rsplit(".", 1)[-1]
        if base.architecture == "llama" and kind in _REORDERED:
            heads = base.heads if _REORDERED[kind] == "heads" else base.kv_heads
            b = interleave_rows(b, heads)
        writer.add_tensor(f"{target}.weight.lora_a", np.ascontiguousarray(a, np.float32))
        writer.add_tensor(f"{target}.weight.lora_b", np.ascontiguousarray(b, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return len(weights)


def _architecture(name: str):
    import gguf

    for arch, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == name:
            return arch
    raise InvalidRequestError(f"architecture {name!r} is unknown to the GGUF writer")


def is_adapter(path: Path) -> bool:
    """Whether a file is a GGUF LoRA adapter (checked before the engine is given it)."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{path}: not a GGUF file ({exc})") from exc
    field = reader.fields.get("adapter.type")
    if field is None:
        return False
    return bytes(field.parts[field.data[0]]).decode(errors="replace") == "lora"
