"""CLI commands for models: pull, list, show, remove, run, and the quickstart."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer

from autonom.cli import console
from autonom.cli import knowledge as cli_knowledge
from autonom.cli import mcp as cli_mcp
from autonom.cli.repl import ChatSession
from autonom.config import load_settings
from autonom.errors import AutonomError, InvalidRequestError
from autonom.knowledge import SAMPLE_DIR
from autonom.services import Services
from autonom.services.gateway import CallContext
from autonom.tuning.experts import PREFIX as EXPERTS
from autonom.types import ChatChunk, ChatRequest, GenerationOptions, parse_keep_alive

QUICKSTART_QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"
SAMPLE_COLLECTION = "pumpenwerk"


def _services() -> Services:
    return Services(load_settings())


def pull(
    source: Annotated[str, typer.Argument(help="smollm2-135m, gemma3-270m, a .gguf path, "
                                          "hf://owner/repo/file.gguf or an http(s) URL")],
    name: Annotated[str | None, typer.Option(help="register under this name")] = None,
    force: Annotated[bool, typer.Option(help="fetch it again even if it is present")] = False,
) -> None:
    """Fetch a model into the local model store."""
    services = _services()
    present = not force and services.present(source, name) is not None
    with console.progress() as bar:  # a present model: only the licence policy is checked
        record = services.pull(source, name=name, progress=bar, warn=console.warn, force=force)
    if present:
        console.out.print(f"[bold]{record.name}[/] is already present (sha256 "
                          f"{record.sha256}); --force fetches it again")
        return
    console.out.print(
        f"pulled [bold]{record.name}[/] ({console.size(record.size_bytes)}, "
        f"sha256 {record.sha256})"
    )


def list_models() -> None:
    """List the models in the store."""
    records = _services().registry.list()
    rows = [
        [r.name, r.sha256[:12], console.size(r.size_bytes), r.info.quantization,
         console.count(r.info.parameters), r.created_at.replace("T", " ")[:19]
         + ("" if r.exists else "  (file missing)")]
        for r in records
    ]
    console.table(["NAME", "ID", "SIZE", "QUANT", "PARAMS", "PULLED"], rows)


def show(
    model: str,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    template: Annotated[bool, typer.Option(help="print the chat template")] = False,
) -> None:
    """Show a model's GGUF metadata, size and checksum."""
    services = _services()
    record = services.registry.resolve(model)
    info = record.info
    if template:
        console.out.print(info.chat_template or "(no chat template; ChatML is used)", markup=False)
        return
    facts: dict[str, Any] = {
        "name": record.name,
        "architecture": info.architecture,
        "parameters": info.parameters,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "embedding_length": info.embedding_length,
        "layers": info.block_count,
        "chat_template": _template_status(info.chat_template, services),
        "license": info.license,
        "file_size": record.size_bytes,
        "sha256": record.sha256,
        "source": record.source,
        "path": str(record.path),
    }
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    facts["parameters"] = console.count(info.parameters)
    facts["file_size"] = console.size(record.size_bytes)
    console.table(["", ""], [[k.replace("_", " "), "-" if v is None else str(v)]
                             for k, v in facts.items()], header=False)


def _template_status(template: str | None, services: Services) -> str:
    if not template:
        return "none (ChatML is used)"
    problem = services.template_problem(template)
    return "present, renders in the sandbox" if problem is None else f"present, REFUSED: {problem}"


def rm(models: Annotated[list[str], typer.Argument(help="model names")]) -> None:
    """Remove models from the store (their file is deleted when no other name uses it)."""
    services = _services()
    for model in models:
        record = services.remove(model)
        console.out.print(f"deleted {record.name}")


def ps() -> None:
    """List the models loaded right now, by any autonom process on this machine."""
    now = time.time()
    rows = [
        [m.name, m.kind, console.size(m.size_bytes), "100% CPU", str(m.pid),
         "forever" if m.expires_at is None else console.until(m.expires_at - now)]
        for m in _services().loaded()
    ]
    console.table(["NAME", "KIND", "SIZE", "PROCESSOR", "PID", "UNTIL"], rows)


def run(
    model: str,
    prompt: Annotated[str | None, typer.Argument(help="answer this once and exit")] = None,
    system: Annotated[str | None, typer.Option(help="system prompt")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, max=5.0)] = None,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    top_k: Annotated[int | None, typer.Option(min=0)] = None,
    seed: Annotated[int | None, typer.Option(min=-(2**63), max=2**64 - 1)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    json_schema: Annotated[Path | None, typer.Option(help="JSON schema file the answer must "
                                                     "follow")] = None,
    keep_alive: Annotated[str | None, typer.Option(help="e.g. 5m, 1h, 0, -1")] = None,
    verbose: Annotated[bool, typer.Option(help="print speed after each answer")] = False,
    tools: Annotated[str | None, typer.Option(
        help="MCP servers from [mcp.servers] whose tools the model may call, e.g. erp")] = None,
) -> None:
    """Chat with a model: interactively, or answer PROMPT once (optionally with MCP tools)."""
    options = GenerationOptions(
        temperature=temperature, top_p=top_p, top_k=top_k, seed=seed, max_tokens=max_tokens,
        json_schema=_load_schema(json_schema) if json_schema else None,
    )
    services = _services()
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
        if not prompt.strip():
            raise InvalidRequestError("no prompt given on standard input")
    if tools:
        servers = [name.strip() for name in tools.split(",") if name.strip()]
        try:
            cli_mcp.run_with_tools(services, model, servers, prompt, system, options)
        finally:
            services.close()
        return
    gateway = services.gateway()

    def stream(request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return gateway.stream(request, CallContext(route="autonom run",
                                                   body={"model": request.model}))

    def finished(final: ChatChunk) -> None:
        if final.served_by and final.served_by.startswith(EXPERTS):
            console.err.print(f"answered by {final.served_by}", markup=False)
        if verbose:
            console.stats(final)

    session = ChatSession(
        stream=stream, model=model, options=options, system=system,
        keep_alive=parse_keep_alive(keep_alive), on_stats=finished,
    )
    try:
        if prompt is not None:
            session.ask(prompt)
        else:
            session.interact()
    finally:
        services.close()


def _load_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequestError(f"cannot read JSON schema {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{path} must contain a JSON object (a JSON schema)")
    return schema


def quickstart(
    model: Annotated[str | None, typer.Option(help="model to use (default: settings)")] = None,
    question: str = QUICKSTART_QUESTION,
) -> None:
    """Fetch the default model, index the sample company's documents, answer a question."""
    services = _services()
    name = model or services.settings.default_model
    try:
        services.registry.resolve(name)
    except AutonomError:
        console.err.print(f"fetching {name} …")
        with console.progress() as bar:
            services.pull(name, progress=bar, warn=console.warn)
    console.err.print(f"indexing the sample documents into collection {SAMPLE_COLLECTION} …")
    with console.progress() as bar:
        report = services.knowledge.ingest([SAMPLE_DIR / SAMPLE_COLLECTION], SAMPLE_COLLECTION,
                                           prune=True, progress=bar)
    cli_knowledge.print_report(report)
    console.err.print(f"[bold]Frage:[/] {question}")
    try:
        answer = asyncio.run(services.knowledge.ask(question, SAMPLE_COLLECTION, model=name))
    finally:
        services.close()
    cli_knowledge.print_answer(answer)


def register(app: typer.Typer) -> None:
    app.command()(pull)
    app.command("list")(list_models)
    for command in (show, rm, ps, run, quickstart):
        app.command()(command)
