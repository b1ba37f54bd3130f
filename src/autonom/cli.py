"""The ``autonom`` command line. Commands parse, call services, print; nothing more."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from autonom import (
    __version__,
    cli_backends,
    cli_catalog,
    cli_engine,
    cli_eval,
    cli_knowledge,
    cli_mcp,
    cli_redteam,
    cli_store,
    cli_tune,
    console,
    grounding,
)
from autonom.config import is_loopback, load_settings
from autonom.errors import AutonomError, ConfigError, InvalidRequestError
from autonom.guard import limits
from autonom.knowledge import SAMPLE_DIR
from autonom.models.chat_template import render_chat
from autonom.repl import ChatSession
from autonom.services import Services
from autonom.store import request_log
from autonom.store.keys import KeyStore, parse_collections, parse_scopes
from autonom.store.loaded import list_loaded
from autonom.tuning import experts
from autonom.types import ChatRequest, GenerationOptions, parse_keep_alive

app = typer.Typer(
    name="autonom",
    help="Your company's own language model, on your own machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _version(value: bool) -> None:
    if value:
        console.out.print(f"autonom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
          ) -> None:
    """Your company's own language model, on your own machines."""


QUICKSTART_QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"
SAMPLE_COLLECTION = "pumpenwerk"


def _services() -> Services:
    return Services(load_settings())


@app.command()
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


@app.command("list")
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


@app.command()
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
    try:
        render_chat(template, [{"role": "user", "content": "Hallo"}],
                    budget_s=services.settings.engine.template_budget_s)
    except AutonomError as exc:
        return f"present, REFUSED: {exc}"
    return "present, renders in the sandbox"


@app.command()
def rm(models: Annotated[list[str], typer.Argument(help="model names")]) -> None:
    """Remove models from the store (their file is deleted when no other name uses it)."""
    services = _services()
    for model in models:
        record = services.remove(model)
        console.out.print(f"deleted {record.name}")


@app.command()
def ps() -> None:
    """List the models loaded right now, by any autonom process on this machine."""
    now = time.time()
    rows = [
        [m.name, m.kind, console.size(m.size_bytes), "100% CPU", str(m.pid),
         "forever" if m.expires_at is None else console.until(m.expires_at - now)]
        for m in list_loaded(_services().db)
    ]
    console.table(["NAME", "KIND", "SIZE", "PROCESSOR", "PID", "UNTIL"], rows)


@app.command()
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
    limits.check_request(ChatRequest(model=model, prompt=prompt or "", options=options))
    services = _services()
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
        if not prompt.strip():
            raise InvalidRequestError("no prompt given on standard input")
    if experts.is_experts(model):
        if prompt is None:
            raise InvalidRequestError(f"{model}: give the question as an argument (each "
                                      "question goes to its own expert)")
        routing = experts.resolve(services.settings.home, services.knowledge,
                                  model, prompt)
        console.err.print(f"→ {routing.domain or 'fallback'} (confidence "
                          f"{routing.confidence:.2f}): {routing.target}", markup=False)
        if (target := grounding.parse_target(routing.target)) is not None:
            try:
                result = asyncio.run(services.knowledge.ask(prompt, target.collection,
                                                            model=target.model))
                console.out.print(grounding.render(result, prompt), markup=False)
            finally:
                services.close()
            return
        model = routing.target
    services.registry.resolve(model)
    if tools:
        servers = [name.strip() for name in tools.split(",") if name.strip()]
        try:
            cli_mcp.run_with_tools(services, model, servers, prompt, system, options)
        finally:
            services.close()
        return
    session = ChatSession(
        backend=services.backend, model=model, options=options, system=system,
        keep_alive=parse_keep_alive(keep_alive), on_stats=console.stats if verbose else None,
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


@app.command()
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 11435)")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="no API keys (loopback only)")]
    = False,
) -> None:
    """Serve the OpenAI- and Ollama-compatible HTTP API."""
    import uvicorn

    from autonom.server import connections, create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if no_auth:
        overrides["auth"] = False
    settings = load_settings()
    settings.server = settings.server.model_copy(update=overrides)
    check_bind(settings.server.host, settings.server.auth)
    listening = connections.bind(settings.server.host, settings.server.port)
    _access_log()
    services = Services(settings)
    if settings.server.auth and not KeyStore(services.db).list():
        console.err.print("no API keys yet: create one with "
                          "'autonom keys create NAME --scopes chat,embed'")
    engine = services.engine_build
    if engine.warning:
        console.warn(engine.warning)
    try:
        console.err.print(f"autonom {__version__} listening on "
                          f"http://{settings.server.host}:{settings.server.port} "
                          f"(engine: {engine.build.kind} build)")
        config = uvicorn.Config(create_app(services), log_level="warning",
                                timeout_graceful_shutdown=5,
                                http=connections.protocol(settings.server.read_timeout_s),
                                limit_concurrency=settings.server.max_connections)
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        services.close()


def _access_log() -> None:
    """``autonom serve`` prints one line per request on stderr."""
    import logging

    access = logging.getLogger("autonom.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                               "%Y-%m-%dT%H:%M:%S%z"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def check_bind(host: str, auth: bool) -> None:
    if auth:
        return
    if not is_loopback(host):
        raise ConfigError(f"refusing to serve without API keys on {host}: "
                          "without keys, bind to 127.0.0.1 only")


for command in (cli_knowledge.ingest, cli_knowledge.search, cli_knowledge.ask,
                cli_knowledge.hygiene):
    app.command()(command)
app.add_typer(cli_knowledge.docs_app, name="docs")

app.add_typer(cli_mcp.mcp_app, name="mcp")
app.add_typer(cli_eval.eval_app, name="eval")
app.add_typer(cli_engine.engine_app, name="engine")
app.add_typer(cli_tune.tune_app, name="tune")
app.add_typer(cli_store.store_app, name="store")
app.command("bench")(cli_eval.bench)
app.command("redteam")(cli_redteam.redteam)
app.command("fit")(cli_catalog.fit_command)
app.command("recommend")(cli_catalog.recommend_command)
app.command("license")(cli_catalog.license_command)
app.command("cost")(cli_catalog.cost_command)
app.command("backends")(cli_backends.backends_command)
app.command("route")(cli_backends.route_command)

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: str,
    scopes: Annotated[str, typer.Option(help="comma-separated: chat, embed, ingest, admin")]
    = "chat,embed",
    rpm: Annotated[int | None, typer.Option(help="requests per minute")] = None,
    tpm: Annotated[int | None, typer.Option(help="tokens per minute")] = None,
    collections: Annotated[str, typer.Option(
        help="document collections it may read, comma-separated ('*': all)")] = "",
) -> None:
    """Create an API key; its secret is printed once and never stored."""
    key, secret = KeyStore(_services().db).create(name, parse_scopes(scopes), rpm, tpm,
                                                  parse_collections(collections))
    console.err.print(f"created {key.id} ({key.name}, scopes {','.join(sorted(key.scopes))}, "
                      f"collections {_grants(key.collections)}); the key is shown only now:")
    print(secret)


def _grants(collections: frozenset[str]) -> str:
    return ",".join(sorted(collections)) or "none"


@keys_app.command("grant")
def keys_grant(
    key_id: Annotated[str, typer.Argument(help="key id or name")],
    collections: Annotated[str, typer.Argument(help="comma-separated names ('*': all)")],
    remove: Annotated[bool, typer.Option("--remove", help="take the grants away")] = False,
) -> None:
    """Let a key read document collections (or, with --remove, no longer)."""
    key = KeyStore(_services().db).grant(key_id, parse_collections(collections), revoke=remove)
    console.out.print(f"{key.id} ({key.name}) may read: {_grants(key.collections)}")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    rows = [[k.id, k.name, ",".join(sorted(k.scopes)), _grants(k.collections),
             str(k.rpm or "-"), str(k.tpm or "-"),
             time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at)),
             "active" if k.active else "revoked"]
            for k in KeyStore(_services().db).list()]
    console.table(["ID", "NAME", "SCOPES", "COLLECTIONS", "RPM", "TPM", "CREATED", "STATUS"],
                  rows)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="key id or name")]) -> None:
    """Revoke an API key at once."""
    key = KeyStore(_services().db).revoke(key_id)
    console.out.print(f"revoked {key.id} ({key.name})")


@app.command()
def logs(
    entry: Annotated[str | None, typer.Argument(help="show this request id in full")] = None,
    model: str | None = None,
    key: Annotated[str | None, typer.Option(help="key id")] = None,
    since: Annotated[str | None, typer.Option(help="e.g. 1h, 30m, 2d")] = None,
    status: int | None = None,
    limit: int = 50,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="export as JSON lines")] = False,
) -> None:
    """List, filter, show or export the request log."""
    db = _services().db
    if entry is not None:
        found = request_log.get(db, entry)
        if found is None:
            raise InvalidRequestError(f"no logged request {entry!r}")
        print(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
    start = None if since is None else time.time() - _since_seconds(since)
    entries = request_log.query(db, model=model, key_id=key, since=start, status=status,
                                limit=None if jsonl else limit)
    if jsonl:
        for e in reversed(entries):
            print(json.dumps(e.to_dict(), ensure_ascii=False))
        return
    rows = [[e.id, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at)), e.route,
             e.model or "-", e.key_id or "-", str(e.status),
             f"{e.prompt_tokens}/{e.completion_tokens}", f"{e.total_ms:.0f}",
             "yes" if e.cancelled else "", e.served_by or ""]
            for e in entries]
    console.table(["ID", "TIME", "ROUTE", "MODEL", "KEY", "STATUS", "TOKENS", "MS", "CANCELLED",
                   "SERVED BY"], rows)


def _since_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise InvalidRequestError(f"invalid --since {text!r}: use e.g. 30m, 12h, 7d")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and a non-zero exit for every expected error."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="autonom", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.err.print("")
        return 130
    except AutonomError as exc:
        console.error(str(exc))
        return 1
    except TyperException as exc:  # usage errors: bad option values, missing arguments
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console.error(str(exc))
        return getattr(exc, "exit_code", 2)
    return result if isinstance(result, int) else 0
