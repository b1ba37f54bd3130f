"""The official ollama client against a real autonom server."""

import json

import ollama
import pytest

pytestmark = pytest.mark.engine


@pytest.fixture
def client(server):
    return ollama.Client(host=server.url, headers=server.headers(), timeout=120)


def test_chat(client, server):
    reply = client.chat(model=server.model, options={"num_predict": 10, "temperature": 0},
                        messages=[{"role": "user", "content": "Was ist ein Wartungsvertrag?"}])
    assert reply.message.role == "assistant"
    assert reply.message.content
    assert reply.done and reply.done_reason in ("stop", "length")
    assert 0 < reply.eval_count <= 10
    assert reply.prompt_eval_count > 0
    assert reply.total_duration > 0


def test_chat_stream(client, server):
    parts = list(client.chat(model=server.model, stream=True,
                             options={"num_predict": 8, "temperature": 0, "seed": 4},
                             messages=[{"role": "user", "content": "Hallo!"}]))
    assert len(parts) > 2
    assert all(not p.done for p in parts[:-1])
    assert parts[-1].done and parts[-1].eval_count > 0
    whole = client.chat(model=server.model, options={"num_predict": 8, "temperature": 0,
                                                     "seed": 4},
                        messages=[{"role": "user", "content": "Hallo!"}])
    assert "".join(p.message.content for p in parts) == whole.message.content


def test_generate_with_system_and_stream(client, server):
    reply = client.generate(model=server.model, prompt="Nenne eine Farbe.",
                            system="Antworte auf Deutsch.", options={"num_predict": 6})
    assert reply.response and reply.done
    parts = list(client.generate(model=server.model, prompt="Nenne eine Zahl.", stream=True,
                                 options={"num_predict": 6}))
    assert parts[-1].done and "".join(p.response for p in parts)


def test_generate_raw(client, server):
    reply = client.generate(model=server.model, prompt="1, 2, 3, 4,", raw=True,
                            options={"num_predict": 4, "temperature": 0})
    assert reply.response


def test_format_json_schema(client, server):
    schema = {"type": "object", "properties": {"farbe": {"type": "string", "maxLength": 20}},
              "required": ["farbe"], "additionalProperties": False}
    reply = client.chat(model=server.model, format=schema,
                        options={"num_predict": 120, "temperature": 0, "seed": 7},
                        messages=[{"role": "user", "content": "Nenne eine Farbe als JSON."}])
    assert isinstance(json.loads(reply.message.content)["farbe"], str)


def test_embed_string_and_list(client, server):
    one = client.embed(model=server.model, input="Wartungsvertrag")
    assert len(one.embeddings) == 1 and len(one.embeddings[0]) == 576
    two = client.embed(model=server.model, input=["Pumpe", "Größe: 5,5 kW"])
    assert len(two.embeddings) == 2
    legacy = client.embeddings(model=server.model, prompt="Pumpe")
    assert legacy.embedding == pytest.approx(two.embeddings[0], abs=1e-5)


def test_the_document_embedder_is_listed_and_embeds(client, server):
    listed = {m.model: m for m in client.list().models}
    assert listed["multilingual-e5-small"].details.family == "bert"
    result = client.embed(model="multilingual-e5-small", input=["Pumpe", "Größe: 5,5 kW"])
    assert [len(v) for v in result.embeddings] == [384, 384]


def test_list_ps_show(client, server):
    client.chat(model=server.model, messages=[{"role": "user", "content": "Hi"}],
                options={"num_predict": 1}, keep_alive="10m")
    assert server.model in [m.model for m in client.list().models]
    [loaded] = [m for m in client.ps().models if m.model == server.model]
    assert loaded.size > 98_000_000 and loaded.expires_at is not None
    shown = client.show(server.model)
    assert shown.details.quantization_level == "Q4_1"
    assert shown.details.family == "llama"
    assert shown.modelinfo["general.architecture"] == "llama"
    assert "<|im_start|>" in shown.template
    chat_only = ollama.Client(host=server.url, headers=server.headers("chat"))
    assert chat_only.show(server.model).modelfile == f"FROM {server.model}\n"
    assert str(server.home) in shown.modelfile  # an administrator sees where the file lies


def test_unknown_model_is_an_ollama_error(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="gibt-es-nicht", messages=[{"role": "user", "content": "Hallo"}])
    assert info.value.status_code == 404
    assert "gibt-es-nicht" in info.value.error


def test_requests_without_a_key_are_refused(server):
    anonymous = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as info:
        anonymous.list()
    assert info.value.status_code == 401


def test_pull_and_delete_need_admin(server, tmp_path):
    chat_only = ollama.Client(host=server.url, headers=server.headers("chat"))
    with pytest.raises(ollama.ResponseError) as info:
        chat_only.delete(server.model)
    assert info.value.status_code == 403


def test_admin_pulls_with_streamed_progress_and_deletes(server, tmp_path):
    from gguf_maker import write_tiny_gguf

    src = write_tiny_gguf(server.home / "imports" / "api-modell.gguf")
    admin = ollama.Client(host=server.url, headers=server.headers("all"))
    events = list(admin.pull(str(src), stream=True))
    assert events[-1].status == "success"
    assert any(e.status == "downloading" and e.completed == e.total for e in events)
    assert "api-modell" in [m.model for m in admin.list().models]
    admin.delete("api-modell")
    assert "api-modell" not in [m.model for m in admin.list().models]
    with pytest.raises(ollama.ResponseError) as info:
        admin.delete("api-modell")
    assert info.value.status_code == 404


@pytest.mark.parametrize("source", [
    "/etc/passwd", "../serve.log", "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/modelle/../geheim.gguf", "http://127.0.0.1:9.attacker.example/modelle/x",
    "file:///etc/passwd"])
def test_admin_pull_fetches_only_from_configured_places(server, tmp_path, source):
    import httpx

    response = httpx.post(f"{server.url}/api/pull", json={"model": source, "stream": True},
                          headers=server.headers("all"), timeout=30)
    assert response.status_code == 403
    assert "server.pull_from" in response.json()["error"]


def test_admin_pull_obeys_the_licence_policy_like_the_cli(server, tmp_path):
    from gguf_maker import write_tiny_gguf

    admin = ollama.Client(host=server.url, headers=server.headers("all"))
    with pytest.raises(ollama.ResponseError) as info:  # refused before any download
        admin.pull("command-r7b")
    assert info.value.status_code == 403 and "licence policy" in str(info.value)
    src = write_tiny_gguf(server.home / "imports" / "nc.gguf", license="cc-by-nc-4.0")
    with pytest.raises(ollama.ResponseError) as info:
        admin.pull(str(src))
    assert info.value.status_code == 403 and "commercial" in str(info.value)
    assert "nc" not in [m.model for m in admin.list().models]


def test_tool_calls(client, server):
    def wetter_abfragen(stadt: str) -> str:
        """Aktuelles Wetter für eine Stadt.

        Args:
          stadt: Name der Stadt
        """
        return "12 °C"

    reply = client.chat(model=server.model, tools=[wetter_abfragen],
                        options={"num_predict": 60, "temperature": 0},
                        messages=[{"role": "user", "content": "Wetter in Berlin?"}])
    calls = reply.message.tool_calls or []
    assert bool(calls) != bool(reply.message.content)
    for call in calls:
        assert call.function.name == "wetter_abfragen"
        assert isinstance(call.function.arguments, dict)


def test_generate_context_continues_the_conversation(client, server):
    first = client.generate(model=server.model, prompt="Merke dir die Zahl 42.",
                            options={"num_predict": 8, "temperature": 0})
    assert first.context and all(isinstance(t, int) for t in first.context)
    second = client.generate(model=server.model, prompt="Welche Zahl?", context=first.context,
                             options={"num_predict": 8, "temperature": 0})
    assert second.response
    assert second.prompt_eval_count > first.prompt_eval_count  # the history was included
    assert len(second.context) > len(first.context)


def test_invalid_context_is_a_clear_400(client, server):
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model=server.model, prompt="Hallo", context=[999999, -1])
    assert info.value.status_code == 400 and "context" in info.value.error
