"""CLI commands for API keys and the request log."""

from __future__ import annotations

import json
import re
import time
from typing import Annotated

import typer

from autonom.cli import console
from autonom.config import load_settings
from autonom.errors import InvalidRequestError
from autonom.services import Services
from autonom.services.access import Access


def _access() -> Access:
    return Services(load_settings()).access


keys_app = typer.Typer(
    rich_markup_mode=None,
    help="Manage API keys.", no_args_is_help=True)


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
    key, secret = _access().create(name, scopes, collections, rpm, tpm)
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
    key = _access().grant(key_id, collections, remove=remove)
    console.out.print(f"{key.id} ({key.name}) may read: {_grants(key.collections)}")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    rows = [[k.id, k.name, ",".join(sorted(k.scopes)), _grants(k.collections),
             str(k.rpm or "-"), str(k.tpm or "-"),
             time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at)),
             "active" if k.active else "revoked"]
            for k in _access().list_keys()]
    console.table(["ID", "NAME", "SCOPES", "COLLECTIONS", "RPM", "TPM", "CREATED", "STATUS"],
                  rows)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="key id or name")]) -> None:
    """Revoke an API key at once."""
    key = _access().revoke(key_id)
    console.out.print(f"revoked {key.id} ({key.name})")


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
    access = _access()
    if entry is not None:
        found = access.logged(entry)
        if found is None:
            raise InvalidRequestError(f"no logged request {entry!r}")
        print(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
    start = None if since is None else time.time() - _since_seconds(since)
    entries = access.log(model=model, key_id=key, since=start, status=status,
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


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.command()(logs)
