"""The embedded llama.cpp backend with the real default model."""

import asyncio
import json
import math

import pytest

from autonom.errors import InvalidRequestError, ModelNotFoundError, TemplateError
from autonom.models.pull import pull
from autonom.store.loaded import list_loaded
from autonom.types import ChatRequest, GenerationOptions, Message
from gguf_maker import write_tiny_gguf
from support import DEFAULT_MODEL, ENGINE_BUILD

pytestmark = pytest.mark.engine

QUESTION = "Was ist ein Wartungsvertrag?"


def request(content=QUESTION, **options):
    options.setdefault("max_tokens", 24)
    return ChatRequest(model=DEFAULT_MODEL, messages=[Message(role="user", content=content)],
                       options=GenerationOptions(**options))


async def collect(backend, req):
    return [chunk async for chunk in backend.stream(req)]


def test_chat_answers_with_usage_and_timings(model_services):
    backend = model_services.router
    response = asyncio.run(backend.chat(request(temperature=0, seed=1)))
    assert response.message.role == "assistant"
    assert response.message.content.strip()
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 24
    assert response.timings.decode_per_second > 0
    assert response.load_ms > 0  # the first request loaded the model


def test_stream_yields_the_same_text_as_chat_when_greedy(model_services):
    backend = model_services.router
    whole = asyncio.run(backend.chat(request(temperature=0, seed=7)))
    chunks = asyncio.run(collect(backend, request(temperature=0, seed=7)))
    assert len(chunks) > 2
    assert "".join(c.delta for c in chunks) == whole.message.content
    assert chunks[-1].finish_reason in ("stop", "length")
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_max_tokens_ends_with_length(model_services):
    response = asyncio.run(model_services.router.chat(
        request("Erzähle eine lange Geschichte über Pumpen.", max_tokens=5, temperature=0)))
    assert response.finish_reason == "length"
    assert response.usage.completion_tokens == 5


def test_stop_string_cuts_the_answer(model_services):
    req = request("Zähle von 1 bis 10, getrennt durch Kommas.", max_tokens=40, temperature=0,
                  stop=[","])
    response = asyncio.run(model_services.router.chat(req))
    assert "," not in response.message.content
    assert response.usage.completion_tokens < 40


def test_same_seed_gives_same_answer(model_services):
    backend = model_services.router
    a = asyncio.run(backend.chat(request(temperature=0.9, seed=123)))
    b = asyncio.run(backend.chat(request(temperature=0.9, seed=123)))
    assert a.message.content == b.message.content


def test_json_schema_output_always_parses_and_validates(model_services):
    schema = {
        "type": "object",
        "properties": {"produkt": {"type": "string"}, "leistung_kw": {"type": "number"}},
        "required": ["produkt", "leistung_kw"],
        "additionalProperties": False,
    }
    for seed in (1, 2, 3):
        req = request("Nenne ein Produkt und seine Leistung als JSON.", max_tokens=120,
                      json_schema=schema, seed=seed, temperature=0.7)
        data = json.loads(asyncio.run(model_services.router.chat(req)).message.content)
        assert set(data) == {"produkt", "leistung_kw"}
        assert isinstance(data["leistung_kw"], int | float)


def test_embeddings_have_the_model_dimension(model_services):
    vectors = asyncio.run(model_services.router.embed(
        DEFAULT_MODEL, ["Wartungsvertrag für Pumpen", "Preisliste 2026", "Größe: 5,5 kW"]))
    assert len(vectors) == 3
    assert all(len(v) == 576 for v in vectors)
    assert all(math.isfinite(x) for v in vectors for x in v)
    assert vectors[0] != vectors[1]


def test_keep_alive_zero_unloads_right_after_the_request(model_services):
    backend = model_services.router
    req = request(max_tokens=3)
    asyncio.run(backend.chat(req.model_copy(update={"keep_alive": 0})))
    assert backend.loaded() == []
    assert list_loaded(model_services.db) == []


def test_loaded_model_is_visible_to_ps_with_its_expiry(model_services):
    backend = model_services.router
    asyncio.run(backend.chat(request(max_tokens=3).model_copy(update={"keep_alive": 120})))
    [row] = list_loaded(model_services.db)
    assert row.name == DEFAULT_MODEL and row.kind == "chat"
    assert row.size_bytes > 98_000_000
    assert row.expires_at is not None
    backend.close()
    assert list_loaded(model_services.db) == []


def test_abandoned_stream_is_cancelled_and_the_model_stays_usable(model_services):
    backend = model_services.router

    async def first_three():
        got = []
        async for chunk in backend.stream(request("Erzähle eine lange Geschichte.",
                                                  max_tokens=400)):
            got.append(chunk)
            if len(got) == 3:
                break
        return got

    assert len(asyncio.run(first_three())) == 3
    follow_up = asyncio.run(backend.chat(request(max_tokens=4)))
    assert follow_up.usage.completion_tokens > 0
    assert not any(s.busy for s in backend.loaded())


def test_concurrent_streams_all_complete(model_services):
    backend = model_services.router

    async def many():
        reqs = [request(f"Frage Nummer {i}: Was ist eine Pumpe?", max_tokens=12, seed=i)
                for i in range(4)]
        return await asyncio.gather(*(collect(backend, r) for r in reqs))

    results = asyncio.run(many())
    assert len(results) == 4
    assert all(r[-1].finish_reason in ("stop", "length") for r in results)


def test_prompt_longer_than_the_context_is_a_request_error(model_services):
    model_services.settings.engine.n_ctx = 256  # the embedded backend reads these settings
    long = "Wartung " * 3000
    with pytest.raises(InvalidRequestError, match=r"context holds 256.*engine\.n_ctx"):
        asyncio.run(model_services.router.chat(request(long, max_tokens=4)))


def test_unknown_model_is_not_found(model_services):
    req = request().model_copy(update={"model": "gibt-es-nicht"})
    with pytest.raises(ModelNotFoundError):
        asyncio.run(model_services.router.chat(req))


def test_unsafe_template_is_refused_before_the_model_loads(services, tmp_path):
    evil = write_tiny_gguf(tmp_path / "evil.gguf",
                           chat_template="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    pull(str(evil), services.registry, services.settings, name="evil")
    req = request().model_copy(update={"model": "evil"})
    with pytest.raises(TemplateError, match="unsafe"):
        asyncio.run(services.router.chat(req))
    assert services.router.loaded() == []


# What llama.cpp's own converter makes of {"type": "object", "properties": {"name":
# {"type": "string"}}} in a build without llguidance (a native build), verbatim.
GBNF = r'''char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})
name-kv ::= "\"name\"" space ":" space string
root ::= "{" space  (name-kv )? space "}"
space ::= | " " | "\n"{1,2} [ \t]{0,20}
string ::= "\"" char* "\""
'''


def test_gbnf_schema_grammar_allows_one_space_between_tokens(monkeypatch):
    """Without llguidance a schema becomes GBNF that lets small models write up to 22
    whitespace tokens at each gap; autonom narrows the whitespace rule to one space."""
    from autonom.backends import embedded

    class Converter:
        @staticmethod
        def json_schema_to_grammar(text: str) -> str:
            assert json.loads(text)["type"] == "object"
            return GBNF

    monkeypatch.setattr(embedded, "import_engine", lambda: Converter)
    grammar = embedded.schema_grammar({"type": "object"})
    assert 'space ::= | " "\n' in grammar
    assert grammar.replace('space ::= | " "', "") == GBNF.replace(
        'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}', "")


def test_unconvertible_schema_is_a_request_error(monkeypatch):
    from autonom.backends import embedded

    class Converter:
        @staticmethod
        def json_schema_to_grammar(text: str) -> str:
            raise RuntimeError("json_schema_to_grammar: Unrecognized schema")

    monkeypatch.setattr(embedded, "import_engine", lambda: Converter)
    with pytest.raises(InvalidRequestError, match=r"cannot be enforced: .*Unrecognized"):
        embedded.schema_grammar({"type": "object"})


def test_prebuilt_engine_enforces_schemas_with_llguidance():
    """The prebuilt wheel hands schemas to llguidance, unchanged (see schema_grammar for the
    native build)."""
    from autonom.backends import embedded

    assert embedded.has_llguidance() is (ENGINE_BUILD is None)
