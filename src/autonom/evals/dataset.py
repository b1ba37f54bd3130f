"""Eval sets: the company's questions with the facts a right answer contains.

A set is a YAML file (a mapping with ``cases`` and optional ``name``, ``description`` and
``defaults``, or a bare list of cases) or a JSONL file (one case per line). Per case::

    id: a01                         # unique; defaults to the line/position number
    question: Welche Motorleistung hat die KP-55?    # or messages: [{role, content}, ...]
    collection: pumpenwerk          # answer from these documents (with citations)
    expected: ["5,5 kW", {regex: "5[,.]5 ?kW"}]     # any one of them makes the answer right
    expected_sources: [produkte/kp-55-datenblatt.md] # the document a right answer cites
    reference: "Die KP-55 hat 5,5 kW."   # for cases without documents: what supports facts
    must_abstain: false             # true: the right answer is "that is not in the documents"
    schema: {type: object, ...}     # structured output: the answer must validate against it
    tags: [produkt]

Numbers compare by value: ``5,5 kW`` matches ``5.5 kW`` and ``1.200 €`` matches ``1200 €``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autonom.errors import EvalSetError
from autonom.types import Message

MAX_CASES = 100_000



class Fact(BaseModel):
    """One expected fact: literal text (numbers compared by value) or a regular expression."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Fact:
        if (self.text is None) == (self.regex is None):
            raise ValueError("an expected fact is a string or {regex: ...}")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.regex!r}: {exc}") from exc
        return self


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str | None = None
    messages: tuple[Message, ...] = ()
    collection: str | None = None
    expected: tuple[Fact, ...] = ()
    expected_sources: tuple[str, ...] = ()
    reference: str | None = None
    must_abstain: bool = False
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    tags: tuple[str, ...] = ()

    @field_validator("expected", mode="before")
    @classmethod
    def _facts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return [{"text": v} if isinstance(v, str) else v for v in value or []]

    @field_validator("expected_sources", "tags", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and "expected_source" in data:
            data = dict(data)
            source = data.pop("expected_source")
            data.setdefault("expected_sources", [source] if source else [])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> EvalCase:
        if (self.question is None) == (not self.messages):
            raise ValueError("a case needs either 'question' or 'messages'")
        if self.messages and self.messages[-1].role != "user":
            raise ValueError("the last of 'messages' must be a user message")
        if not self.must_abstain and not self.expected and self.json_schema is None:
            raise ValueError("a case needs 'expected' facts, 'schema' or must_abstain: true")
        if self.must_abstain and self.expected:
            raise ValueError("a case with must_abstain: true has no expected facts")
        return self

    @property
    def prompt(self) -> str:
        """The question, or the last user message."""
        return self.question if self.question is not None else self.messages[-1].content

    def chat(self) -> list[Message]:
        return list(self.messages) or [Message(role="user", content=self.question or "")]


class EvalSet(BaseModel):
    name: str
    description: str = ""
    cases: tuple[EvalCase, ...]

    def tags(self) -> list[str]:
        return sorted({tag for case in self.cases for tag in case.tags})


def load(path: Path) -> EvalSet:
    """Reads and checks an eval set; every problem is a :class:`EvalSetError` naming the case."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise EvalSetError(f"eval set {str(path)!r} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"cannot read eval set {str(path)!r}: {exc}") from exc
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        raw, meta = _jsonl(text, path), dict[str, Any]()
    else:
        raw, meta = _yaml(text, path)
    if not raw:
        raise EvalSetError(f"eval set {str(path)!r} has no cases")
    if len(raw) > MAX_CASES:
        raise EvalSetError(f"eval set {str(path)!r} has more than {MAX_CASES} cases")
    defaults = meta.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise EvalSetError(f"{path}: 'defaults' must be a mapping")
    cases = [_case(item, position, defaults, path) for position, item in raw]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise EvalSetError(f"{path}: case id {case.id!r} occurs twice")
        seen.add(case.id)
    return EvalSet(name=str(meta.get("name") or path.stem),
                   description=str(meta.get("description") or ""), cases=tuple(cases))


def _jsonl(text: str, path: Path) -> list[tuple[int, Any]]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return items


def _yaml(text: str, path: Path) -> tuple[list[tuple[int, Any]], dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML ({exc})") from exc
    if isinstance(data, list):
        return list(enumerate(data, 1)), {}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise EvalSetError(f"{path}: expected a list of cases or a mapping with 'cases'")
    unknown = set(data) - {"name", "description", "defaults", "cases"}
    if unknown:
        raise EvalSetError(f"{path}: unknown top-level keys: {', '.join(sorted(unknown))}")
    return list(enumerate(data["cases"], 1)), data


def _case(item: Any, position: int, defaults: dict[str, Any], path: Path) -> EvalCase:
    where = f"{path}: case {position}"
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: a case must be a mapping")
    merged = {**defaults, **item}
    merged["id"] = str(merged.get("id", position))
    where = f"{path}: case {merged['id']!r}"
    try:
        return EvalCase.model_validate(merged)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "case"
        message = problem["msg"].removeprefix("Value error, ")
        raise EvalSetError(f"{where}: {field}: {message}") from exc
