"""The machine a model should fit on: memory, cores, instruction sets, GPUs, bandwidth."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

GB = 1e9
SIMD_FLAGS = ("avx", "avx2", "avx512f", "fma", "f16c", "avx_vnni", "amx_tile", "neon", "asimd")


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_gb: float
    bandwidth_gbs: float | None = None


@dataclass(frozen=True)
class Machine:
    ram_gb: float
    cores: int
    cpu_bandwidth_gbs: float
    flags: tuple[str, ...] = ()
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    described: bool = False
    """True when given on the command line rather than detected."""

    @property
    def vram_gb(self) -> float:
        return sum(g.vram_gb for g in self.gpus)

    @property
    def gpu_bandwidth_gbs(self) -> float | None:
        known = [g.bandwidth_gbs for g in self.gpus if g.bandwidth_gbs]
        return min(known) if known else None


def cpu_flags() -> tuple[str, ...]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present = set(line.split(":", 1)[1].split())
            return tuple(f for f in SIMD_FLAGS if f in present)
    return ()


def gpus() -> tuple[Gpu, ...]:
    """NVIDIA GPUs through NVML when the library is installed; none otherwise."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: no GPU to count
        return ()
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total
            found.append(Gpu(name if isinstance(name, str) else name.decode(), memory / GB))
        return tuple(found)
    finally:
        pynvml.nvmlShutdown()


def measure_bandwidth(size_mb: int = 256, rounds: int = 5) -> float:
    """Memory read bandwidth in GB/s: the best of a few sums over a buffer far larger than
    the CPU caches (one thread per core, as the engine reads weights)."""
    import numpy as np

    data = np.ones(size_mb * 2**20 // 8, dtype=np.float64)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - started)
    return data.nbytes / best / GB


def detect(bandwidth_gbs: float | None = None) -> Machine:
    """This machine; its memory bandwidth is measured unless ``bandwidth_gbs`` is given."""
    import psutil

    return Machine(ram_gb=psutil.virtual_memory().total / GB,
                   cores=psutil.cpu_count(logical=False) or os.cpu_count() or 1,
                   cpu_bandwidth_gbs=bandwidth_gbs or measure_bandwidth(), flags=cpu_flags(),
                   gpus=gpus())
