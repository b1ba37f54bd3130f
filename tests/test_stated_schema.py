"""The schema a prompt states is enforced when the client asks for plain JSON."""

from __future__ import annotations

import json

from autonom.stated_schema import ANY_OBJECT, stated, with_stated_schema
from autonom.types import ChatRequest, GenerationOptions, Message

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"},
                                           "leistung_kw": {"type": "number"}},
          "required": ["name", "leistung_kw"]}


def ask(text: str, schema: dict | None = ANY_OBJECT) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role="user", content=text)],
                       options=GenerationOptions(json_schema=schema))


def test_the_one_fenced_schema_is_taken():
    text = f"Nenne Name und Leistung.\nHere is the schema:\n```json\n{json.dumps(SCHEMA)}\n```\n"
    assert with_stated_schema(ask(text)).options.json_schema == SCHEMA


def test_pydantic_style_schemas_without_a_type_are_objects():
    plain = {k: v for k, v in SCHEMA.items() if k != "type"}
    assert stated(f"```\n{json.dumps(plain)}\n```") == SCHEMA


def test_nothing_changes_without_a_json_request_or_with_a_schema_of_its_own():
    text = f"```json\n{json.dumps(SCHEMA)}\n```"
    assert with_stated_schema(ask(text, None)).options.json_schema is None
    own = {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert with_stated_schema(ask(text, own)).options.json_schema == own


def test_two_schemas_unusual_keywords_or_huge_ones_are_left_alone():
    two = f"```json\n{json.dumps(SCHEMA)}\n```\nor\n```json\n{json.dumps(SCHEMA)}\n```"
    assert stated(two) is None
    pattern = {"type": "object", "properties": {"code": {"type": "string", "pattern": "a+"}}}
    assert stated(f"```json\n{json.dumps(pattern)}\n```") is None
    huge = {"type": "object", "properties": {"x": {"type": "array", "minItems": 10**9,
                                                   "items": {"type": "integer"}}}}
    assert stated(f"```json\n{json.dumps(huge)}\n```") is None
    assert stated("```json\n{not json}\n```") is None
