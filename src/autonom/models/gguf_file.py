"""A careful reader for GGUF headers: model files are untrusted input.

It reads the key/value metadata and the tensor table, checks every length against the file
size (a truncated download is refused, not loaded), and summarises what users want to know:
architecture, parameter count, quantization, context length, chat template, licence.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from autonom.errors import InvalidModelFileError

MAGIC = b"GGUF"
_MAX_STRING = 64 * 1024 * 1024
_MAX_ARRAY = 16 * 1024 * 1024
_MAX_KV = 65_536
_MAX_TENSORS = 1_000_000
_MAX_DIMS = 4
_KEEP_ARRAY_ITEMS = 64  # arrays longer than this (vocabularies) are summarised by length

# GGUF value types: (struct format, size) for scalars.
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFInfo:
    """What ``autonom show`` prints and the engine needs to know about a model file."""

    architecture: str
    name: str | None
    parameters: int
    quantization: str
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    chat_template: str | None
    bos_token: str | None
    eos_token: str | None
    add_bos_token: bool
    license: str | None
    size_label: str | None
    gguf_version: int
    tensor_count: int
    file_size: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GGUFInfo:
        return cls(**data)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def kv_bytes_per_token(self, bytes_per_value: int = 2) -> int:
        """KV-cache bytes for one token of context (f16 cache by default)."""
        if not (self.block_count and self.head_count_kv):
            return 0
        head_dim = self.key_length or (
            ((self.embedding_length or 0) // self.head_count) if self.head_count else 0
        )
        return 2 * self.block_count * self.head_count_kv * head_dim * bytes_per_value


class _Reader:
    def __init__(self, fh: BinaryIO, size: int, path: Path) -> None:
        self.fh, self.size, self.path = fh, size, path

    def need(self, n: int, what: str) -> bytes:
        pos = self.fh.tell()
        if n < 0 or pos + n > self.size:
            raise InvalidModelFileError(
                f"{self.path.name} is truncated or corrupt: {what} runs past the end of the file"
            )
        return self.fh.read(n)

    def scalar(self, fmt: str, size: int, what: str) -> Any:
        return struct.unpack(fmt, self.need(size, what))[0]

    def u32(self, what: str) -> int:
        return int(self.scalar("<I", 4, what))

    def u64(self, what: str) -> int:
        return int(self.scalar("<Q", 8, what))

    def string(self, what: str) -> str:
        length = self.u64(what)
        if length > _MAX_STRING:
            raise InvalidModelFileError(f"{self.path.name}: {what} is implausibly long ({length})")
        return self.need(length, what).decode("utf-8", errors="replace")

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.scalar(*_SCALARS[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            item_type = self.u32(what)
            count = self.u64(what)
            if count > _MAX_ARRAY:
                raise InvalidModelFileError(f"{self.path.name}: {what} has {count} items")
            if item_type == _ARRAY:
                raise InvalidModelFileError(f"{self.path.name}: nested arrays in {what}")
            return [self.value(item_type, what) for _ in range(count)]
        raise InvalidModelFileError(f"{self.path.name}: unknown value type {vtype} in {what}")


def read_gguf(path: Path, label: str | None = None) -> GGUFInfo:
    """Parse and validate a GGUF file's header; raise InvalidModelFileError if unusable.

    ``label`` names the file in error messages (e.g. the download, not its temporary file).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            return _parse(_Reader(fh, size, Path(label) if label else path))
    except FileNotFoundError as exc:
        raise InvalidModelFileError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise InvalidModelFileError(f"{path} is a directory, not a GGUF file") from exc
    except OSError as exc:
        raise InvalidModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _parse(r: _Reader) -> GGUFInfo:
    if r.size < 24 or r.fh.read(4) != MAGIC:
        raise InvalidModelFileError(f"{r.path.name} is not a GGUF model file (wrong magic bytes)")
    version = r.u32("version")
    if version not in (2, 3):
        raise InvalidModelFileError(f"{r.path.name}: unsupported GGUF version {version}")
    n_tensors, n_kv = r.u64("tensor count"), r.u64("metadata count")
    if n_tensors > _MAX_TENSORS or n_kv > _MAX_KV:
        raise InvalidModelFileError(f"{r.path.name}: implausible header counts")
    meta: dict[str, Any] = {}
    token_list: list[str] | None = None
    for _ in range(n_kv):
        key = r.string("metadata key")
        value = r.value(r.u32(key), key)
        if key == "tokenizer.ggml.tokens":
            token_list = value
        if isinstance(value, list) and len(value) > _KEEP_ARRAY_ITEMS:
            value = f"<{len(value)} items>"
        meta[key] = value
    alignment = int(meta.get("general.alignment", 32) or 32)
    params, data_needed, tensor_types, expert_params = _read_tensors(r, n_tensors)
    data_start = -(-r.fh.tell() // alignment) * alignment
    if data_start + data_needed > r.size:
        missing = data_start + data_needed - r.size
        raise InvalidModelFileError(
            f"{r.path.name} is truncated: tensor data ends {missing} bytes past the end of the file"
        )
    info = _summarise(meta, token_list, params, tensor_types, version, n_tensors, r.size)
    info.extra.update(_layout(meta, info.architecture, expert_params))
    if token_list is not None:
        info.extra["vocab_size"] = len(token_list)
    return info


def _read_tensors(r: _Reader, n_tensors: int) -> tuple[int, int, dict[int, int], int]:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    params, data_end, expert_params = 0, 0, 0
    type_counts: dict[int, int] = {}
    for _ in range(n_tensors):
        name = r.string("tensor name")
        n_dims = r.u32(name)
        if not 1 <= n_dims <= _MAX_DIMS:
            raise InvalidModelFileError(f"{r.path.name}: tensor {name} has {n_dims} dimensions")
        elements = 1
        for _ in range(n_dims):
            elements *= r.u64(name)
        ttype, offset = r.u32(name), r.u64(name)
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
        except (ValueError, KeyError) as exc:
            raise InvalidModelFileError(f"{r.path.name}: tensor {name} has unknown type") from exc
        params += elements
        if "_exps." in name:  # routed experts of a Mixture-of-Experts layer
            expert_params += elements
        type_counts[ttype] = type_counts.get(ttype, 0) + elements
        data_end = max(data_end, offset + elements // block * type_size)
    return params, data_end, type_counts, expert_params


_LAYOUT_KEYS = {
    "sliding_window": "attention.sliding_window",
    "sliding_window_pattern": "attention.sliding_window_pattern",
    "chunk_size": "attention.chunk_size",
    "expert_count": "expert_count",
    "expert_used_count": "expert_used_count",
    "expert_shared_count": "expert_shared_count",
    "kv_lora_rank": "attention.kv_lora_rank",
    "rope_dimension_count": "rope.dimension_count",
    "ssm_inner_size": "ssm.inner_size",
    "ssm_state_size": "ssm.state_size",
    "ssm_conv_kernel": "ssm.conv_kernel",
}


def _layout(meta: dict[str, Any], arch: str, expert_params: int) -> dict[str, int]:
    """Architecture facts the memory estimate needs (``autonom fit`` on a local file)."""
    found: dict[str, int] = {}
    for key, suffix in _LAYOUT_KEYS.items():
        value = meta.get(f"{arch}.{suffix}")
        if isinstance(value, int) and not isinstance(value, bool):
            found[key] = value
    if expert_params:
        found["expert_params"] = expert_params
    return found


def _quant_name(meta: dict[str, Any], tensor_types: dict[int, int]) -> str:
    from gguf.constants import GGMLQuantizationType, LlamaFileType

    file_type = meta.get("general.file_type")
    if isinstance(file_type, int):
        try:
            return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    if not tensor_types:
        return "unknown"
    dominant = max(tensor_types, key=lambda t: tensor_types[t])
    try:
        return GGMLQuantizationType(dominant).name
    except ValueError:
        return "unknown"


def _summarise(
    meta: dict[str, Any],
    tokens: list[str] | None,
    params: int,
    tensor_types: dict[int, int],
    version: int,
    n_tensors: int,
    size: int,
) -> GGUFInfo:
    arch = str(meta.get("general.architecture") or "unknown")

    def arch_int(key: str) -> int | None:
        value = meta.get(f"{arch}.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)

    def token(key: str) -> str | None:
        idx = meta.get(f"tokenizer.ggml.{key}_token_id")
        if tokens is not None and isinstance(idx, int) and 0 <= idx < len(tokens):
            return tokens[idx]
        return None

    head_count = arch_int("attention.head_count")
    head_count_kv = arch_int("attention.head_count_kv") or head_count
    template = meta.get("tokenizer.chat_template")
    licence = meta.get("general.license")
    add_bos = meta.get("tokenizer.ggml.add_bos_token")
    return GGUFInfo(
        architecture=arch,
        name=meta.get("general.name") if isinstance(meta.get("general.name"), str) else None,
        parameters=params,
        quantization=_quant_name(meta, tensor_types),
        context_length=arch_int("context_length"),
        block_count=arch_int("block_count"),
        embedding_length=arch_int("embedding_length"),
        head_count=head_count,
        head_count_kv=head_count_kv,
        key_length=arch_int("attention.key_length"),
        chat_template=template if isinstance(template, str) else None,
        bos_token=token("bos"),
        eos_token=token("eos"),
        add_bos_token=(
            add_bos if isinstance(add_bos, bool) else meta.get("tokenizer.ggml.model") == "llama"
        ),
        license=licence if isinstance(licence, str) else None,
        size_label=meta.get("general.size_label")
        if isinstance(meta.get("general.size_label"), str)
        else None,
        gguf_version=version,
        tensor_count=n_tensors,
        file_size=size,
    )
