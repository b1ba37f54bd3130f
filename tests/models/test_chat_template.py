import time

import pytest

from autonom.errors import TemplateError
from autonom.models.chat_template import render_chat
from autonom.models.gguf_file import read_gguf

MESSAGES = [{"role": "user", "content": "Wie hoch ist die Leistung der Pumpe? (5,5 kW?)"}]


def test_default_model_template_renders_chatml(default_model_file):
    info = read_gguf(default_model_file)
    prompt = render_chat(info.chat_template, MESSAGES)
    assert "<|im_start|>user\nWie hoch ist die Leistung der Pumpe? (5,5 kW?)<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_missing_template_falls_back_to_chatml():
    prompt = render_chat(None, [{"role": "system", "content": "Sei knapp."}, *MESSAGES])
    assert prompt.startswith("<|im_start|>system\nSei knapp.<|im_end|>\n")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set x = messages.append({'role': 'user'}) %}",
        "{{ messages[0].update({'content': 'x'}) }}",
    ],
)
def test_sandbox_escapes_are_refused(template):
    with pytest.raises(TemplateError, match="unsafe"):
        render_chat(template, MESSAGES)


def test_endless_loop_is_stopped_within_its_budget():
    evil = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateError, match="time budget"):
        render_chat(evil, MESSAGES, budget_s=0.2)
    assert time.monotonic() - started < 10  # stopped, not run to completion


def test_recursive_macro_is_stopped():
    with pytest.raises(TemplateError):
        render_chat("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", MESSAGES)


@pytest.mark.parametrize("template", ["{{ 'a' * 100000000 }}", "{{ 'x'.ljust(10**10) }}"])
def test_memory_bombs_are_refused(template):
    with pytest.raises(TemplateError, match="oversized"):
        render_chat(template, MESSAGES)


def test_raise_exception_in_template_becomes_template_error():
    with pytest.raises(TemplateError, match="Nur abwechselnde Rollen"):
        render_chat("{{ raise_exception('Nur abwechselnde Rollen') }}", MESSAGES)


def test_broken_template_is_a_template_error():
    with pytest.raises(TemplateError, match="does not compile"):
        render_chat("{% for x in %}", MESSAGES)
