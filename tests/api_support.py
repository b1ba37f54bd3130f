"""In-process HTTP testing of the API with a FakeBackend: the app, keys and small helpers."""

import asyncio

import httpx
import pytest

from autonom.backends.fake import FakeBackend
from autonom.config import load_settings
from autonom.server import create_app
from autonom.services import Services
from autonom.store.keys import KeyStore
from gguf_maker import write_tiny_gguf

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "Wie viel kostet die Pumpe?"}]}


def make(home, backend=None, **server):
    settings = load_settings(home=home)
    settings.server = settings.server.model_copy(update=server)
    services = Services(settings, backend_override=backend or FakeBackend(
        reply="Die Pumpe kostet 1.234,50 €."))
    pull_fake(services)
    keys = KeyStore(services.db)
    secrets = {}
    for name, scopes in (("all", "chat,embed,admin"), ("embed", "embed")):
        _, secrets[name] = keys.create(name, frozenset(scopes.split(",")))
    _, secrets["limited"] = keys.create("limited", frozenset({"chat"}), rpm=2)
    return services, create_app(services), secrets


def pull_fake(services):
    from autonom.models.pull import pull

    pull(str(write_tiny_gguf(services.settings.home / "fake.gguf")), services.registry,
         services.settings, name="fake")


@pytest.fixture
def api(home):
    services, app, secrets = make(home)

    def client(key="all"):
        headers = {"Authorization": f"Bearer {secrets.get(key, key)}"} if key else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver", headers=headers)

    client.services = services
    return client


def run(coro):
    return asyncio.run(coro)


async def post(client, path, **kw):
    async with client as c:
        return await c.post(path, **kw)


async def get(client, path, **kw):
    async with client as c:
        return await c.get(path, **kw)


def assert_openai_error(response, status, fragment):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"]


def assert_ollama_error(response, status, fragment):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert fragment in body["error"]
