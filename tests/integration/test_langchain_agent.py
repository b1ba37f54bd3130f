"""LangChain agents and vector stores on autonom: the frameworks' own loops, unchanged.

An agent built with LangChain's ``create_agent`` calls a Python tool through autonom, gets
the tool's result back and answers, once through ``ChatOpenAI`` (``/v1``) and once through
``ChatOllama`` (``/api``). Embeddings from both clients fill LangChain's in-memory vector
store, which then finds the right passage.
"""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, wrap_model_call
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

pytestmark = [pytest.mark.engine, pytest.mark.integration]

STOCK = {"KP-55": 17, "KP-80": 4}
EMBEDDER = "multilingual-e5-small"  # the document embedder, offered by the API as a model


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def stock_tool(calls):
    @tool
    def lagerbestand(artikel: str) -> str:
        """Gibt den Lagerbestand eines Artikels zurück (Artikelnummer, z. B. KP-55)."""
        calls.append(artikel)
        found = next((n for code, n in STOCK.items() if code in artikel.upper()), None)
        return f"{found} Stück auf Lager" if found is not None else "Artikel unbekannt"

    return lagerbestand


@wrap_model_call
def tool_first(request: ModelRequest, handler):
    """Small models need to be told when to use the tool: before any tool result they must
    call one, after it they must answer (the usual way to drive a small model in an agent)."""
    answered = any(isinstance(m, ToolMessage) for m in request.messages)
    return handler(request.override(tool_choice="none" if answered else "required"))


def chat_model(kind: str, server):
    if kind == "openai":
        return ChatOpenAI(base_url=f"{server.url}/v1", api_key=server.keys["chat"],
                          model=server.model, max_tokens=60, temperature=0, max_retries=0)
    return ChatOllama(base_url=server.url, model=server.model, num_predict=60, temperature=0,
                      client_kwargs={"headers": server.headers("chat")})


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_agent_calls_a_tool_and_answers(kind, server, stock_tool, calls):
    agent = create_agent(chat_model(kind, server), tools=[stock_tool], middleware=[tool_first],
                         system_prompt="Du bist ein Lagerassistent. Nutze das Werkzeug "
                                       "lagerbestand für Fragen zum Bestand.")
    result = agent.invoke({"messages": [{"role": "user",
                                         "content": "Wie viele Pumpen KP-55 haben wir?"}]},
                          {"recursion_limit": 6})
    messages = result["messages"]
    assert calls, "the agent never called the tool"
    [request] = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert request.tool_calls[0]["name"] == "lagerbestand"
    [answer] = [m for m in messages if isinstance(m, ToolMessage)]
    assert answer.tool_call_id == request.tool_calls[0]["id"]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls and final.content.strip()


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_embeddings_fill_a_langchain_vector_store(kind, server):
    if kind == "openai":
        embeddings = OpenAIEmbeddings(base_url=f"{server.url}/v1", api_key=server.keys["embed"],
                                      model=EMBEDDER, check_embedding_ctx_length=False)
    else:
        embeddings = OllamaEmbeddings(base_url=server.url, model=EMBEDDER,
                                      client_kwargs={"headers": server.headers("embed")})
    store = InMemoryVectorStore(embeddings)
    store.add_documents([
        Document("Die Kreiselpumpe KP-55 fördert bis zu 55 m³/h.", metadata={"file": "kp55"}),
        Document("Urlaubsanträge stellen Sie im Personalportal.", metadata={"file": "hr"}),
        Document("Die Kantine öffnet um 11:30 Uhr.", metadata={"file": "kantine"}),
    ])
    for question, file in (("Wie viel fördert die Pumpe KP-55?", "kp55"),
                           ("Wo beantrage ich meinen Urlaub?", "hr"),
                           ("When does the canteen open?", "kantine")):
        [best] = store.similarity_search(question, k=1)
        assert best.metadata["file"] == file, question


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_a_rag_model_answers_with_its_sources_through_langchain(kind, rag_server):
    if kind == "openai":
        model = ChatOpenAI(base_url=f"{rag_server.url}/v1", api_key=rag_server.keys["sales"],
                           model="rag:pumpenwerk", max_retries=0)
    else:
        model = ChatOllama(base_url=rag_server.url, model="rag:pumpenwerk",
                           client_kwargs={"headers": rag_server.headers("sales")})
    answer = model.invoke("Welche Motorleistung hat die Kreiselpumpe KP-55?")
    assert "5,5 kW" in answer.content and "Quellen:" in answer.content
