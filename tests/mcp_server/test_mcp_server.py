"""autonom as an MCP server, driven by the official ``mcp`` client: in-process, over stdio
(``autonom mcp serve``) and over streamable HTTP (``/mcp`` of ``autonom serve``)."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from autonom.mcp.server import build
from knowledge_support import CORPUS
from server_support import HR_CANARY, HR_QUESTION, SALES_CANARY, SALES_QUESTION
from support import engine_env

QUESTION = "Welche Motorleistung hat die Kreiselpumpe KP-55?"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=120))


@pytest.fixture
def local(sample_kb):
    return build(sample_kb, auth=False)


def test_tools_have_schemas_and_read_only_annotations(local):
    async def scenario():
        async with Client(local) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in run(scenario())}
    assert set(tools) == {"list_collections", "search_documents", "get_document", "ask"}
    assert all(t.annotations.read_only_hint and not t.annotations.destructive_hint
               for t in tools.values())
    schema = tools["search_documents"].input_schema
    assert schema["required"] == ["query", "collection"]
    assert schema["properties"]["k"]["maximum"] == 50
    assert schema["properties"]["query"]["maxLength"] == 2000


def test_each_tool_answers_from_the_documents(local):
    async def scenario():
        async with Client(local) as client:
            return [await client.call_tool(name, args) for name, args in (
                ("list_collections", {}),
                ("search_documents", {"query": "Motorleistung KP-55",
                                      "collection": "pumpenwerk", "k": 3}),
                ("get_document", {"source": "produkte/kp-55-datenblatt.md",
                                  "collection": "pumpenwerk"}),
                ("ask", {"question": QUESTION, "collection": "pumpenwerk"}),
                ("ask", {"question": "Wie heißt der Hund des Chefs?",
                         "collection": "pumpenwerk"}),
                ("ask", {"question": "Wie viele Urlaubstage bekommen Auszubildende?",
                         "collection": "pumpenwerk"}))]

    listed, found, document, answer, unknown, unsure = (
        r.structured_content for r in run(scenario()))
    assert listed["collections"][0]["name"] == "pumpenwerk"
    assert found["hits"][0]["source"] == "produkte/kp-55-datenblatt.md"
    assert len(found["hits"]) == 3
    assert "Motorleistung: 5,5 kW" in document["text"] and document["date"] == "2026-03"
    assert "5,5 kW" in answer["answer"] and answer["abstained"] is False
    quote = answer["citations"][0]
    assert quote["quote"] in (CORPUS / quote["source"]).read_text(encoding="utf-8")
    assert unknown["abstained"] is True and unknown["citations"] == []
    assert unsure["abstained"] is True and unsure["citations"] == []
    assert unsure["related"][0]["source"] == "personal/urlaubsregelung.docx"
    assert "Urlaub" in unsure["related"][0]["quote"]


def test_bad_arguments_get_clear_errors(local):
    async def scenario():
        async with Client(local) as client:
            invalid = [await client.call_tool("search_documents", args) for args in (
                {"query": "", "collection": "pumpenwerk"},
                {"query": "x" * 2001, "collection": "pumpenwerk"},
                {"query": "Pumpe", "collection": "../etc"},
                {"query": "Pumpe", "collection": "pumpenwerk", "k": 500},
                {"collection": "pumpenwerk"})]
            errors = []
            for name, args in (("get_document", {"source": "fehlt.md",
                                                 "collection": "pumpenwerk"}),
                               ("ask", {"question": "Hallo?", "collection": "gibt-es-nicht"}),
                               ("ask", {"question": "   ", "collection": "pumpenwerk"})):
                try:
                    await client.call_tool(name, args)
                except MCPError as exc:
                    errors.append(str(exc))
            return invalid, errors

    invalid, errors = run(scenario())
    assert all(r.is_error for r in invalid)
    messages = [r.content[0].text for r in invalid]
    assert "at least 1 character" in messages[0] and "at most 2000" in messages[1]
    assert "pattern" in messages[2] and "less than or equal to 50" in messages[3]
    assert "Field required" in messages[4]
    assert "no document 'fehlt.md'" in errors[0]
    assert "collection 'gibt-es-nicht' not found" in errors[1]
    assert "must not be empty" in errors[2]


def test_documents_are_resources_with_one_uri_each(local):
    async def scenario():
        async with Client(local) as client:
            listed = (await client.list_resources()).resources
            templates = (await client.list_resource_templates()).resource_templates
            uri = next(str(r.uri) for r in listed if r.name == "preise/preisliste-2026.csv")
            text = (await client.read_resource(uri)).contents[0].text
            errors = []
            for bad in ("autonom://pumpenwerk/fehlt.md", "autonom://pumpenwerk/../etc/passwd",
                        "autonom://Ungültig!/x.md"):
                try:
                    await client.read_resource(bad)
                except MCPError as exc:
                    errors.append(str(exc))
            return listed, templates, uri, text, errors

    listed, templates, uri, text, errors = run(scenario())
    assert len(listed) == 13
    assert uri == "autonom://pumpenwerk/preise/preisliste-2026.csv"
    assert templates[0].uri_template == "autonom://{collection}/{+source}"
    assert "KP-55" in text and ";" in text
    assert "no document 'fehlt.md'" in errors[0]
    assert len(errors) == 3


@pytest.mark.engine
def test_stdio_server_with_the_official_client(rag_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "autonom", "mcp", "serve"],
                                   env={**env, "AUTONOM_HOME": str(rag_server.home),
                                        **engine_env()})

    async def scenario():
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
            listed = await client.call_tool("list_collections", {})
            answer = await client.call_tool("ask", {"question": QUESTION,
                                                    "collection": "pumpenwerk"})
            sheet = await client.read_resource(
                "autonom://pumpenwerk/produkte/kp-55-datenblatt.md")
            return tools, listed.structured_content, answer.structured_content, sheet

    tools, listed, answer, sheet = run(scenario())
    assert "Motorleistung: 5,5 kW" in sheet.contents[0].text
    assert len(tools) == 4
    # the local user reads every collection, like the CLI
    assert {c["name"] for c in listed["collections"]} == {"vertrieb", "personal", "pumpenwerk"}
    assert "5,5 kW" in answer["answer"]


def _http(server, key: str | None, **headers: str) -> Client:
    if key is not None:
        headers["Authorization"] = f"Bearer {server.keys[key]}"
    client = httpx2.AsyncClient(headers=headers, timeout=60)
    return Client(streamable_http_client(f"{server.url}/mcp", http_client=client))


@pytest.mark.engine
def test_http_server_applies_the_keys_collection_grants(rag_server):
    async def scenario():
        async with _http(rag_server, "sales") as client:
            listed = await client.call_tool("list_collections", {})
            answer = await client.call_tool("ask", {"question": SALES_QUESTION,
                                                    "collection": "vertrieb"})
            own = await client.call_tool("search_documents", {"query": HR_CANARY,
                                                              "collection": "vertrieb"})
            refused = []
            for name, args in (("ask", {"question": HR_QUESTION, "collection": "personal"}),
                               ("search_documents", {"query": HR_CANARY,
                                                     "collection": "personal"}),
                               ("get_document", {"source": "tresor.md",
                                                 "collection": "personal"})):
                try:
                    await client.call_tool(name, args)
                except MCPError as exc:
                    refused.append(str(exc))
            resources = (await client.list_resources()).resources
            try:
                await client.read_resource("autonom://personal/tresor.md")
            except MCPError as exc:
                refused.append(str(exc))
            return listed.structured_content, answer.structured_content, own, refused, resources

    listed, answer, own, refused, resources = run(scenario())
    assert {str(r.uri).split("/")[2] for r in resources} == {"vertrieb", "pumpenwerk"}
    assert {c["name"] for c in listed["collections"]} == {"vertrieb", "pumpenwerk"}
    assert SALES_CANARY in answer["answer"]
    assert HR_CANARY not in str(own.structured_content)
    assert len(refused) == 4 and all("no collection 'personal' that this API key may read" in m
                                     for m in refused)
    assert not any(HR_CANARY in m for m in refused)


_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}}
_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.mark.engine
def test_http_guard_refuses_missing_keys_bad_origins_and_foreign_hosts(rag_server):
    url = f"{rag_server.url}/mcp"
    good = {**_ACCEPT, **rag_server.headers("sales")}
    cases = [
        ({**_ACCEPT}, 401, "missing API key"),
        ({**_ACCEPT, "Authorization": "Bearer sk-autonom-falsch"}, 401, "invalid"),
        ({**_ACCEPT, **rag_server.headers("revoked")}, 401, "revoked"),
        ({**_ACCEPT, **rag_server.headers("embed")}, 403, "lacks the 'chat' scope"),
        ({**good, "Origin": "https://evil.example"}, 403, "origin"),
        ({**good, "Host": "evil.example"}, 403, "host 'evil.example' is not allowed"),
    ]
    for headers, status, message in cases:
        response = httpx.post(url, json=_INIT, headers=headers, timeout=30)
        assert response.status_code == status, headers
        assert message in response.json()["error"]["message"]
        assert response.json()["jsonrpc"] == "2.0"
    assert response.headers.get("www-authenticate") is None
    ok = httpx.post(url, json=_INIT, headers={**good, "Origin": "http://localhost:3000"},
                    timeout=30)
    assert ok.status_code == 200


@pytest.mark.engine
def test_http_client_without_a_key_cannot_connect(rag_server):
    async def scenario():
        async with _http(rag_server, None) as client:
            await client.list_tools()

    with pytest.raises(Exception) as caught:
        run(scenario())
    assert "missing API key" in repr(caught.value)


def _new_key(server, name, scopes, grants, rpm=None):
    from autonom.store.keys import KeyStore

    services = server.services()
    try:
        _, secret = KeyStore(services.db).create(name, frozenset(scopes), rpm=rpm,
                                                  collections=frozenset(grants))
    finally:
        services.close()
    return secret


@pytest.mark.engine
def test_two_authorization_headers_are_refused_before_any_tool_runs(rag_server):
    """An embed-only key granted everything plus a chat key granted one collection must not
    add up to a chat key that reads everything."""
    embed_all = _new_key(rag_server, "embed-all", {"embed"}, {"*"})
    headers = [("Accept", "application/json, text/event-stream"),
               ("Authorization", f"Bearer {rag_server.keys['sales']}"),
               ("Authorization", f"Bearer {embed_all}")]
    for order in (headers, [headers[0], headers[2], headers[1]]):
        response = httpx.post(f"{rag_server.url}/mcp", json=_INIT, headers=order, timeout=30)
        assert response.status_code == 400
        assert "exactly one Authorization header" in response.json()["error"]["message"]
    chat = {"model": "rag:personal", "messages": [{"role": "user", "content": HR_QUESTION}]}
    for path, body in (("/v1/chat/completions", chat),
                       ("/v1/knowledge/search", {"query": HR_CANARY, "collection": "personal"}),
                       ("/api/chat", {**chat, "stream": False})):
        response = httpx.post(f"{rag_server.url}{path}", json=body, headers=headers[1:],
                              timeout=30)
        assert response.status_code == 400, path
        assert HR_CANARY not in response.text


@pytest.mark.engine
def test_mcp_tool_calls_count_against_the_rate_limit_and_are_logged(rag_server):
    from autonom.store import request_log

    secret = _new_key(rag_server, "five-a-minute", {"chat"}, {"vertrieb"}, rpm=3)

    async def scenario():
        outcomes = []
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=60)
        async with Client(streamable_http_client(f"{rag_server.url}/mcp",
                                                 http_client=client)) as mcp:
            for _ in range(5):
                try:
                    await mcp.call_tool("search_documents", {"query": "Rabatt",
                                                             "collection": "vertrieb"})
                    outcomes.append("ok")
                except MCPError as exc:
                    outcomes.append(str(exc))
        return outcomes

    outcomes = run(scenario())
    assert outcomes[:3] == ["ok", "ok", "ok"]
    assert all("rate limit of 3 requests per minute" in o for o in outcomes[3:])
    over_http = httpx.post(f"{rag_server.url}/v1/knowledge/search", timeout=30,
                           json={"query": "Rabatt", "collection": "vertrieb"},
                           headers={"Authorization": f"Bearer {secret}"})
    assert over_http.status_code == 429
    services = rag_server.services()
    try:
        key_id = next(k.id for k in _keys(services) if k.name == "five-a-minute")
        rows = request_log.query(services.db, key_id=key_id)
    finally:
        services.close()
    assert sorted(r.status for r in rows) == [200, 200, 200, 429, 429, 429]
    assert {r.route for r in rows} == {"/mcp search_documents", "/v1/knowledge/search"}
    assert all(r.model == "rag:vertrieb" for r in rows)


def _keys(services):
    from autonom.store.keys import KeyStore

    return KeyStore(services.db).list()
