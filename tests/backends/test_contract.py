"""One contract, three backends: the embedded engine, an Ollama server (native API) and an
OpenAI-compatible server. The upstream server is a real ``autonom serve`` on 127.0.0.1 with the
default model, reached through the fault-injecting proxy (passing everything here); the same
questions must get answers of the same shape from every backend."""

from __future__ import annotations

import asyncio
import json

import pytest

from autonom import tools
from autonom.backends.embedded import EmbeddedBackend
from autonom.backends.ollama import OllamaBackend
from autonom.backends.openai_compat import OpenAIBackend
from autonom.config import BackendSettings
from autonom.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamError,
    UpstreamTimeoutError,
)
from autonom.types import ChatRequest, GenerationOptions, Message, Tool
from fault_proxy import FaultProxy
from support import DEFAULT_MODEL

pytestmark = pytest.mark.engine
KINDS = ["embedded", "ollama", "openai"]
REMOTE = ["ollama", "openai"]


def remote(kind: str, proxy: FaultProxy, key: str, **overrides) -> OllamaBackend | OpenAIBackend:
    url = proxy.url if kind == "ollama" else proxy.url + "/v1"
    settings = BackendSettings(kind=kind, url=url, api_key=key, **overrides)
    cls = OllamaBackend if kind == "ollama" else OpenAIBackend
    return cls(f"{kind}-box", settings)


@pytest.fixture(params=KINDS)
def backend(request, server, proxy, model_services):
    if request.param == "embedded":
        made = EmbeddedBackend(model_services.registry, model_services.settings,
                               model_services.db)
    else:
        made = remote(request.param, proxy, server.keys["all"])
    yield made
    made.close()


def ask(content: str, max_tokens: int = 16, **options) -> ChatRequest:
    return ChatRequest(model=DEFAULT_MODEL, messages=[Message(role="user", content=content)],
                       options=GenerationOptions(max_tokens=max_tokens, temperature=0, seed=3,
                                                 **options))


async def collect(backend, request):
    return [chunk async for chunk in backend.stream(request)]


def test_chat_answers_with_usage(backend):
    response = asyncio.run(backend.chat(ask("Was kostet eine Wärmepumpe mit 5,5 kW?")))
    assert response.message.role == "assistant"
    assert response.message.content.strip()
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 16
    assert response.finish_reason in ("stop", "length")


def test_stream_gives_the_same_text_as_chat(backend):
    question = ask("Nenne drei Gründe für eine Wartung der Pumpe.", max_tokens=20)
    whole = asyncio.run(backend.chat(question))
    chunks = asyncio.run(collect(backend, question))
    assert len(chunks) >= 3
    assert "".join(c.delta for c in chunks) == whole.message.content
    assert chunks[-1].finish_reason == whole.finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.finish_reason is None for c in chunks[:-1])


def test_raw_prompt_is_completed(backend):
    request = ChatRequest(model=DEFAULT_MODEL, prompt="Die Hauptstadt von Deutschland ist",
                          options=GenerationOptions(max_tokens=8, temperature=0))
    response = asyncio.run(backend.chat(request))
    assert response.message.content.strip()
    assert response.usage.completion_tokens > 0


def test_json_schema_answer_parses_and_has_the_required_fields(backend):
    schema = {"type": "object", "properties": {"stadt": {"type": "string"},
                                               "einwohner": {"type": "integer"}},
              "required": ["stadt", "einwohner"], "additionalProperties": False}
    response = asyncio.run(backend.chat(
        ask("Nenne eine Stadt in Bayern und ihre Einwohnerzahl als JSON.", max_tokens=60,
            json_schema=schema)))
    data = json.loads(response.message.content)
    assert set(data) == {"stadt", "einwohner"}
    assert isinstance(data["stadt"], str) and isinstance(data["einwohner"], int)


def test_forced_tool_call_comes_back_as_a_tool_call(backend):
    stock = Tool(name="lagerbestand", description="Lagerbestand eines Artikels",
                 parameters={"type": "object", "properties": {"artikel": {"type": "string"}},
                             "required": ["artikel"]})
    request = ask("Wie viele Pumpen P-200 sind auf Lager?", max_tokens=40)
    request = request.model_copy(update={"tools": [stock], "tool_choice": "lagerbestand"})
    response = asyncio.run(tools.chat(backend, request))
    [call] = response.message.tool_calls
    assert call.name == "lagerbestand"
    assert isinstance(call.arguments.get("artikel"), str)
    assert response.finish_reason == "tool_calls"


def test_tool_results_in_the_conversation_are_accepted(backend):
    stock = Tool(name="lagerbestand", parameters={"type": "object"})
    call = {"id": "call_1", "name": "lagerbestand", "arguments": {"artikel": "P-200"}}
    request = ChatRequest(model=DEFAULT_MODEL, tools=[stock], tool_choice="none",
                          options=GenerationOptions(max_tokens=12, temperature=0),
                          messages=[Message(role="user", content="Wie viele P-200 gibt es?"),
                                    Message(role="assistant", content="", tool_calls=(call,)),
                                    Message(role="tool", content="17 Stück",
                                            tool_call_id="call_1", name="lagerbestand")])
    response = asyncio.run(tools.chat(backend, request))
    assert response.message.content.strip()
    assert not response.message.tool_calls


def test_embeddings_one_vector_per_text(backend):
    texts = ["Die Pumpe fördert 5,5 m³ pro Stunde.", "Urlaubsantrag bis zum 1. April 2026"]
    vectors = asyncio.run(backend.embed(DEFAULT_MODEL, texts))
    assert len(vectors) == 2
    assert len(vectors[0]) == len(vectors[1]) > 16
    assert vectors[0] != vectors[1]


def test_unknown_model_is_model_not_found(backend):
    request = ask("Hallo").model_copy(update={"model": "gibt-es-nicht"})
    with pytest.raises(ModelNotFoundError):
        asyncio.run(backend.chat(request))
    with pytest.raises(ModelNotFoundError):
        asyncio.run(collect(backend, request))


def test_prompt_beyond_the_context_is_a_client_error(backend):
    request = ask("Pumpe Wartung Ölwechsel " * 3000)
    with pytest.raises(InvalidRequestError):
        asyncio.run(backend.chat(request))


@pytest.mark.parametrize("kind", REMOTE)
def test_a_server_that_does_not_answer_times_out(kind, server, proxy):
    proxy.default = "hang"
    backend = remote(kind, proxy, server.keys["all"], first_token_timeout_s=0.5)
    with pytest.raises(UpstreamTimeoutError) as caught:
        asyncio.run(backend.chat(ask("Hallo")))
    assert caught.value.retryable and caught.value.backend == f"{kind}-box"
    with pytest.raises(UpstreamTimeoutError):
        asyncio.run(collect(backend, ask("Hallo")))


@pytest.mark.parametrize("kind", REMOTE)
def test_an_error_status_is_retryable_and_names_the_backend(kind, server, proxy):
    proxy.default = "status:503"
    backend = remote(kind, proxy, server.keys["all"])
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(backend.chat(ask("Hallo")))
    assert caught.value.retryable
    assert f"{kind}-box: 503" in str(caught.value)


@pytest.mark.parametrize("kind", REMOTE)
def test_a_wrong_key_is_not_retryable_and_never_shown(kind, server, proxy):
    backend = remote(kind, proxy, "sk-falsch-geheim-123")
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(backend.chat(ask("Hallo")))
    assert not caught.value.retryable
    assert "401" in str(caught.value)
    assert "sk-falsch-geheim-123" not in str(caught.value)
    assert "sk-falsch-geheim-123" not in repr(backend.upstream)
    assert proxy.seen[-1].headers["authorization"] == "Bearer sk-falsch-geheim-123"


@pytest.mark.parametrize("kind", REMOTE)
def test_a_stream_cut_in_the_middle_is_an_error_not_a_short_answer(kind, server, proxy):
    proxy.plan("cut:600")
    backend = remote(kind, proxy, server.keys["all"])
    received = []

    async def read() -> None:
        async for chunk in backend.stream(ask("Erzähle von der Pumpe.", max_tokens=60)):
            received.append(chunk)

    with pytest.raises(UpstreamError):
        asyncio.run(read())
    assert received and all(c.finish_reason is None for c in received)


@pytest.mark.parametrize("kind", REMOTE)
def test_the_backend_lists_the_upstream_models(kind, server, proxy):
    backend = remote(kind, proxy, server.keys["all"])
    assert DEFAULT_MODEL in asyncio.run(backend.models())
    asyncio.run(backend.health())
