"""The official openai client against a real autonom server is the proof of compatibility."""

import json
import re

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


def test_the_document_embedder_is_a_model_of_its_own(client, server):
    assert "multilingual-e5-small" in [m.id for m in client.models.list()]
    result = client.embeddings.create(model="multilingual-e5-small",
                                      input=["Wartungsvertrag", "Preisliste für Pumpen"])
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [384, 384]
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-3)
    with server.services().db.read() as db:
        [row] = db.execute("SELECT model, status FROM request_log ORDER BY created_at DESC "
                           "LIMIT 1").fetchall()
    assert tuple(row) == ("multilingual-e5-small", 200)


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


WEATHER = {
    "type": "function",
    "function": {
        "name": "wetter_abfragen",
        "description": "Aktuelles Wetter für eine Stadt",
        "parameters": {"type": "object", "properties": {"stadt": {"type": "string",
                                                                  "maxLength": 30}},
                       "required": ["stadt"], "additionalProperties": False},
    },
}


def test_tools_round_trip(client, server):
    messages = [{"role": "user", "content": "Wie ist das Wetter in München?"}]
    first = client.chat.completions.create(model=server.model, messages=messages,
                                           tools=[WEATHER], tool_choice="required",
                                           max_tokens=60, temperature=0)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "wetter_abfragen"
    assert isinstance(json.loads(call.function.arguments)["stadt"], str)
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "12 °C, Regen"}]
    second = client.chat.completions.create(model=server.model, messages=messages,
                                            tools=[WEATHER], tool_choice="none",
                                            max_tokens=30, temperature=0)
    assert second.choices[0].message.content
    assert second.choices[0].message.tool_calls is None


def test_tool_call_in_a_stream(client, server):
    stream = client.chat.completions.create(
        model=server.model, stream=True, tools=[WEATHER], max_tokens=60,
        tool_choice={"type": "function", "function": {"name": "wetter_abfragen"}},
        messages=[{"role": "user", "content": "Wetter in Köln?"}])
    chunks = [c for c in stream if c.choices]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "wetter_abfragen"
    assert "stadt" in json.loads(calls[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_auto_tool_choice_gives_a_call_or_an_answer(client, server):
    reply = client.chat.completions.create(
        model=server.model, tools=[WEATHER], max_tokens=60, temperature=0,
        messages=[{"role": "user", "content": "Wie ist das Wetter in Hamburg?"}])
    message = reply.choices[0].message
    assert bool(message.tool_calls) != bool(message.content)


def test_prompt_longer_than_the_context_is_a_clear_400(client, server):
    with pytest.raises(openai.BadRequestError, match="context"):
        client.chat.completions.create(
            model=server.model, max_tokens=5,
            messages=[{"role": "user", "content": "Wartungsvertrag " * 6000}])


def test_json_object_follows_the_schema_the_prompt_states(client, server):
    schema = {"type": "object",
              "properties": {"stadt": {"type": "string"}, "einwohner": {"type": "integer"}},
              "required": ["stadt", "einwohner"], "additionalProperties": False}
    prompt = ("Nenne eine deutsche Stadt als JSON nach diesem Schema:\n"
              f"```json\n{json.dumps(schema)}\n```")
    reply = client.chat.completions.create(
        model=server.model, max_tokens=120, temperature=0.5, seed=2, frequency_penalty=0.5,
        response_format={"type": "json_object"}, messages=[{"role": "user", "content": prompt}])
    content = reply.choices[0].message.content
    # the grammar of the stated schema starts the object with its first property; plain JSON
    # would let the model name any key
    assert re.match(r'\s*\{\s*"stadt"\s*:', content), content
    if reply.choices[0].finish_reason == "stop":  # the tiny model may ramble until max_tokens
        data = json.loads(content)
        assert set(data) == {"stadt", "einwohner"} and isinstance(data["einwohner"], int)
