"""The JSON schema a prompt states, enforced when the client asks for JSON.

Frameworks ask for structured output in two steps: the request says "JSON" (Ollama's
``format: "json"``, OpenAI's ``response_format: json_object``) and the prompt carries the
schema in a fenced block, with instructions around it (LangChain's output parsers, n8n's
Structured Output Parser: "Here is the JSON Schema instance your output must adhere to …").
Large models follow the text; small ones produce some JSON, often not that schema. When the
client asks for JSON and the last user message states exactly one plain JSON schema in a
fenced block, that schema is what the engine's grammar enforces — still JSON, as asked,
and now the JSON the prompt asks for.

Only schemas made of the common keywords are taken, and only within the grammar limits of
:mod:`autonom.guard.limits`; anything else leaves the request as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any

from autonom.errors import InvalidRequestError
from autonom.guard import limits
from autonom.types import ChatRequest

ANY_OBJECT: dict[str, Any] = {"type": "object"}
"""What "JSON, no schema" becomes on both APIs."""

_FENCED = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL | re.IGNORECASE)
_KEYWORDS = frozenset({"type", "properties", "required", "items", "enum", "description",
                       "title", "additionalProperties", "$schema", "minItems", "maxItems",
                       "minimum", "maximum", "default"})
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
MAX_DEPTH = 6


def with_stated_schema(request: ChatRequest) -> ChatRequest:
    """``request`` with the prompt's stated schema as its JSON constraint, when it asks for
    any JSON object and states one; else ``request`` unchanged."""
    if request.options.json_schema != ANY_OBJECT:
        return request
    schema = stated(request.user_text)
    if schema is None:
        return request
    options = request.options.model_copy(update={"json_schema": schema})
    return request.model_copy(update={"options": options})


def stated(text: str) -> dict[str, Any] | None:
    """The one plain JSON object schema in ``text``'s fenced code blocks, if there is
    exactly one."""
    found = []
    for block in _FENCED.findall(text):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if (isinstance(value, dict) and value.get("type", "object") == "object"
                and isinstance(value.get("properties"), dict) and _plain(value, 0)):
            found.append({"type": "object", **value})
    if len(found) != 1:
        return None
    schema = found[0]
    try:
        if limits.schema_cost(schema, "json_schema") > limits.MAX_COST:
            return None
    except InvalidRequestError:
        return None
    return schema


def _plain(schema: Any, depth: int) -> bool:
    if not isinstance(schema, dict) or depth > MAX_DEPTH or not set(schema) <= _KEYWORDS:
        return False
    kind = schema.get("type")
    if kind is not None and kind not in _TYPES:
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return False
    parts = [*properties.values(), *([schema["items"]] if "items" in schema else [])]
    extra = schema.get("additionalProperties", False)
    return all(_plain(p, depth + 1) for p in parts) and isinstance(extra, bool)
