import asyncio
import importlib.metadata

import autonom

DOCUMENTED = {
    "AutonomError", "Backend", "Capabilities", "ChatChunk", "ChatRequest", "ChatResponse",
    "FakeBackend", "GGUFInfo", "GenerationOptions", "Message", "ModelRecord", "Registry",
    "Services", "Settings", "Usage", "__version__", "load_settings", "pull", "read_gguf",
}


def test_the_public_names_are_the_documented_ones_and_autonoms_own():
    assert set(autonom.__all__) == DOCUMENTED and len(autonom.__all__) == len(DOCUMENTED)
    for name in DOCUMENTED - {"__version__"}:
        assert getattr(autonom, name).__module__.startswith("autonom."), name


def test_version_matches_the_package_metadata():
    assert autonom.__version__ == importlib.metadata.version("autonom")


def test_the_docstring_example_answers_through_the_router(tmp_path):
    backend = autonom.FakeBackend(reply="Hallo zurück.", models=("smollm2-135m",))
    services = autonom.Services(autonom.load_settings(home=tmp_path), backend_override=backend)
    try:
        answer = asyncio.run(services.router.chat(autonom.ChatRequest(
            model="smollm2-135m", messages=[autonom.Message(role="user", content="Hallo")])))
    finally:
        services.close()
    assert answer.message.content == "Hallo zurück."
    assert [r.user_text for r in backend.requests] == ["Hallo"]


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
