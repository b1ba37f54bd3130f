"""MCP tool use: how often a local model makes the right tool call and answers from it.

The example ERP server (``autonom mcp example-erp``) runs as a real stdio MCP server; each
German task of ``autonom/examples/erp_tasks.jsonl`` goes through autonom's tool loop
(``autonom run MODEL --tools erp`` does the same). Per model, counted:

- well-formed: the model's first reply was JSON in the shape asked for, a tool call
  ``{"tool", "arguments"}`` or an answer ``{"answer"}``;
- right call: the first call names the expected tool, its arguments validate against the
  schema and name the expected product (or status / quantity);
- answer: the final answer contains one of the expected figures (tasks with a write tool
  count the refusal as correct: nothing may change without confirmation);
- reference in the same run: the same model and prompt without the JSON-schema grammar
  (instructions only), to show what constrained output buys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

from autonom import tools
from autonom.backends.base import Backend
from autonom.config import McpServerSettings, McpSettings, load_settings
from autonom.examples.erp import open_database, resolve
from autonom.mcp import loop
from autonom.mcp.toolbox import Toolbox, refuse
from autonom.models.pull import pull
from autonom.services import Services
from autonom.store.tool_calls import ToolLedger
from autonom.types import ChatRequest, ChatResponse, GenerationOptions, Message
from results_file import machine, publish

START, END = "<!-- mcp-tools:start -->", "<!-- mcp-tools:end -->"
NOTE = ("The grammar makes the replies well-formed (reference without it: 0 % of first replies "
        "in the asked-for JSON shape), but models this small mostly call the first listed tool "
        "with words copied from the tool list instead of the product from the question; the "
        "right answers are reservations proposed and then refused because nobody confirmed "
        "them (no stock changed). Tool use needs a model trained for it; rerun this "
        "benchmark with one (`--models`) once a larger model is available here.")


def tasks() -> list[dict]:
    text = files("autonom.examples").joinpath("erp_tasks.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def right_call(task: dict, name: str, arguments: dict, outcome: str,
               erp: sqlite3.Connection) -> bool:
    if name != task["tool"] or outcome in ("invalid_arguments", "unknown_tool"):
        return False
    if "product" in task:
        try:
            if resolve(erp, str(arguments.get("product", "")))["sku"] != task["product"]:
                return False
        except Exception:
            return False
    return all(arguments.get(k) == task[k] for k in ("status", "quantity") if k in task)


def mentions(text: str, expected: str) -> bool:
    """``expected`` as a whole figure or word: "5" is not found inside "KP-55"."""
    return re.search(rf"(?<![\w-]){re.escape(expected)}(?![\w-]|[.,]\d)", text) is not None


def well_formed(reply: str) -> bool:
    """The reply is JSON in one of the two shapes asked for: a call or an answer."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError:
        return False
    if not isinstance(data, dict):
        return False
    call = "tool" in data and isinstance(data.get("arguments"), dict)
    return call or isinstance(data.get("answer"), str)


class Recorder:
    """The backend as the tool loop sees it: keeps each raw reply (before parsing) and, for
    the reference, drops the JSON-schema grammar so the model is only asked for JSON."""

    def __init__(self, backend: Backend, constrained: bool) -> None:
        self.backend = backend
        self.constrained = constrained
        self.capabilities = backend.capabilities
        self.raw: list[str] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if not self.constrained:
            request = request.model_copy(update={
                "options": request.options.model_copy(update={"json_schema": None})})
        response = await self.backend.chat(request)
        self.raw.append(response.message.content)
        return response


async def run_model(services: Services, model: str, constrained: bool, home: Path) -> dict:
    seed = home / "erp-seed.db"
    open_database(seed).close()
    counts = {"tasks": 0, "well_formed": 0, "right_call": 0, "answer": 0}
    times = []

    recorder = Recorder(services.router, constrained)

    def chat(request: ChatRequest):
        return tools.chat(recorder, request)  # type: ignore[arg-type]

    for task in tasks():
        db = home / "erp.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        shutil.copy(seed, db)
        settings = McpSettings(servers={"erp": McpServerSettings(
            command=["autonom", "mcp", "example-erp", "--db", str(db)], allow=["*"])})
        request = ChatRequest(model=model,
                              messages=[Message(role="user", content=task["question"])],
                              options=GenerationOptions(temperature=0, max_tokens=256, seed=1))
        began = time.perf_counter()
        recorder.raw.clear()
        async with Toolbox.open(["erp"], settings, ToolLedger(services.db)) as box:
            result = await loop.answer(chat, request, box, refuse, max_steps=3)
        times.append(time.perf_counter() - began)
        erp = open_database(db)
        first = result.calls[0] if result.calls else None
        text = result.response.message.content
        counts["tasks"] += 1
        counts["well_formed"] += well_formed(recorder.raw[0]) if recorder.raw else 0
        ok_call = first is not None and right_call(task, first.call.name, first.call.arguments,
                                                   first.outcome, erp)
        counts["right_call"] += ok_call
        if task["answer_any"]:
            counts["answer"] += any(mentions(text, a) for a in task["answer_any"])
        else:  # a write: right when it was proposed correctly and refused (nothing changed)
            changed = erp.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]
            counts["answer"] += ok_call and first.outcome == "refused" and changed == 0
        erp.close()
        print(f"{model} {'grammar' if constrained else 'no grammar'}: {task['question']!r} -> "
              f"{[(c.call.name, c.call.arguments, c.outcome) for c in result.calls]} / "
              f"{text[:120]!r}", file=sys.stderr)
    counts["p50_s"] = statistics.median(times)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-mcpbench-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    rows = []
    for model in args.models.split(","):
        pull(model, services.registry, services.settings)
        for constrained in (True, False):
            c = asyncio.run(run_model(services, model, constrained, home))
            n = c["tasks"]
            how = "JSON-schema grammar" if constrained else "instructions only (reference)"
            rows.append(f"| {model} | {how} "
                        f"| {c['well_formed'] / n:.0%} | {c['right_call']}/{n} | {c['answer']}/{n} "
                        f"| {c['p50_s']:.1f} |")
    services.close()
    report = "\n".join([
        START,
        f"### MCP tool use with small local models ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/mcp_tools.py --models {args.models}`",
        "",
        f"Machine: {machine()}. {len(tasks())} German tasks against the example ERP server "
        "(stock, orders, products, one reservation that must be refused without "
        "confirmation), temperature 0, at most 3 tool rounds.",
        "",
        "| model | tool calls | well-formed | right call | right answer | s per task p50 |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        NOTE,
        END,
    ])
    publish(START, END, report, not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
