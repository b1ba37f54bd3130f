"""Small GGUF files for tests, written with the official ``gguf`` package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter


def write_tiny_gguf(
    path: Path,
    *,
    chat_template: str | None = None,
    name: str = "Tiny Test Model",
    license: str | None = "apache-2.0",
) -> Path:
    """A structurally valid GGUF (llama architecture, two small f32 tensors)."""
    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name)
    if license:
        writer.add_license(license)
    writer.add_context_length(512)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_file_type(0)
    writer.add_token_list(["<unk>", "<s>", "</s>", "Hallo"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.ones((8,), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def truncate(src: Path, dest: Path, keep_fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep_fraction)])
    return dest
