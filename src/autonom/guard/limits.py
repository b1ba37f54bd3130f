"""What one request may ask of the engine, checked before any work starts.

A JSON schema in ``response_format`` (or a tool's parameters, which become one) is turned
into a grammar inside llama.cpp, and repetition counts are expanded into copies of grammar
rules: ``{"type": "array", "minItems": 10**9}`` would need hundreds of gigabytes before the
first token. Measured with the embedded engine, each repetition costs about 150-250 bytes,
so the budget below (an estimated 100,000 grammar elements) stays within a few tens of MB.
Items are rules of their own, so nested arrays add up; a regex inlines its groups, so
repetitions inside a pattern multiply.
Numbers outside 64 bits make the engine fail, and text with lone surrogates (``"\\ud800"``
in JSON) cannot be tokenised or stored; both are refused here as client errors.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from autonom.errors import InvalidRequestError
from autonom.types import ChatRequest

MAX_DEPTH = 32
"""Nesting of schemas inside schemas."""
MAX_NODES = 5_000
"""Objects, arrays and values in one schema."""
MAX_REPEAT = 10_000
"""Largest minItems/maxItems/minLength/maxLength/… and regex repetition count."""
MAX_COST = 100_000
"""Estimated grammar elements of all schemas of one request together."""
MAX_PATTERN_CHARS = 1_000
MAX_TOOLS = 128
MAX_STOP = 16
MAX_STOP_CHARS = 500
INT_MIN, INT_MAX = -(2**63), 2**64 - 1

_REPEATS = (("minItems", "maxItems"), ("minLength", "maxLength"),
            ("minProperties", "maxProperties"), ("minContains", "maxContains"))
_ONE_SCHEMA = ("items", "additionalProperties", "additionalItems", "contains", "not", "if",
               "then", "else", "propertyNames", "unevaluatedItems", "unevaluatedProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def check_request(request: ChatRequest) -> None:
    """Refuse a request whose text or output constraints the engine cannot take safely."""
    stops = request.options.stop
    if len(stops) > MAX_STOP or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise InvalidRequestError(f"stop: at most {MAX_STOP} sequences of at most "
                                  f"{MAX_STOP_CHARS} characters each")
    if len(request.tools) > MAX_TOOLS:
        raise InvalidRequestError(f"tools: at most {MAX_TOOLS} tools per request")
    cost = 0
    if request.options.json_schema is not None:
        cost += schema_cost(request.options.json_schema, "json_schema")
    for tool in request.tools:
        cost += schema_cost(tool.parameters, f"tools.{tool.name}.parameters")
    if cost > MAX_COST:
        raise InvalidRequestError(
            f"the output constraints of this request are too large (about {cost:,} grammar "
            f"elements; the limit is {MAX_COST:,}): lower minItems/maxItems/maxLength")
    try:
        data = request.model_dump(mode="json")
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError("request: values nested too deeply") from exc
    check_text(data, "request")


def check_text(value: Any, where: str) -> None:
    """Refuse strings with lone surrogates: no model can read them and no log can store them."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(f"{where}: text contains an unpaired surrogate "
                                  "(invalid Unicode)") from exc


def schema_cost(schema: Any, where: str = "schema") -> int:
    """The estimated grammar size of ``schema``; raises InvalidRequestError past any limit."""
    _check_values(schema, where)
    return _Walker(where).schema(schema, where, 0)


def _check_values(schema: Any, where: str) -> None:
    """Every value of the schema, without recursion: how many, how deep, numbers in range."""
    stack, nodes = [(schema, 0)], 0
    while stack:
        item, level = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InvalidRequestError(f"{where}: schema has more than {MAX_NODES:,} parts")
        if level > 2 * MAX_DEPTH:
            raise InvalidRequestError(f"{where}: schema nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not INT_MIN <= item <= INT_MAX:
            raise InvalidRequestError(f"{where}: number {item} does not fit in 64 bits")
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidRequestError(f"{where}: numbers must be finite")
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)


class _Walker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, message: str) -> InvalidRequestError:
        return InvalidRequestError(f"{path}: {message}")

    def schema(self, node: Any, path: str, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise self.fail(path, f"schema nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool):
            return 1
        if not isinstance(node, dict):
            raise self.fail(path, "a schema must be a JSON object")
        cost = 1
        for key in _ONE_SCHEMA:
            if isinstance(node.get(key), dict):
                cost += self.schema(node[key], f"{path}.{key}", depth + 1)
        if isinstance(node.get("items"), list):  # draft-4 tuple form
            cost += self.each(node["items"], f"{path}.items", depth)
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                cost += self.each(node[key], f"{path}.{key}", depth)
        for key in _SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                cost += sum(self.schema(sub, f"{path}.{key}.{name}", depth + 1)
                            for name, sub in node[key].items())
        ref = node.get("$ref")
        if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
            raise self.fail(path, "only local references ('#/…') are allowed in $ref")
        pattern = node.get("pattern")
        if pattern is not None:
            cost += self.pattern(pattern, f"{path}.pattern")
        for low_key, high_key in _REPEATS:
            low = self.bound(node, low_key, path)
            high = self.bound(node, high_key, path)
            cost += low + 2 * max(0, high - low)  # copies of a reference to the item rule
        return cost

    def each(self, nodes: list[Any], path: str, depth: int) -> int:
        return sum(self.schema(sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(nodes))

    def bound(self, node: dict[str, Any], key: str, path: str) -> int:
        value = node.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
                or value != int(value):
            raise self.fail(f"{path}.{key}", "must be a non-negative integer")
        if value > MAX_REPEAT:
            raise self.fail(f"{path}.{key}", f"{int(value):,} is over the limit of {MAX_REPEAT:,}")
        return int(value)

    def pattern(self, pattern: Any, path: str) -> int:
        if not isinstance(pattern, str):
            raise self.fail(path, "must be a string")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise self.fail(path, f"longer than {MAX_PATTERN_CHARS} characters")
        try:
            cost, _ = _pattern_cost(pattern, 0, path)
        except RecursionError as exc:
            raise self.fail(path, "groups nested too deeply") from exc
        return cost


_QUANTIFIER = re.compile(r"\{(\d+)(?:(,)(\d*))?\}|[*+?]")


def _pattern_cost(pattern: str, pos: int, path: str) -> tuple[int, int]:
    """Estimated grammar elements of the regex from ``pos`` to the end of its group:
    each atom counts 1, a group its content, a repetition multiplies by its count."""
    total, atom = 0, 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == ")":
            return total + atom, pos + 1
        if char == "|":
            total, atom, pos = total + atom, 0, pos + 1
            continue
        match = _QUANTIFIER.match(pattern, pos)
        if match is not None and (match.group(1) is not None or char in "*+?"):
            times = 1 if match.group(1) is None else _repeat(match, path)
            total += atom * (times + 1)
            atom, pos = 0, match.end() + (1 if pattern[match.end():match.end() + 1] == "?" else 0)
            continue
        total += atom
        if char == "\\":
            atom, pos = 1, pos + 2
        elif char == "[":
            end = pattern.find("]", pos + 2)
            atom, pos = 1, (len(pattern) if end < 0 else end + 1)
        elif char == "(":
            atom, pos = _pattern_cost(pattern, pos + 1, path)
            atom = max(atom, 1)
        else:
            atom, pos = 1, pos + 1
        if total > MAX_COST:
            break
    return total + atom, pos


def _repeat(match: re.Match[str], path: str) -> int:
    low = int(match.group(1))
    high = low if match.group(2) is None else int(match.group(3) or low)
    if max(low, high) > MAX_REPEAT:
        raise InvalidRequestError(f"{path}: repetition {match.group()} is over the limit of "
                                  f"{MAX_REPEAT:,}")
    return low + 2 * max(0, high - low)
