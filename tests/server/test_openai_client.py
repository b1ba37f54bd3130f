"""The official openai client against a real autonom server is the proof of compatibility."""

import json

import openai
import pytest

pytestmark = pytest.mark.engine


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys["all"], max_retries=0,
                         timeout=120)


def test_chat_completion(client, server):
    reply = client.chat.completions.create(
        model=server.model, max_tokens=12, temperature=0, seed=1,
        messages=[{"role": "system", "content": "Antworte kurz."},
                  {"role": "user", "content": "Was ist ein Wartungsvertrag?"}])
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_with_usage(client, server):
    stream = client.chat.completions.create(
        model=server.model, max_tokens=10, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Zähle bis fünf."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_streamed_text_matches_non_streamed_when_greedy(client, server):
    kwargs = {"model": server.model, "max_tokens": 16, "temperature": 0, "seed": 3,
              "messages": [{"role": "user", "content": "Nenne eine Farbe."}]}
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client.chat.completions.create(stream=True, **kwargs)
                       if c.choices)
    assert streamed == whole


def test_json_schema_response_format_is_enforced(client, server):
    schema = {"type": "object",
              "properties": {"stadt": {"type": "string"}, "einwohner": {"type": "integer"}},
              "required": ["stadt", "einwohner"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=server.model, max_tokens=80, temperature=0.5, seed=2,
        messages=[{"role": "user", "content": "Nenne eine deutsche Stadt als JSON."}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "stadt", "schema": schema, "strict": True}})
    data = json.loads(reply.choices[0].message.content)
    assert set(data) == {"stadt", "einwohner"} and isinstance(data["einwohner"], int)


def test_json_object_response_format(client, server):
    # The tiny model may ramble inside the object until max_tokens; the grammar still forces
    # the answer to be a JSON object from its first character, never prose.
    reply = client.chat.completions.create(
        model=server.model, max_tokens=40, temperature=0, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Wer bist du? Antworte in einem Satz."}])
    content = reply.choices[0].message.content
    assert content.lstrip().startswith("{"), content
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)


def test_stop_sequence_and_max_completion_tokens(client, server):
    reply = client.chat.completions.create(
        model=server.model, max_completion_tokens=30, temperature=0, stop=[","],
        messages=[{"role": "user", "content": "Zähle von 1 bis 10, getrennt durch Kommas."}])
    assert "," not in reply.choices[0].message.content


def test_legacy_completions(client, server):
    reply = client.completions.create(model=server.model, prompt="Die Hauptstadt von",
                                      max_tokens=5, temperature=0)
    assert reply.object == "text_completion"
    assert reply.choices[0].text
    assert reply.usage.completion_tokens <= 5


def test_embeddings(client, server):
    result = client.embeddings.create(model=server.model,
                                      input=["Wartungsvertrag", "Preisliste für Pumpen"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 576


def test_models_lists_the_store(client, server):
    assert server.model in [m.id for m in client.models.list()]


def test_n_greater_than_one_is_a_clear_400(client, server):
    with pytest.raises(openai.BadRequestError, match="n > 1"):
        client.chat.completions.create(model=server.model, n=2,
                                       messages=[{"role": "user", "content": "Hallo"}])


def test_unknown_model_is_404_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gibt-es-nicht",
                                       messages=[{"role": "user", "content": "Hallo"}])
    assert info.value.body["type"] == "not_found_error"
    assert "gibt-es-nicht" in info.value.body["message"]


def test_missing_and_wrong_keys_are_401(server):
    for key in ("", "sk-autonom-falsch", server.keys["revoked"]):
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_key_without_scope_is_403(server):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys["embed"],
                           max_retries=0)
    with pytest.raises(openai.PermissionDeniedError, match="chat"):
        client.chat.completions.create(model=server.model,
                                       messages=[{"role": "user", "content": "Hallo"}])
