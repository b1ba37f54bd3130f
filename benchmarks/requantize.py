"""Rewrite a GGUF's Q4_1 tensors in another llama.cpp format (benchmarks only).

The default model ships as Q4_1, a format llama.cpp's CPU backend has no batched (repacked
or tinyBLAS) kernels for. To measure what the format costs, this dequantises those tensors
and quantises them again with gguf-py: Q8_0 keeps the Q4_1 values almost exactly, Q4_0 adds
a second rounding. It is a measuring tool, not a way to make production model files.

    python benchmarks/requantize.py IN.gguf OUT.gguf Q4_0
"""

from __future__ import annotations

import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter


def requantize(src: Path, dst: Path, target: str) -> Path:
    kind = GGMLQuantizationType[target]
    reader = GGUFReader(src)
    field = reader.fields["general.architecture"]
    writer = GGUFWriter(str(dst), bytes(field.parts[field.data[0]]).decode())
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        value_type = f.types[0]
        if value_type == GGUFValueType.ARRAY:
            if f.types[-1] == GGUFValueType.STRING:
                writer.add_array(f.name, [bytes(f.parts[i]).decode("utf-8", "replace")
                                          for i in f.data])
            else:
                writer.add_array(f.name, [f.parts[i].tolist()[0] for i in f.data])
        elif value_type == GGUFValueType.STRING:
            writer.add_string(f.name, bytes(f.parts[f.data[0]]).decode("utf-8", "replace"))
        else:
            writer.add_key_value(f.name, f.parts[f.data[0]].tolist()[0], value_type)
    for tensor in reader.tensors:
        if tensor.tensor_type == GGMLQuantizationType.Q4_1:
            shape = [int(x) for x in reversed(tensor.shape)]
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(shape)
            data = gguf.quants.quantize(values.astype(np.float32), kind)
            writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=kind)
        else:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape,
                              raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


if __name__ == "__main__":
    requantize(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
