"""LangChain's OpenAI and Ollama chat models, unchanged, against autonom."""

import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

pytestmark = pytest.mark.engine


class Farbe(BaseModel):
    name: str = Field(max_length=20)


@pytest.fixture(params=["openai", "ollama"])
def chat_model(request, server):
    if request.param == "openai":
        return ChatOpenAI(base_url=f"{server.url}/v1", api_key=server.keys["all"],
                          model=server.model, max_tokens=24, temperature=0, max_retries=0)
    return ChatOllama(base_url=server.url, model=server.model, num_predict=24, temperature=0,
                      client_kwargs={"headers": server.headers()})


def test_invoke(chat_model):
    answer = chat_model.invoke("Was ist ein Wartungsvertrag?")
    assert answer.content


def test_stream(chat_model):
    pieces = [chunk.content for chunk in chat_model.stream("Nenne drei Farben.")]
    assert len(pieces) > 1 and "".join(pieces)


def test_with_structured_output(chat_model):
    structured = chat_model.with_structured_output(Farbe, method="json_schema")
    result = structured.invoke("Nenne eine Farbe.")
    assert isinstance(result, Farbe) and result.name
