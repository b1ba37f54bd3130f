"""The autonom command line, in-process for speed and as a real process for signals and TTYs."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autonom.cli import main
from gguf_maker import truncate, write_tiny_gguf
from support import DEFAULT_MODEL, engine_env


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def with_model(capsys, default_model_file):
    code, _, err = cli(capsys, "pull", str(default_model_file), "--name", DEFAULT_MODEL)
    assert code == 0, err
    return DEFAULT_MODEL


def test_pull_list_show_rm_roundtrip(capsys, tmp_path):
    src = write_tiny_gguf(tmp_path / "Werk-Modell.gguf")
    code, out, _ = cli(capsys, "pull", str(src))
    assert code == 0
    assert "pulled werk-modell" in out and "sha256" in out
    code, out, _ = cli(capsys, "list")
    assert code == 0 and "werk-modell" in out and "F32" in out
    code, out, _ = cli(capsys, "show", "werk-modell", "--json")
    facts = json.loads(out)
    assert facts["architecture"] == "llama"
    assert facts["parameters"] == 40
    assert facts["context_length"] == 512
    assert facts["license"] == "apache-2.0"
    assert facts["file_size"] == src.stat().st_size
    assert facts["chat_template"].startswith("none")
    code, out, _ = cli(capsys, "rm", "werk-modell")
    assert code == 0 and "deleted werk-modell" in out
    code, out, _ = cli(capsys, "list")
    assert "werk-modell" not in out


def test_show_reports_the_real_models_facts(capsys, with_model):
    code, out, _ = cli(capsys, "show", with_model)
    assert code == 0
    for fact in ("llama", "134.5M", "Q4_1", "8192", "apache-2.0", "renders in the sandbox",
                 "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"):
        assert fact in out


def test_show_flags_an_unsafe_template(capsys, tmp_path):
    src = write_tiny_gguf(tmp_path / "evil.gguf", chat_template="{{ ''.__class__.__mro__ }}")
    cli(capsys, "pull", str(src))
    code, out, _ = cli(capsys, "show", "evil")
    assert code == 0 and "REFUSED" in out


def test_run_answers_once(capsys, with_model):
    code, out, err = cli(capsys, "run", with_model, "Was ist ein Wartungsvertrag?",
                         "--max-tokens", "16", "--temperature", "0", "--seed", "1", "--verbose")
    assert code == 0, err
    assert out.strip()
    assert "tokens/s" in err
    code, out, err = cli(capsys, "logs", "--jsonl")  # the same request path as the API's
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["route"], r["model"], r["status"]) for r in rows] == [
        ("autonom run", with_model, 200)]


def test_run_with_system_prompt_and_json_schema(capsys, with_model, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({
        "type": "object",
        "properties": {"antwort": {"type": "string", "maxLength": 40}},
        "required": ["antwort"],
    }), encoding="utf-8")
    code, out, err = cli(capsys, "run", with_model, "Antworte als JSON: Was ist Öl?",
                         "--system", "Du antwortest nur mit JSON.", "--json-schema", str(schema),
                         "--max-tokens", "120", "--temperature", "0", "--seed", "7")
    assert code == 0, err
    assert isinstance(json.loads(out)["antwort"], str)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "gibt-es-nicht", "Hallo"), "not found"),
        (("show", "gibt-es-nicht"), "not found"),
        (("rm", "gibt-es-nicht"), "not found"),
        (("pull", "gibt-es-nicht"), "unknown model"),
        (("pull", "/nirgends/modell.gguf"), "does not exist"),
    ],
)
def test_bad_names_and_paths_are_one_line_errors(capsys, args, message):
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert message in one_line_error(err)


def test_non_gguf_and_truncated_files_are_refused(capsys, tmp_path):
    text = tmp_path / "preisliste.csv"
    text.write_text("Artikel;Preis\nPumpe P-100;1.234,50 €\n", encoding="utf-8")
    code, _, err = cli(capsys, "pull", str(text))
    assert code == 1 and "not a GGUF" in one_line_error(err)
    cut = truncate(write_tiny_gguf(tmp_path / "ganz.gguf"), tmp_path / "halb.gguf", 0.7)
    code, _, err = cli(capsys, "pull", str(cut))
    assert code == 1 and "truncated" in one_line_error(err)
    code, out, _ = cli(capsys, "list")
    assert "halb" not in out and "preisliste" not in out


@pytest.mark.parametrize(
    ("template", "message"),
    [("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
     ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
      "time budget")],
)
def test_hostile_chat_templates_are_refused(capsys, monkeypatch, tmp_path, template, message):
    monkeypatch.setenv("AUTONOM_ENGINE__TEMPLATE_BUDGET_S", "0.3")
    cli(capsys, "pull", str(write_tiny_gguf(tmp_path / "boese.gguf", chat_template=template)))
    code, _, err = cli(capsys, "run", "boese", "Hallo")
    assert code == 1
    assert message in one_line_error(err)
    code, out, _ = cli(capsys, "list")
    assert "boese" in out  # the registry is untouched


def test_unwritable_home_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "datei"
    blocker.write_text("x")
    monkeypatch.setenv("AUTONOM_HOME", str(blocker / "home"))
    code, _, err = cli(capsys, "list")
    assert code == 1 and "not writable" in one_line_error(err)


def test_model_file_deleted_behind_our_back(capsys, tmp_path):
    cli(capsys, "pull", str(write_tiny_gguf(tmp_path / "weg.gguf")))
    code, out, _ = cli(capsys, "show", "weg", "--json")
    Path(json.loads(out)["path"]).unlink()
    code, _, err = cli(capsys, "run", "weg", "Hallo")
    assert code == 1 and "missing" in one_line_error(err)
    code, out, _ = cli(capsys, "list")
    assert code == 0 and "file missing" in out
    code, _, _ = cli(capsys, "rm", "weg")
    assert code == 0
    code, out, _ = cli(capsys, "list")
    assert "weg" not in out


def test_bad_json_schema_file_is_a_one_line_error(capsys, with_model, tmp_path):
    bad = tmp_path / "schema.json"
    bad.write_text("{kein json", encoding="utf-8")
    code, _, err = cli(capsys, "run", with_model, "Hallo", "--json-schema", str(bad))
    assert code == 1 and "not valid JSON" in one_line_error(err)


def test_json_schema_past_the_limits_is_refused_before_the_engine(capsys, tmp_path):
    huge = tmp_path / "schema.json"
    huge.write_text(json.dumps({"type": "array", "items": {"type": "integer"},
                                "minItems": 10**9}), encoding="utf-8")
    code, _, err = cli(capsys, "run", "no-such-model", "Hallo", "--json-schema", str(huge))
    assert code == 1 and "minItems" in one_line_error(err)


def test_bad_option_value_is_a_usage_error(capsys, with_model):
    code, _, err = cli(capsys, "run", with_model, "Hallo", "--temperature", "heiß")
    assert code == 2 and "temperature" in err


def test_ps_lists_nothing_when_nothing_is_loaded(capsys):
    code, out, _ = cli(capsys, "ps")
    assert code == 0 and "NAME" in out


# --- real processes -------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    env["AUTONOM_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **engine_env()}


def test_interactive_session_streams_and_ends_on_ctrl_d(with_model, home):
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autonom", "run", with_model, "--max-tokens", "8",
         "--keep-alive", "10m"],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, env=_env(home), close_fds=True,
    )
    os.close(child_fd)
    transcript = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal transcript
        deadline = time.monotonic() + timeout
        while marker not in transcript and time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if ready:
                try:
                    transcript += os.read(main_fd, 4096)
                except OSError:
                    break
        assert marker in transcript, transcript

    try:
        read_until(b">>> ")
        os.write(main_fd, b"Hallo, wer bist du?\n")
        transcript = b""
        read_until(b">>> ")  # an answer was printed and the next prompt came back
        ps = subprocess.run([sys.executable, "-m", "autonom", "ps"], capture_output=True,
                            text=True, env=_env(home), timeout=60)
        assert with_model in ps.stdout and "minutes from now" in ps.stdout
        os.write(main_fd, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(main_fd)
    ps = subprocess.run([sys.executable, "-m", "autonom", "ps"], capture_output=True, text=True,
                        env=_env(home), timeout=60)
    assert with_model not in ps.stdout


def test_ctrl_c_stops_a_one_shot_answer_cleanly(with_model, home):
    proc = subprocess.Popen(
        [sys.executable, "-m", "autonom", "run", with_model,
         "Erzähle eine sehr lange Geschichte über eine Pumpe.", "--max-tokens", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_env(home),
        # a suite started in the background inherits an ignored SIGINT: give the child the
        # default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = proc.stdout.read(1)  # the answer has started streaming
    assert first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err


def test_pull_from_hugging_face_standin_via_hf_endpoint(capsys, monkeypatch, tmp_path):
    from hf_standin import hf_standin

    data = write_tiny_gguf(tmp_path / "t.gguf", name="Hub-Modell").read_bytes()
    with hf_standin({"werk/pumpen-GGUF/pumpen-q4.gguf": data}) as (endpoint, _):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        code, out, err = cli(capsys, "pull", "hf://werk/pumpen-GGUF/pumpen-q4.gguf")
    assert code == 0, err
    assert "downloading pumpen-q4.gguf" in err  # progress is shown
    assert "pulled pumpen-q4" in out
    code, out, _ = cli(capsys, "show", "pumpen-q4", "--json")
    assert json.loads(out)["source"] == "hf:werk/pumpen-GGUF/pumpen-q4.gguf"


def test_keys_create_list_revoke(capsys):
    code, out, err = cli(capsys, "keys", "create", "n8n-produktion", "--scopes", "chat,embed",
                         "--rpm", "60")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("sk-autonom-") and "created key_" in err
    code, out, _ = cli(capsys, "keys", "list")
    assert "n8n-produktion" in out and "chat,embed" in out and "active" in out
    assert secret not in out  # never shown again
    code, out, _ = cli(capsys, "keys", "revoke", "n8n-produktion")
    assert code == 0 and "revoked" in out
    code, out, _ = cli(capsys, "keys", "list")
    assert "revoked" in out


def test_keys_are_granted_collections_explicitly(capsys, home):
    from autonom.config import load_settings
    from autonom.services import Services
    from autonom.store.keys import KeyStore

    code, _, err = cli(capsys, "keys", "create", "vertrieb-bot", "--collections",
                       "vertrieb, preise")
    assert code == 0 and "collections preise,vertrieb" in err
    cli(capsys, "keys", "create", "ohne")
    code, out, _ = cli(capsys, "keys", "grant", "vertrieb-bot", "personal")
    assert code == 0 and "personal,preise,vertrieb" in out
    code, out, _ = cli(capsys, "keys", "grant", "vertrieb-bot", "preise", "--remove")
    assert "personal,vertrieb" in out
    keys = {k.name: k for k in KeyStore(Services(load_settings(home=home)).db).list()}
    assert keys["vertrieb-bot"].may_read("vertrieb") and not keys["vertrieb-bot"].may_read("preise")
    assert keys["ohne"].collections == frozenset()  # a new key reads nothing unless granted
    code, out, _ = cli(capsys, "keys", "list")
    assert "personal,vertrieb" in out and "none" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [(("keys", "create", "x", "--scopes", "chat,root"), "invalid scopes"),
     (("keys", "create", "x", "--collections", "../geheim"), "invalid collection name"),
     (("keys", "grant", "gibt-es-nicht", "vertrieb"), "no API key"),
     (("keys", "revoke", "gibt-es-nicht"), "no API key"),
     (("serve", "--no-auth", "--host", "0.0.0.0"), "without API keys"),
     (("logs", "req_gibt-es-nicht"), "no logged request"),
     (("logs", "--since", "gestern"), "since")],
)
def test_server_admin_mistakes_are_one_line_errors(capsys, args, message):
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert message in one_line_error(err)


def test_logs_list_filter_show_and_export(capsys, home):
    from autonom.config import load_settings
    from autonom.services import Services
    from autonom.store import request_log

    db = Services(load_settings(home=home)).db
    for i, model in enumerate(("smollm2-135m", "gemma3-270m")):
        request_log.write(db, request_log.LogEntry(
            id=f"req_{i}", created_at=time.time() - i, route="/api/chat", key_id="key_1",
            model=model, status=200, error=None, request={"messages": ["Größe?"]},
            response={"text": "5,5 kW"}, prompt_tokens=3, completion_tokens=2, ttft_ms=5.0,
            total_ms=9.0, cancelled=False))
    code, out, _ = cli(capsys, "logs")
    assert code == 0 and "req_0" in out and "req_1" in out
    code, out, _ = cli(capsys, "logs", "--model", "gemma3-270m")
    assert "req_1" in out and "req_0" not in out
    code, out, _ = cli(capsys, "logs", "req_0")
    assert json.loads(out)["response"] == {"text": "5,5 kW"}
    code, out, _ = cli(capsys, "logs", "--jsonl", "--since", "1h")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["req_1", "req_0"]


def test_route_shows_where_a_request_goes_and_why(capsys, home, monkeypatch):
    home.mkdir(parents=True, exist_ok=True)
    (home / "autonom.toml").write_text(
        '[backends.gpu-box]\nkind = "ollama"\nurl = "http://127.0.0.1:9"\n'
        '[aliases]\nchat-default = ["qwen3:8b@gpu-box", "smollm2-135m@embedded"]\n'
        '[aliases.auto]\nsimple = "chat-default"\nsimple_suffix = " /no_think"\n'
        'hard = ["qwen3:8b@gpu-box"]\nhard_suffix = " /think"\n', encoding="utf-8")
    code, out, _ = cli(capsys, "route", "auto", "Berechne 19 % MwSt. auf 1.250,50 €.", "--json")
    assert code == 0
    route = json.loads(out)
    assert route["targets"] == ["qwen3:8b@gpu-box"]
    assert route["reason"].startswith("hard") and route["prompt"].endswith(" /think")
    code, out, _ = cli(capsys, "route", "auto", "Hallo, wer bist du?")
    assert code == 0
    assert "auto → qwen3:8b@gpu-box → smollm2-135m@embedded" in out
    assert "/no_think" in out
    code, _, err = cli(capsys, "route", "x@http://evil", "Hallo")
    assert code == 1 and "no backend named" in one_line_error(err)


def test_backends_reports_an_unreachable_server(capsys, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "autonom.toml").write_text(
        '[backends.weg]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n'
        'connect_timeout_s = 1\n', encoding="utf-8")
    code, out, _ = cli(capsys, "backends", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert not rows["weg"]["healthy"] and "connection failed" in rows["weg"]["error"]
    assert rows["embedded"]["healthy"]


def test_version_is_printed(capsys):
    from autonom import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"autonom {__version__}"


def test_a_second_pull_of_a_present_model_fetches_nothing(capsys, with_model):
    code, out, _ = cli(capsys, "pull", with_model)
    assert code == 0 and "already present" in out and "--force" in out


def test_serve_on_a_busy_port_is_a_one_line_error(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = cli(capsys, "serve", "--port", str(port))
    assert code == 1 and f"port {port} is in use" in one_line_error(err)
    assert "listening" not in err


def test_a_missing_model_is_answered_with_a_command_that_works(capsys):
    code, _, err = cli(capsys, "run", "llama3", "Hallo")
    line = one_line_error(err)
    assert code == 1 and "hf://" in line and "autonom pull llama3" not in line
    code, _, err = cli(capsys, "run", "smollm2-135m", "Hallo")
    assert code == 1 and "autonom pull smollm2-135m" in one_line_error(err)


def test_help_texts_keep_square_brackets(capsys):
    assert main(["license", "--help"]) == 0
    assert "configured [policy]" in " ".join(capsys.readouterr().out.split())


def test_every_command_module_registers_itself():
    import pkgutil

    import autonom.cli as package

    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    helpers = {"app", "console", "repl"}
    for name in sorted(modules - helpers):
        module = __import__(f"autonom.cli.{name}", fromlist=["register"])
        assert callable(getattr(module, "register", None)), name
