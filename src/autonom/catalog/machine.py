"""The machine a model should fit on: memory, cores, instruction sets, GPUs, bandwidth."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from autonom.catalog.catalog import GpuSpec, read
from autonom.catalog.fit import Hardware

GB = 1e9
SIMD_FLAGS = ("avx", "avx2", "avx512f", "fma", "f16c", "avx_vnni", "amx_tile", "neon", "asimd")


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_gb: float
    bandwidth_gbs: float | None = None
    tflops: float | None = None


@dataclass(frozen=True)
class Machine:
    ram_gb: float
    cores: int
    cpu_bandwidth_gbs: float
    cpu_gflops: float = 0.0
    flags: tuple[str, ...] = ()
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    described: bool = False
    """True when given on the command line rather than detected."""

    @property
    def vram_gb(self) -> float:
        return sum(g.vram_gb for g in self.gpus)

    @property
    def gpu_bandwidth_gbs(self) -> float | None:
        """All GPUs together (tensor parallel: each reads its share of every layer)."""
        known = [g.bandwidth_gbs for g in self.gpus if g.bandwidth_gbs]
        return sum(known) if known and len(known) == len(self.gpus) else None

    @property
    def gpu_tflops(self) -> float | None:
        known = [g.tflops for g in self.gpus if g.tflops]
        return sum(known) if known and len(known) == len(self.gpus) else None

    def hardware(self) -> Hardware:
        return Hardware(ram_gb=self.ram_gb, cpu_bandwidth_gbs=self.cpu_bandwidth_gbs,
                        cpu_gflops=self.cpu_gflops, vram_gb=self.vram_gb,
                        gpu_bandwidth_gbs=self.gpu_bandwidth_gbs, gpu_tflops=self.gpu_tflops)

    def describe(self) -> str:
        parts = [f"{self.ram_gb:.0f} GB RAM"]
        if self.cores:
            parts.append(f"{self.cores} cores")
        parts.append(f"CPU bandwidth {self.cpu_bandwidth_gbs:.0f} GB/s")
        if self.cpu_gflops:
            parts.append(f"{self.cpu_gflops:.0f} GFLOP/s")
        if self.gpus:
            names = sorted({g.name for g in self.gpus})
            parts.append(f"{len(self.gpus)} × {', '.join(names)} = {self.vram_gb:.0f} GB VRAM")
        else:
            parts.append("no GPU")
        return ", ".join(parts) + (" (described)" if self.described else " (detected)")


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
            found.append(known_gpu(name if isinstance(name, str) else name.decode(),
                                   memory / GB))
        return tuple(found)
    finally:
        pynvml.nvmlShutdown()


def known_gpu(name: str, vram_gb: float) -> Gpu:
    """A detected GPU with bandwidth and FLOP/s from the catalog when its name is known."""
    spec = _spec_for(name)
    if spec is None:
        return Gpu(name, vram_gb)
    return Gpu(name, vram_gb, spec.bandwidth_gbs, spec.fp16_tflops)


def _spec_for(name: str) -> GpuSpec | None:
    lowered = name.lower()
    best = None
    for spec in read().gpus:
        matches = spec.name.lower() in lowered or lowered in spec.name.lower()
        if matches and (best is None or len(spec.name) > len(best.name)):
            best = spec
    return best


def parse_gpus(value: str) -> tuple[Gpu, ...]:
    """``h100-sxm:8`` or ``rtx-4090`` or ``rtx-4090:2,l4`` → GPUs from the catalog's table."""
    from autonom.catalog.catalog import gpu
    from autonom.errors import InvalidRequestError

    found: list[Gpu] = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        spec_id, _, count = part.partition(":")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise InvalidRequestError(f"--gpu {part!r}: the count after ':' must be a "
                                      "number") from None
        if not 1 <= n <= 64:
            raise InvalidRequestError(f"--gpu {part!r}: between 1 and 64 GPUs")
        spec = gpu(spec_id)
        found += [Gpu(spec.name, spec.vram_gb, spec.bandwidth_gbs, spec.fp16_tflops)] * n
    return tuple(found)


def measure_gflops(size: int = 1024, rounds: int = 3) -> float:
    """Single-precision matrix multiply throughput of this CPU (all cores), GFLOP/s."""
    import numpy as np

    a = np.ones((size, size), dtype=np.float32)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / GB


def measure_bandwidth(size_mb: int = 512, rounds: int = 5, threads: int | None = None) -> float:
    """Memory read bandwidth in GB/s: the best of a few sums over a buffer far larger than
    the CPU caches, one thread per core (as the engine reads weights)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = threads or os.cpu_count() or 1
    data = np.ones(size_mb * 2**20 // 8, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            started = time.perf_counter()
            list(pool.map(np.sum, parts))  # numpy releases the GIL while it sums
            best = min(best, time.perf_counter() - started)
    return data.nbytes / best / GB


def detect(bandwidth_gbs: float | None = None) -> Machine:
    """This machine; its memory bandwidth is measured unless ``bandwidth_gbs`` is given."""
    import psutil

    return Machine(ram_gb=psutil.virtual_memory().total / GB,
                   cores=psutil.cpu_count(logical=False) or os.cpu_count() or 1,
                   cpu_bandwidth_gbs=bandwidth_gbs or measure_bandwidth(),
                   cpu_gflops=measure_gflops(), flags=cpu_flags(),
                   gpus=gpus())
