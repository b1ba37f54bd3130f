"""The whole native path, for real: ``autonom engine build`` fetches the installed xllamacpp
version's source from the package index and compiles it for this CPU (6–8 minutes on two
cores), the self-test passes, the server loads the native build and answers (JSON schemas
still enforced), and ``autonom engine use`` switches back and forth.

The one slow test of the suite; it needs cmake and a C++ compiler (``make test`` installs
them where they are missing).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from autonom.engine import builds
from server_support import prepare_home, start_server, stop_server
from support import DEFAULT_MODEL, autonom

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                           "kw": {"type": "number"}},
          "required": ["name", "kw"], "additionalProperties": False}


def engine_in_server(home: Path, keys: dict[str, str]) -> tuple[str, str]:
    """Which build the running server reports, after it answered a chat and a JSON schema
    (the JSON it wrote is returned too)."""
    process, url = start_server(home)
    headers = {"Authorization": f"Bearer {keys['all']}"}
    try:
        chat = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=120, json={
            "model": DEFAULT_MODEL, "max_tokens": 8,
            "messages": [{"role": "user", "content": "Hallo"}]})
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"].strip()
        structured = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=120,
                                json={"model": DEFAULT_MODEL, "max_tokens": 80,
                                      # greedy: sampled, the tiny model once wrote digits
                                      # of a number until max_tokens cut the JSON off
                                      "temperature": 0, "seed": 1, "messages": [
                                    {"role": "user", "content": "Pumpe KP-55, 5,5 kW"}],
                                    "response_format": {"type": "json_schema", "json_schema": {
                                        "name": "pumpe", "schema": SCHEMA}}})
        assert structured.status_code == 200, structured.text
        content = structured.json()["choices"][0]["message"]["content"]
        data = json.loads(content)
        assert set(data) == {"name", "kw"} and isinstance(data["kw"], int | float)
        metrics = httpx.get(f"{url}/metrics", headers=headers, timeout=30).text
    finally:
        stop_server(process)
    line = next(x for x in metrics.splitlines() if x.startswith("autonom_engine_build_info{"))
    assert f'version="{builds.installed_version()}"' in line
    return line.split('build="')[1].split('"')[0], content


@pytest.mark.engine
@pytest.mark.timeout(3000)
def test_build_from_the_package_index_then_serve_and_switch(tmp_path: Path,
                                                            default_model_file: Path) -> None:
    home = tmp_path / "home"
    keys = prepare_home(home, default_model_file)

    built = autonom(home, "engine", "build", timeout=2700)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "native engine built" in built.stdout and "long-prompt decode" in built.stdout

    status = json.loads(autonom(home, "engine", "status", "--json").stdout)
    facts = json.loads((builds.native_dir(home) / "build.json").read_text())
    if facts.get("kept_prebuilt"):  # slower on this CPU: built and kept, not switched to
        assert status["active"] == "prebuilt" and "unchanged" in built.stdout
        assert autonom(home, "engine", "use", "native").returncode == 0
        status = json.loads(autonom(home, "engine", "status", "--json").stdout)
    assert status["active"] == "native" and status["warning"] is None
    rows = {row["build"]: row for row in status["builds"]}
    for kind in ("prebuilt", "native"):
        assert rows[kind]["version"] == builds.installed_version()
        assert rows[kind]["speed"]["long"]["prompt_tokens"] > 2000
        assert rows[kind]["speed"]["long"]["decode_per_second"] > 0
    assert "AVX2 = 1" in rows["native"]["system_info"]
    assert facts["cmake_args"] == ["-DGGML_NATIVE=ON", "-DLLAMA_BUILD_BORINGSSL=OFF",
                                   "-DLLAMA_OPENSSL=OFF", "-DLLAMA_LLGUIDANCE=OFF"]
    assert not (builds.engine_dir(home) / "native.new").exists()

    build, content = engine_in_server(home, keys)
    assert build == "native"
    assert "\n" not in content  # GBNF without llguidance: one space between tokens at most
    assert autonom(home, "engine", "use", "prebuilt").returncode == 0
    assert engine_in_server(home, keys)[0] == "prebuilt"
    assert autonom(home, "engine", "use", "native").returncode == 0
    assert json.loads(autonom(home, "engine", "status", "--json").stdout)["active"] == "native"
