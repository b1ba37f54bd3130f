"""The engine self-test, run in a process of its own: ``python -m autonom.engine.selftest``.

It loads the build that ``engine.build`` names (each process can load only one), checks
that the engine really came from there, answers a question, answers a JSON-schema request
whose output must validate, and measures prompt and decode speed after a short and a long
prompt (the engine's own timings, medians). The last line on stdout is the JSON result;
the exit status is 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import jsonschema

from autonom.backends.embedded import EmbeddedBackend, import_engine
from autonom.config import DEFAULT_MODEL, load_settings
from autonom.engine import builds
from autonom.models.registry import Registry
from autonom.store import open_database
from autonom.types import ChatRequest, ChatResponse, GenerationOptions, Message

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "produkt": {"type": "string", "maxLength": 40},
        "leistung_kw": {"type": "number"},
        "lieferbar": {"type": "boolean"},
    },
    "required": ["produkt", "leistung_kw", "lieferbar"],
    "additionalProperties": False,
}
PARAGRAPH = (
    "Die Kreiselpumpe KP-55 fördert bis zu 12,5 m³ pro Stunde und hat eine Leistung von 5,5 kW. "
    "Der Wartungsvertrag umfasst eine jährliche Inspektion, den Austausch der Gleitringdichtung "
    "und eine Reaktionszeit von 24 Stunden. Gültig ab 1. April 2026, Stand: 05/2025. "
)
LONG_PARAGRAPHS = 18
"""About 2,200 prompt tokens with the default model's tokenizer."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="test and time the engine build in use")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(check(args.model, args.rounds))
    except Exception as exc:  # every failure is reported as the result, not a traceback
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


async def check(model: str, rounds: int) -> dict[str, Any]:
    settings = load_settings()
    choice = builds.activate(builds.choose(settings))
    if choice.warning:
        return {"ok": False, "error": choice.warning}
    db = open_database(settings)
    backend = EmbeddedBackend(Registry(db, settings.models_dir), settings)
    try:
        answer = await _ask(backend, model, "Sag Hallo.", max_tokens=16)
        xlc = import_engine()
        loaded_from = str(Path(xlc.__file__).parent)
        site = choice.build.site
        if site is not None and Path(site) not in Path(loaded_from).parents:
            return {"ok": False, "error": f"the engine was loaded from {loaded_from}, "
                    f"not from the build in {site}"}
        if not answer.message.content.strip():
            return {"ok": False, "error": "the engine answered with nothing"}
        structured = await _ask(backend, model, "Beschreibe die Pumpe KP-55 (5,5 kW) als JSON.",
                                max_tokens=120, json_schema=SCHEMA)
        try:
            jsonschema.validate(json.loads(structured.message.content), SCHEMA)
        except (ValueError, jsonschema.ValidationError) as exc:
            return {"ok": False, "error": "JSON-schema output is not enforced: "
                    f"{structured.message.content[:120]!r} ({exc.__class__.__name__})"}
        speed = {
            "short": await _timed(backend, model, 0, rounds),
            "long": await _timed(backend, model, LONG_PARAGRAPHS, rounds),
        }
        return {"ok": True, "build": choice.build.kind, "loaded_from": loaded_from,
                "system_info": xlc.get_system_info().strip(), "threads": settings.engine.threads,
                "answer": answer.message.content.strip()[:80], "speed": speed}
    finally:
        backend.close()
        db.close()


async def _ask(backend: EmbeddedBackend, model: str, text: str, *, max_tokens: int,
               json_schema: dict[str, Any] | None = None) -> ChatResponse:
    return await backend.chat(ChatRequest(
        model=model, messages=[Message(role="user", content=text)],
        options=GenerationOptions(max_tokens=max_tokens, temperature=0, seed=1,
                                  json_schema=json_schema)))


async def _timed(backend: EmbeddedBackend, model: str, paragraphs: int,
                 rounds: int) -> dict[str, float]:
    prompt_tps: list[float] = []
    decode_tps: list[float] = []
    tokens = 0
    for i in range(rounds):
        text = (f"Durchlauf {i}.\n" + PARAGRAPH * paragraphs
                + ("Fasse den Text ausführlich zusammen." if paragraphs
                   else "Erzähle eine lange Geschichte über eine Kreiselpumpe."))
        response = await backend.chat(ChatRequest(
            model=model, messages=[Message(role="user", content=text)],
            options=GenerationOptions(max_tokens=64, temperature=0, seed=1)))
        if response.timings is None:
            raise RuntimeError("the engine reported no timings")
        prompt_tps.append(response.timings.prompt_per_second)
        decode_tps.append(response.timings.decode_per_second)
        tokens = response.usage.prompt_tokens
    return {"prompt_tokens": tokens, "prompt_per_second": round(statistics.median(prompt_tps), 1),
            "decode_per_second": round(statistics.median(decode_tps), 1)}


if __name__ == "__main__":
    sys.exit(main())
