from pathlib import Path

import pytest

from autonom.config import ensure_home, load_settings
from autonom.errors import ConfigError


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTONOM_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("AUTONOM_ENGINE__THREADS", "3")
    monkeypatch.setenv("AUTONOM_KEEP_ALIVE", "10m")
    settings = load_settings()
    assert settings.home == tmp_path / "h"
    assert settings.engine.threads == 3
    assert settings.keep_alive_seconds == 600


def test_toml_file_in_home_is_read(monkeypatch, tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "autonom.toml").write_text(
        'default_model = "gemma3-270m"\nmax_loaded_models = 3\n[engine]\nn_ctx = 2048\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("AUTONOM_HOME", str(home))
    settings = load_settings()
    assert settings.default_model == "gemma3-270m"
    assert settings.max_loaded_models == 3
    assert settings.engine.n_ctx == 2048


def test_environment_beats_toml(monkeypatch, tmp_path):
    cfg = tmp_path / "autonom.toml"
    cfg.write_text("max_loaded_models = 3\n", encoding="utf-8")
    monkeypatch.setenv("AUTONOM_CONFIG", str(cfg))
    monkeypatch.setenv("AUTONOM_MAX_LOADED_MODELS", "5")
    assert load_settings().max_loaded_models == 5


def test_hf_endpoint_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9999")
    assert load_settings().hf_endpoint == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [("AUTONOM_KEEP_ALIVE", "bald", "keep_alive"),
     ("AUTONOM_ENGINE__THREADS", "0", "engine.threads"),
     ("AUTONOM_MAX_LOADED_MODELS", "viele", "max_loaded_models")],
)
def test_invalid_setting_names_the_setting(monkeypatch, key, value, where):
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=where):
        load_settings()


def test_unknown_toml_key_is_refused(monkeypatch, tmp_path):
    cfg = tmp_path / "autonom.toml"
    cfg.write_text("modell = 'x'\n", encoding="utf-8")
    monkeypatch.setenv("AUTONOM_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="modell"):
        load_settings()


def test_missing_explicit_config_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTONOM_CONFIG", str(tmp_path / "fehlt.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_unwritable_home_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    settings = load_settings(home=blocker / "home")
    with pytest.raises(ConfigError, match="not writable"):
        ensure_home(settings)


def test_home_is_created(tmp_path):
    settings = load_settings(home=tmp_path / "new" / "home")
    assert ensure_home(settings) == tmp_path / "new" / "home"
    assert (tmp_path / "new" / "home" / "models").is_dir()
    assert isinstance(settings.db_path, Path)


def _config(monkeypatch, tmp_path, text: str):
    cfg = tmp_path / "autonom.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AUTONOM_CONFIG", str(cfg))
    return load_settings()


def test_backend_key_comes_from_the_environment_and_stays_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("GPU_BOX_KEY", "sk-gpu-geheim")
    settings = _config(monkeypatch, tmp_path, """
[backends.gpu-box]
kind = "openai"
url = "http://127.0.0.1:8000/v1"
api_key = "${GPU_BOX_KEY}"
models = ["qwen3:8b"]
[aliases]
chat-default = ["qwen3:8b@gpu-box", "smollm2-135m@embedded"]
""")
    backend = settings.backends["gpu-box"]
    assert backend.api_key.get_secret_value() == "sk-gpu-geheim"
    assert "sk-gpu-geheim" not in repr(settings) and "sk-gpu-geheim" not in str(backend)
    assert settings.aliases["chat-default"] == ["qwen3:8b@gpu-box", "smollm2-135m@embedded"]


def test_backend_key_from_a_secret_file(monkeypatch, tmp_path):
    secret = tmp_path / "ollama.key"
    secret.write_text("sk-aus-datei\n", encoding="utf-8")
    settings = _config(monkeypatch, tmp_path, f"""
[backends.box]
kind = "ollama"
url = "http://127.0.0.1:11434"
api_key_file = "{secret}"
""")
    assert settings.backends["box"].api_key.get_secret_value() == "sk-aus-datei"


@pytest.mark.parametrize(("text", "message"), [
    ('[backends.box]\nkind = "ollama"\nurl = "http://x"\napi_key = "${NICHT_GESETZT}"\n',
     "unset variable"),
    ('[backends.box]\nkind = "ollama"\napi_key_file = "/gibt/es/nicht"\nurl = "http://x"\n',
     "cannot read api_key_file"),
    ('[backends.box]\nkind = "openai"\n', "needs url"),
    ('[backends.box]\nkind = "openai"\nurl = "file:///etc/passwd"\n', "needs url"),
    ('[backends.embedded]\nkind = "ollama"\nurl = "http://x"\n', "kept for the embedded"),
    ('[aliases]\nchat = ["qwen3:8b@nirgends"]\n', "unknown backend 'nirgends'"),
    ('[aliases]\nchat = []\n', "empty target list"),
    ('[aliases.auto]\nsimple = "fehlt"\nhard = ["a"]\n', "not a list alias"),
    ('[mcp.servers.erp]\ncommand = ["x"]\n[mcp.aliases.chat]\nmodel = "m"\nservers = ["erp"]\n'
     '[aliases]\nchat = ["m"]\n', "also an MCP alias"),
])
def test_bad_backend_or_alias_settings_are_refused_clearly(monkeypatch, tmp_path, text,
                                                          message):
    with pytest.raises(ConfigError, match=message):
        _config(monkeypatch, tmp_path, text)


@pytest.mark.parametrize(("allowed", "physical", "threads"),
                         [({0}, 8, 1), (set(range(8)), 4, 4), ({0, 1}, None, 2)])
def test_engine_threads_default_to_the_physical_cores_this_process_may_use(
        monkeypatch, allowed, physical, threads):
    """A container limited to one CPU of an 8-core host gets 1 thread; 8 hyper-threads on
    4 cores get 4; where the core count is unknown, the CPUs allowed count."""
    import os

    import psutil

    from autonom.config import EngineSettings

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: allowed)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: physical)
    assert EngineSettings().threads == threads
