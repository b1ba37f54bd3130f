"""CLI commands over the model catalog: ``autonom fit``.

Registered on the main ``autonom`` app by :mod:`autonom.cli`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from autonom import console
from autonom.catalog import catalog, fit
from autonom.catalog.machine import Gpu, Machine, detect
from autonom.errors import InvalidRequestError

QUANTS = ("Q4_K_M", "Q5_K_M", "Q8_0", "F16")


def fit_command(
    ram: Annotated[float | None, typer.Option(help="RAM in GB (default: this machine)")] = None,
    vram: Annotated[float, typer.Option(help="GPU memory in GB, all GPUs together")] = 0.0,
    bandwidth: Annotated[float | None, typer.Option(
        help="CPU memory bandwidth in GB/s (default: measured)")] = None,
    gpu_bandwidth: Annotated[float | None, typer.Option(help="GPU memory bandwidth, GB/s")]
    = None,
    context: Annotated[int, typer.Option(help="context per slot, tokens")] = 8192,
    slots: Annotated[int, typer.Option(help="parallel requests (KV cache per slot)")] = 1,
    quant: Annotated[list[str] | None, typer.Option(help="quantizations (repeatable)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Which catalog models fit this machine (or a described one), and how fast they decode."""
    if context < 1 or slots < 1 or vram < 0:
        raise InvalidRequestError("--context and --slots must be at least 1, --vram ≥ 0")
    machine = _machine(ram, vram, bandwidth, gpu_bandwidth)
    verdicts = [fit.judge(m, q, machine.ram_gb, machine.cpu_bandwidth_gbs, machine.vram_gb,
                          machine.gpu_bandwidth_gbs, context, slots)
                for m in catalog.load() for q in (quant or QUANTS)]
    if as_json:
        console.out.print_json(json.dumps([v.to_json() for v in verdicts]))
        return
    console.err.print(
        f"machine: {machine.ram_gb:.0f} GB RAM, {machine.cores} cores, CPU bandwidth "
        f"{machine.cpu_bandwidth_gbs:.0f} GB/s"
        + (f", {machine.vram_gb:.0f} GB VRAM" if machine.vram_gb else ", no GPU")
        + ("" if machine.described else " (detected)")
        + f"; context {context} × {slots} slot(s); decode speed ≈ 0.7 × bandwidth ÷ bytes "
          "of the active weights per token")
    console.table(["MODEL", "QUANT", "MEMORY GB", "FITS", "GPU LAYERS", "DECODE TOK/S"],
                  [[v.estimate.model, v.estimate.quant, f"{v.estimate.memory_gb:.1f}", v.fits,
                    str(v.gpu_layers), "–" if v.decode_tok_s is None
                    else f"{v.decode_tok_s:.1f}"] for v in verdicts])


def _machine(ram: float | None, vram: float, bandwidth: float | None,
             gpu_bandwidth: float | None) -> Machine:
    gpus = (Gpu("described", vram, gpu_bandwidth),) if vram else ()
    if ram is not None:
        if ram <= 0:
            raise InvalidRequestError("--ram must be positive")
        return Machine(ram_gb=ram, cores=0, cpu_bandwidth_gbs=bandwidth or 50.0, gpus=gpus,
                       described=True)
    found = detect(bandwidth)
    return Machine(ram_gb=found.ram_gb, cores=found.cores,
                   cpu_bandwidth_gbs=found.cpu_bandwidth_gbs, flags=found.flags,
                   gpus=gpus or found.gpus, described=False)
