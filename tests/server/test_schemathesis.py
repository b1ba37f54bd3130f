"""Property-based API testing from our own OpenAPI schema: no 5xx, responses as documented.

Runs in-process against the FakeBackend (the engine is not what is tested here), with a
bounded number of generated requests per operation.
"""

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from autonom.backends.fake import FakeBackend
from autonom.config import load_settings
from autonom.server import create_app
from autonom.services import Services
from autonom.store.keys import KeyStore

CHECKS = (not_a_server_error, response_schema_conformance, content_type_conformance,
          status_code_conformance)
SKIP = {("POST", "/api/pull")}  # would fetch models from the package index


@pytest.fixture
def setup(tmp_path_factory):  # a fresh app each time: its MCP lifespan runs once
    home = tmp_path_factory.mktemp("schemathesis-home")
    services = Services(load_settings(home=home), backend_override=FakeBackend())
    _, secret = KeyStore(services.db).create("fuzz", frozenset({"chat", "embed"}))
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(services)), secret


def _operations(api_schema):
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            yield operation


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_on_any_route(setup, mode):
    api_schema, secret = setup
    tested = []
    for operation in _operations(api_schema):

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(max_examples=25, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {secret}"}
            response = case.call()
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:  # nothing to get wrong (no parameters)
            assert mode is GenerationMode.NEGATIVE
            continue
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /v1/chat/completions" in tested and "POST /api/chat" in tested


def test_errors_are_documented_in_their_family_shape(setup):
    api_schema, _ = setup
    paths = api_schema.raw_schema["paths"]
    chat = paths["/v1/chat/completions"]["post"]["responses"]
    assert "422" not in chat and {"400", "401", "413", "429", "503"} <= set(chat)
    assert chat["400"]["content"]["application/json"]["schema"]["$ref"].endswith("OpenAIError")
    ollama = paths["/api/chat"]["post"]["responses"]["429"]
    assert ollama["content"]["application/json"]["schema"]["$ref"].endswith("OllamaError")
