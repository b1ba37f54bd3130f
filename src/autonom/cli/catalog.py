"""CLI commands over the model catalog: ``autonom fit``, ``recommend``, ``license``, ``cost``.

Registered on the main ``autonom`` app by :func:`register`.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from autonom.catalog import catalog, cost, fit, policy, recommend
from autonom.catalog.machine import Gpu, Machine, detect, parse_gpus
from autonom.cli import console
from autonom.config import PolicySettings, load_settings
from autonom.errors import AutonomError, InvalidRequestError
from autonom.models.registry import ModelRecord

QUANTS = ("Q4_K_M", "Q5_K_M", "Q8_0", "F16")

_SIZE = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*(?:(k|m|g|t)(?:i?b)?|b)?\s*$", re.IGNORECASE)
_GB_PER_UNIT = {None: 1.0, "k": 1e-6, "m": 1e-3, "g": 1.0, "t": 1e3}


def gigabytes(text: str) -> float:
    """A size in GB from '24', '24G', '24GB', '24 GiB', '512M', '1,5T' (a bare number is GB)."""
    match = _SIZE.match(str(text))
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size: write e.g. 24, 24G, 512M")
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1).replace(",", ".")) * _GB_PER_UNIT[unit]


Ram = Annotated[float | None, typer.Option(
    help="RAM, e.g. 24G or 512M (a bare number is GB; default: this machine)",
    parser=gigabytes)]
Vram = Annotated[float, typer.Option(
    help="GPU memory of all GPUs together, e.g. 24G (a bare number is GB)", parser=gigabytes)]
GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="GPUs from the catalog's table, e.g. rtx-4090, h100-sxm:8")]
Bandwidth = Annotated[float | None, typer.Option(
    help="CPU memory bandwidth in GB/s (default: measured)")]
GpuBandwidth = Annotated[float | None, typer.Option(help="GPU memory bandwidth, GB/s")]
Cores = Annotated[int | None, typer.Option(help="CPU cores of a described machine")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def fit_command(
    model: Annotated[str | None, typer.Argument(
        help="a catalog id, a registered model or a .gguf file (default: the whole catalog)")]
    = None,
    ram: Ram = None,
    vram: Vram = 0.0,
    gpu: GpuOpt = None,
    bandwidth: Bandwidth = None,
    gpu_bandwidth: GpuBandwidth = None,
    cores: Cores = None,
    context: Annotated[int, typer.Option(help="context per slot, tokens")] = 8192,
    slots: Annotated[int, typer.Option(help="parallel requests (KV cache per slot)")] = 1,
    quant: Annotated[list[str] | None, typer.Option(help="quantizations (repeatable)")]
    = None,
    as_json: AsJson = False,
) -> None:
    """Which models fit this machine (or a described one), and how fast they run there."""
    if context < 1 or slots < 1:
        raise InvalidRequestError("--context and --slots must be at least 1")
    targets = _targets(model, quant)
    machine = _machine(ram, vram, gpu, bandwidth, gpu_bandwidth, cores)
    hw = machine.hardware()
    verdicts = [fit.judge(facts, q, hw, context, slots) for facts, q in targets]
    if as_json:
        console.out.print_json(json.dumps([v.to_json() for v in verdicts]))
        return
    console.err.print(f"machine: {machine.describe()}; context {context:,} × {slots} slot(s)")
    console.table(["MODEL", "QUANT", "MEMORY GB", "FITS", "GPU LAYERS", "DECODE TOK/S",
                   "PROMPT TOK/S"],
                  [[v.estimate.model, v.estimate.quant, f"{v.estimate.memory_gb:.1f}", v.fits,
                    str(v.gpu_layers), _num(v.decode_tok_s), _num(v.prompt_tok_s)]
                   for v in verdicts])
    console.err.print(f"assumptions: {fit.ASSUMPTIONS}")


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _targets(model: str | None,
             quants: list[str] | None) -> list[tuple[catalog.ModelFacts, str | fit.Quant]]:
    chosen = [fit.Quant.named(q) for q in (quants or QUANTS)]
    if model is None:
        return [(facts, q) for facts in catalog.load() for q in chosen]
    local = _local_file(model)
    if local is not None:  # a file on this machine: its own metadata and size
        from autonom.catalog.local import facts_from_file

        facts, own = facts_from_file(local, model)
        pairs: list[tuple[catalog.ModelFacts, str | fit.Quant]] = [(facts, own)]
        return pairs + ([(facts, q) for q in chosen] if quants else [])
    found = catalog.find(model)
    if found is None:
        raise InvalidRequestError(f"{model!r} is neither a catalog id, a registered model "
                                  "nor a .gguf file")
    return [(found, q) for q in chosen]


def _local_file(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf" or path.is_file():
        return path
    record = _record(model)
    return record.path if record is not None else None


def _record(model: str) -> ModelRecord | None:
    """The registered model of that name, or None."""
    from autonom.services import Services

    services = Services(load_settings())
    try:
        return services.registry.resolve(model)
    except AutonomError:
        return None
    finally:
        services.close()


def _machine(ram: float | None, vram: float, gpu: str | None, bandwidth: float | None,
             gpu_bandwidth: float | None, cores: int | None) -> Machine:
    if vram < 0 or (bandwidth is not None and bandwidth <= 0) or (
            gpu_bandwidth is not None and gpu_bandwidth <= 0):
        raise InvalidRequestError("--vram must be ≥ 0 and bandwidths positive")
    if cores is not None and cores < 1:
        raise InvalidRequestError("--cores must be at least 1")
    gpus = parse_gpus(gpu) if gpu else ()
    if vram and not gpus:
        gpus = (Gpu("described GPU", vram, gpu_bandwidth),)
    if ram is not None:
        if ram <= 0:
            raise InvalidRequestError("--ram must be positive")
        n = cores or 8
        # A described server: a recent x86 core multiplies ≈ 80 GFLOP/s (AVX2; measured
        # 90–110 per core on the machine in benchmarks/RESULTS.md).
        return Machine(ram_gb=ram, cores=n, cpu_bandwidth_gbs=bandwidth or 50.0,
                       cpu_gflops=80.0 * n, gpus=gpus, described=True)
    found = detect(bandwidth)
    return replace(found, gpus=gpus) if gpus else found


def _policy(commercial: bool | None) -> PolicySettings:
    configured = load_settings().policy
    if commercial is None:
        return configured
    return configured.model_copy(update={"commercial": commercial})


def recommend_command(
    use_case: Annotated[str, typer.Option(help="chat, rag, code, classify or agent")] = "chat",
    lang: Annotated[str | None, typer.Option(help="language the users write, e.g. de")]
    = None,
    commercial: Annotated[bool | None, typer.Option(
        "--commercial/--non-commercial", help="commercial use (default: policy.commercial)")]
    = None,
    users: Annotated[int, typer.Option(help="users served at the same time")] = 1,
    context: Annotated[int | None, typer.Option(help="context per user, tokens")] = None,
    top: Annotated[int, typer.Option(help="how many to show")] = 5,
    ram: Ram = None,
    vram: Vram = 0.0,
    gpu: GpuOpt = None,
    bandwidth: Bandwidth = None,
    gpu_bandwidth: GpuBandwidth = None,
    cores: Cores = None,
    as_json: AsJson = False,
) -> None:
    """A ranked shortlist of models for a use case on this (or a described) machine."""
    if use_case not in recommend.USE_CASES:
        raise InvalidRequestError(f"unknown use case {use_case!r}; choose one of "
                                  f"{', '.join(recommend.USE_CASES)}")
    if not 1 <= users <= 10_000 or not 1 <= top <= 50 or (context is not None and context < 1):
        raise InvalidRequestError("--users 1–10000, --top 1–50, --context ≥ 1")
    machine = _machine(ram, vram, gpu, bandwidth, gpu_bandwidth, cores)
    shortlist = recommend.recommend(use_case, machine.hardware(), _policy(commercial), lang,
                                    users, context)
    ranked = shortlist.ranked[:top]
    if as_json:
        console.out.print_json(json.dumps({"ranked": [c.to_json() for c in ranked],
                                           "left_out": shortlist.left_out}))
        return
    console.err.print(f"machine: {machine.describe()}")
    if not ranked:
        console.out.print("No catalog model meets these requirements here. Why each was left "
                          "out: add --json.")
        return
    for rank, c in enumerate(ranked, 1):
        console.out.print(f"[bold]{rank}. {c.facts.name}[/] ({c.facts.id}, "
                          f"{c.verdict.estimate.quant})")
        for reason in c.reasons:
            console.out.print(f"   + {reason}")
        for tradeoff in c.tradeoffs:
            console.out.print(f"   − {tradeoff}")
        for command in c.commands():
            console.out.print(f"   $ {command}")
    console.err.print(f"{len(shortlist.left_out)} models left out (see --json for why); "
                      "ranked by effective size √(total × active parameters), scaled down "
                      "when slower than the use case needs")


def license_command(
    model: Annotated[str, typer.Argument(help="a catalog id, Ollama tag or registered model")],
    as_json: AsJson = False,
) -> None:
    """A model's licence terms in plain words, checked against the configured [policy]."""
    settings = load_settings()
    gguf_licence, aliases = _registered(model)
    decision = policy.decide(model, settings.policy, gguf_licence, *aliases)
    if as_json:
        lic = decision.license
        console.out.print_json(json.dumps({
            "model": model, "catalog_id": decision.facts.id if decision.facts else None,
            "license": lic.model_dump() if lic else None,
            "findings": [f.__dict__ for f in decision.findings],
            "refused": decision.refused(settings.policy)}))
        return
    lic = decision.license
    if lic is None:
        console.out.print(f"{model}: licence unknown — not in the catalog"
                          + (f", the file says {gguf_licence!r}" if gguf_licence else "")
                          + ". Check the terms before you use it commercially.")
        return
    facts = decision.facts
    console.out.print(f"[bold]{facts.name if facts else model}[/]: {lic.name}  ({lic.url})")
    console.out.print(f"  commercial use: {'allowed' if lic.commercial else 'NOT allowed'}")
    if lic.mau_cap:
        console.out.print(f"  users: a separate licence above {lic.mau_cap:,} monthly active "
                          "users")
    if lic.revenue_cap_usd:
        then = ("a separate (enterprise) licence is required" if lic.above_revenue ==
                "needs_licence" else "contact the licensor")
        console.out.print(f"  revenue: above US${lic.revenue_cap_usd:,} per year {then}")
    for rule in lic.regional:
        console.out.print(f"  region {'/'.join(rule.regions)} ({rule.scope}): {rule.rule}")
    if lic.attribution:
        console.out.print(f"  attribution: {lic.attribution}")
    if lic.use_policy:
        console.out.print(f"  use policy: {lic.use_policy}")
    if lic.note:
        console.out.print(f"  note: {lic.note}")
    console.out.print(f"  source: {lic.source.facts}"
                      + ("" if lic.source.verified else " (not verified offline)"))
    verdict = "REFUSED" if decision.refused(settings.policy) else (
        "violates the policy (warn only)" if decision.violations and
        not decision.allowed_by_agreement else "ok")
    console.out.print(f"your policy: {verdict}")
    for finding in decision.findings:
        if finding.level != "duty":
            console.out.print(f"  {finding.level}: {finding.message}")


def _registered(model: str) -> tuple[str | None, list[str]]:
    """The GGUF licence and other names of a registered model (none when not registered)."""
    record = _record(model)
    if record is None:
        return None, []
    return record.info.license, [record.source, record.info.name or ""]


def cost_command(
    tokens: Annotated[str, typer.Option(help="tokens per month, e.g. 50M, 1.5B")],
    input_share: Annotated[float, typer.Option(help="share of prompt (input) tokens")] = 0.75,
    api_input: Annotated[float, typer.Option(help="API price per million input tokens")]
    = 0.28,
    api_output: Annotated[float, typer.Option(help="API price per million output tokens")]
    = 0.42,
    hardware: Annotated[float, typer.Option(help="hardware price")] = 0.0,
    lifetime_months: Annotated[float, typer.Option(help="hardware written off over")] = 36.0,
    watts: Annotated[float, typer.Option(help="average power draw, W")] = 0.0,
    kwh_price: Annotated[float, typer.Option(help="electricity price per kWh")] = 0.30,
    admin_hours: Annotated[float, typer.Option(help="admin hours per month")] = 0.0,
    admin_rate: Annotated[float, typer.Option(help="cost of an admin hour")] = 0.0,
    local_tok_s: Annotated[float | None, typer.Option(
        help="tokens/s the local machine processes (checks the volume fits)")] = None,
    as_json: AsJson = False,
) -> None:
    """Local hardware vs a per-token API: monthly cost and the break-even volume."""
    inputs = cost.CostInputs(
        tokens_per_month=cost.parse_volume(tokens), input_share=input_share,
        api_input_per_m=api_input, api_output_per_m=api_output, hardware_price=hardware,
        lifetime_months=lifetime_months, power_watts=watts, power_price_kwh=kwh_price,
        admin_hours_per_month=admin_hours, admin_rate=admin_rate,
        local_tokens_per_s=local_tok_s)
    result = cost.compute(inputs)
    if as_json:
        console.out.print_json(json.dumps(result.to_json()))
        return
    console.table(["", "PER MONTH"], [
        ["local: hardware", f"{result.local_hardware:,.2f}"],
        ["local: power", f"{result.local_power:,.2f}"],
        ["local: admin", f"{result.local_admin:,.2f}"],
        ["local: total", f"{result.local:,.2f}"],
        [f"API: {console.count(int(inputs.tokens_per_month))} tokens at "
         f"{result.api_price_per_m:.3f}/M", f"{result.api:,.2f}"]], header=False)
    if result.break_even_tokens is None:
        console.out.print("The API charges nothing per token: local never breaks even.")
    else:
        cheaper = "local" if result.local < result.api else "the API"
        console.out.print(f"break-even: {console.count(int(result.break_even_tokens))} tokens "
                          f"per month; at this volume {cheaper} is cheaper")
    if result.local_capacity_tokens is not None and \
            result.local_capacity_tokens < inputs.tokens_per_month:
        console.out.print(f"warning: at {local_tok_s:g} tokens/s the machine processes at most "
                          f"{console.count(int(result.local_capacity_tokens))} tokens a month "
                          "running non-stop; this volume needs more hardware")


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
    app.command("recommend")(recommend_command)
    app.command("license")(license_command)
    app.command("cost")(cost_command)
