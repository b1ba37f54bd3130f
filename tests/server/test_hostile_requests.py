"""Single requests built to hurt the server: refused with a 400 in the route family's shape
before any work starts, and every one of them still leaves its row in the request log."""

import json

import pytest

from api_support import CHAT, assert_ollama_error, assert_openai_error, post, run
from autonom.guard import limits
from autonom.store import request_log

HUGE_ARRAY = {"type": "array", "items": {"type": "integer"}, "minItems": 1_000_000_000}


def nested(levels):
    schema = {"type": "integer"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


BAD_SCHEMAS = [
    (HUGE_ARRAY, "minItems"),
    ({"type": "string", "maxLength": 10**7}, "maxLength"),
    (nested(200), "nested deeper"),
    (nested(400), "nested deeper"),
    ({"type": "integer", "minimum": 10**40}, "64 bits"),
    ({"type": "string", "pattern": "^(a{1000}){1000}$"}, "too large"),
    ({"type": "string", "pattern": "^a{20000}$"}, "repetition"),
    ({"$ref": "https://attacker.example/schema.json"}, "local references"),
]


def openai_schema(schema):
    return {**CHAT, "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "x", "schema": schema}}}


@pytest.mark.parametrize(("schema", "fragment"), BAD_SCHEMAS)
def test_output_schemas_past_the_limits_are_400_on_both_apis(api, schema, fragment):
    assert_openai_error(run(post(api(), "/v1/chat/completions", json=openai_schema(schema))),
                        400, fragment)
    ollama = {**CHAT, "stream": False, "format": schema}
    assert_ollama_error(run(post(api(), "/api/chat", json=ollama)), 400, fragment)
    assert_ollama_error(run(post(api(), "/api/generate", json={
        "model": "fake", "prompt": "Hallo", "stream": False, "format": schema})), 400, fragment)
    statuses = [e.status for e in request_log.query(api.services.db)]
    assert statuses == [400, 400, 400]
    assert api.services.backend_override.requests == []  # refused before the engine


def test_tool_parameters_count_as_output_schemas(api):
    tool = {"type": "function", "function": {"name": "liste", "parameters": {
        "type": "object", "properties": {"ids": HUGE_ARRAY}}}}
    response = run(post(api(), "/v1/chat/completions", json={**CHAT, "tools": [tool]}))
    assert_openai_error(response, 400, "tools.liste.parameters")
    many = [{"type": "function", "function": {"name": f"t{i}"}} for i in range(200)]
    response = run(post(api(), "/v1/chat/completions", json={**CHAT, "tools": many}))
    assert_openai_error(response, 400, "at most")


def test_ordinary_schemas_still_pass(api):
    schema = {"type": "object", "properties": {
        "iban": {"type": "string", "pattern": "^DE\\d{2}[0-9]{18}$"},
        "positionen": {"type": "array", "items": {"type": "integer", "minimum": 0,
                                                   "maximum": 2**63 - 1}, "maxItems": 50}},
        "required": ["iban"]}
    response = run(post(api(), "/v1/chat/completions", json=openai_schema(schema)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_seeds_outside_64_bits_are_400(api, seed):
    assert_openai_error(run(post(api(), "/v1/chat/completions", json={**CHAT, "seed": seed})),
                        400, "seed")
    ollama = {**CHAT, "stream": False, "options": {"seed": seed}}
    assert_ollama_error(run(post(api(), "/api/chat", json=ollama)), 400, "seed")


def test_giant_stop_lists_are_400(api):
    body = {**CHAT, "stop": [f"x{i}" for i in range(1000)]}
    assert_openai_error(run(post(api(), "/v1/chat/completions", json=body)), 400, "stop")


LONE_SURROGATE = b'"\\ud800"'


def raw_body(template: bytes) -> bytes:
    return template.replace(b"SURROGATE", LONE_SURROGATE)


def test_lone_surrogate_in_a_message_is_400_and_logged(api):
    body = raw_body(b'{"model": "fake", "messages": [{"role": "user", "content": SURROGATE}]}')
    assert_openai_error(run(post(api(), "/v1/chat/completions", content=body)), 400,
                        "surrogate")
    assert_ollama_error(run(post(api(), "/api/chat", content=body)), 400, "surrogate")
    embed = raw_body(b'{"model": "fake", "input": [SURROGATE]}')
    assert_openai_error(run(post(api(), "/v1/embeddings", content=embed)), 400, "surrogate")
    assert [e.status for e in request_log.query(api.services.db)] == [400, 400, 400]


@pytest.mark.parametrize("stream", [False, True])
def test_lone_surrogate_outside_the_text_is_answered_and_logged_safely(api, stream):
    body = raw_body(b'{"model": "fake", "user": SURROGATE, "stream": STREAM, "messages": '
                    b'[{"role": "user", "content": "Hallo"}]}').replace(
        b"STREAM", b"true" if stream else b"false")
    response = run(post(api(), "/v1/chat/completions", content=body))
    assert response.status_code == 200
    [entry] = request_log.query(api.services.db)
    assert entry.status == 200 and entry.request["user"] == "\ud800"
    assert "Die Pumpe" in entry.response["text"]


def test_model_name_with_a_lone_surrogate_is_a_clear_error(api):
    body = b'{"model": "\\udfff", "messages": [{"role": "user", "content": "Hallo"}]}'
    response = run(post(api(), "/v1/chat/completions", content=body))
    assert 400 <= response.status_code < 500
    json.loads(response.text)


def test_limits_check_directly_names_where():
    with pytest.raises(Exception, match=r"json_schema\.items\.minItems"):
        limits.schema_cost({"type": "array", "items": {"type": "array",
                                                       "minItems": 10**6}}, "json_schema")
    assert limits.schema_cost({"type": "array", "items": {"type": "array", "minItems": 3000},
                               "minItems": 3000}) < limits.MAX_COST


@pytest.mark.engine
def test_the_real_server_refuses_a_billion_items_and_keeps_answering(server):
    import httpx

    body = {"model": server.model, "max_tokens": 8,
            "messages": [{"role": "user", "content": "Zahlen bitte"}]}
    hostile = {**body, "response_format": {"type": "json_schema", "json_schema": {
        "name": "zahlen", "schema": HUGE_ARRAY}}}
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as client:
        refused = client.post("/v1/chat/completions", json=hostile)
        assert refused.status_code == 400 and "minItems" in refused.json()["error"]["message"]
        small = {**hostile, "response_format": {"type": "json_schema", "json_schema": {
            "name": "zahlen", "schema": {**HUGE_ARRAY, "minItems": 2, "maxItems": 3}}}}
        answer = client.post("/v1/chat/completions", json={**small, "max_tokens": 40})
        assert answer.status_code == 200
        assert client.get("/health").status_code == 200


@pytest.mark.engine
def test_connections_that_send_too_slowly_are_closed(tmp_path, default_model_file):
    import socket
    import time

    import httpx

    from server_support import prepare_home, start_server, stop_server

    home = tmp_path / "home"
    prepare_home(home, default_model_file)
    process, url = start_server(home, {"AUTONOM_SERVER__READ_TIMEOUT_S": "1"})
    port = int(url.rsplit(":", 1)[1])
    partial = {
        "silent": b"",
        "half headers": b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        "half body": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"mo"),
    }
    try:
        sockets = {}
        for name, data in partial.items():
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(data)
            sockets[name] = sock
        started = time.monotonic()
        for name, sock in sockets.items():
            with sock:
                rest = b""
                while chunk := sock.recv(4096):  # bounded by the socket timeout
                    rest += chunk
                assert time.monotonic() - started < 8, name
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    finally:
        stop_server(process)


def test_a_body_that_does_not_validate_still_gets_its_log_row(api):
    for path, body in (("/v1/chat/completions", {**CHAT, "seed": 2**70}),
                       ("/api/chat", {"model": "fake", "messages": "Hallo"}),
                       ("/v1/chat/completions", b'{"model": "fake", "messages": [')):
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        assert run(post(api(), path, **kw)).status_code == 400
    rows = request_log.query(api.services.db)
    assert len(rows) == 3 and {r.status for r in rows} == {400}
    assert all(r.key_id is not None and r.error.startswith("InvalidRequestError")
               for r in rows)
