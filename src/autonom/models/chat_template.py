"""Render a model's chat template safely.

A chat template travels inside the model file, so it is untrusted code (CVE-2024-34359 ran
arbitrary Python through a GGUF template). Templates here are rendered only in Jinja's
immutable sandbox, with

* a time budget enforced by a line tracer on the template's own frames (an endless or
  exponential loop is stopped, not waited out),
* a cap on the size of strings built with ``*`` / ``**`` and on the rendered output,
* no access to attributes starting with ``_`` (the sandbox's rule) and no mutation.

When a model has no template, ChatML is used, as llama.cpp does.
"""

from __future__ import annotations

import operator
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from types import FrameType
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from autonom.errors import TemplateError

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
_MAX_SOURCE_CHARS = 256 * 1024


class _Budget(Exception):
    """Raised inside the template's frames when the time budget is used up."""


class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in chat template")
            return operator.pow(left, right)
        result_len = _repeat_len(left, right)
        if result_len is not None and result_len > MAX_OUTPUT_CHARS:
            raise SecurityError("chat template builds an oversized string")
        return operator.mul(left, right)

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_OUTPUT_CHARS:
                raise SecurityError("chat template passes an oversized number to a function")
        return super().call(context, obj, *args, **kwargs)


def _repeat_len(left: Any, right: Any) -> int | None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            return len(seq) * max(count, 0)
    return None


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    env = _Env(trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    return env.from_string(source)


def render_chat(
    source: str | None,
    messages: Sequence[dict[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    budget_s: float = 1.0,
    extra: dict[str, Any] | None = None,
) -> str:
    """Render ``messages`` with the template ``source`` (ChatML if None) inside the sandbox."""
    source = source or CHATML
    if len(source) > _MAX_SOURCE_CHARS:
        raise TemplateError("chat template is implausibly large")
    try:
        template = _compile(source)
    except JinjaTemplateError as exc:
        raise TemplateError(f"chat template does not compile: {exc}") from exc
    context = {
        "messages": [dict(m) for m in messages],
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
        **(extra or {}),
    }
    return _run_with_budget(template, context, budget_s)


def _run_with_budget(template: Any, context: dict[str, Any], budget_s: float) -> str:
    deadline = time.monotonic() + budget_s
    code_files = {"<template>", "jinja2/runtime.py", "jinja2/sandbox.py", "jinja2/utils.py"}

    def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Budget
        return local_trace

    def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if filename == "<template>" or any(filename.endswith(f) for f in code_files):
            return local_trace
        return None

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        parts: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError("chat template output exceeds its size limit")
            parts.append(piece)
            if time.monotonic() > deadline:
                raise _Budget
        return "".join(parts)
    except _Budget:
        raise TemplateError(
            f"chat template exceeded its time budget of {budget_s:g} s and was stopped"
        ) from None
    except SecurityError as exc:
        raise TemplateError(f"chat template tried something unsafe and was refused: {exc}") from exc
    except TemplateError:
        raise
    except RecursionError as exc:
        raise TemplateError("chat template recursed too deeply") from exc
    except (JinjaTemplateError, TypeError, ValueError, KeyError, IndexError,
            AttributeError, ZeroDivisionError, OverflowError, MemoryError) as exc:
        raise TemplateError(f"chat template failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        sys.settrace(previous)
