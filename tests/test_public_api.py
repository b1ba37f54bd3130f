import asyncio
import importlib.metadata

import autonom


def test_public_names_are_importable():
    for name in autonom.__all__:
        assert getattr(autonom, name) is not None, name


def test_version_matches_the_package_metadata():
    assert autonom.__version__ == importlib.metadata.version("autonom")


def test_fake_backend_satisfies_the_backend_protocol():
    backend = autonom.FakeBackend(reply="Die Pumpe leistet 5,5 kW.", models=("fake",))
    assert isinstance(backend, autonom.Backend)
    request = autonom.ChatRequest(
        model="fake", messages=[autonom.Message(role="user", content="Leistung?")])
    answer = asyncio.run(backend.chat(request))
    assert answer.message.content == "Die Pumpe leistet 5,5 kW."

    async def streamed():
        return "".join([c.delta async for c in backend.stream(request)])

    assert asyncio.run(streamed()) == "Die Pumpe leistet 5,5 kW."
    assert backend.requests == [request, request]
