"""The licence policy against the catalog's licence facts: table-driven cases, and the
checks on pull and on serve (a real server process refusing a model with 403)."""

from __future__ import annotations

import httpx
import pytest

from autonom.catalog.policy import Gate, decide, in_region
from autonom.cli import main
from autonom.config import PolicySettings
from autonom.errors import PolicyError
from gguf_maker import write_tiny_gguf
from server_support import prepare_home, start_server, stop_server

COMPANY = {"commercial": True, "monthly_active_users": 20_000,
           "annual_revenue_usd": 5_000_000, "region": "US"}

CASES = [
    # (model, policy changes, violated terms, flagged terms)
    ("command-r7b", {}, {"commercial"}, set()),
    ("command-r-plus", {}, {"commercial"}, set()),
    ("command-r7b", {"commercial": False}, set(), set()),
    ("ministral-8b-2410", {}, {"commercial"}, set()),
    ("llama4-scout", {"monthly_active_users": 800_000_000}, {"mau_cap"}, set()),
    ("llama4-maverick", {"monthly_active_users": 700_000_000}, set(), set()),
    ("llama4-scout", {"region": "DE"}, {"region"}, set()),
    ("llama4-scout", {"region": "EU"}, {"region"}, set()),
    ("llama4-scout", {"region": None}, set(), {"region"}),
    ("llama4-scout", {"monthly_active_users": None}, set(), {"mau_cap"}),
    ("deepseek-v3.2", {}, set(), {"revenue"}),
    ("deepseek-v3.2", {"annual_revenue_usd": 500_000}, set(), set()),
    ("stablelm2-1.6b", {}, {"revenue"}, set()),
    ("stablelm2-1.6b", {"annual_revenue_usd": 900_000}, set(), set()),
    ("stablelm2-1.6b", {"annual_revenue_usd": None}, set(), {"revenue"}),
    ("qwen3-30b-a3b", {"region": "DE"}, set(), set()),
    ("gemma3-27b", {"region": "DE"}, set(), set()),
    ("mixtral-8x7b", {}, set(), set()),
    ("starcoder2-15b", {}, set(), set()),
    ("phi-4", {}, set(), set()),
    ("falcon3-7b", {}, set(), set()),
    ("yi-1.5-34b", {}, set(), set()),
    ("smollm2-135m", {}, set(), set()),
]


@pytest.mark.parametrize(("model", "changes", "violated", "flagged"), CASES)
def test_licence_terms_against_the_policy(model, changes, violated, flagged):
    policy = PolicySettings(**{**COMPANY, **changes})
    decision = decide(model, policy)
    assert {f.term for f in decision.violations} == violated
    assert {f.term for f in decision.flags} == flagged
    refuse = policy.model_copy(update={"on_violation": "refuse"})
    assert decision.refused(refuse) == bool(violated)
    assert not decision.refused(policy)  # warn is the default


def test_duties_are_listed_and_a_separate_agreement_lifts_a_refusal():
    policy = PolicySettings(**COMPANY, on_violation="refuse")
    scout = decide("llama4-scout", policy)
    assert any("Built with Llama" in f.message for f in scout.findings if f.level == "duty")
    assert decide("command-r7b", policy).refused(policy)
    agreed = policy.model_copy(update={"allow": ["command-r7b"]})
    assert not decide("command-r7b", agreed).refused(agreed)
    # Ollama tags and hf:// sources find the same catalog entry
    assert decide("command-r7b:latest", policy).facts.id == "command-r7b"
    assert decide("hf://Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q8_0.gguf", policy).facts.id == "qwen3-8b"


def test_unknown_licences_are_flagged_and_gguf_metadata_is_used():
    policy = PolicySettings(**COMPANY, on_violation="refuse")
    unknown = decide("mein-modell", policy)
    assert unknown.license is None and [f.term for f in unknown.flags] == ["unknown"]
    assert not unknown.refused(policy)
    from_file = decide("mein-modell", policy, "cc-by-nc-4.0")
    assert from_file.refused(policy)


def test_eu_membership_and_the_gate_warns_once():
    assert in_region("de", ["EU"]) and in_region("EU", ["EU"])
    assert in_region("CH", ["EU"]) is False and in_region(None, ["EU"]) is None
    seen: list[str] = []
    gate = Gate(PolicySettings(**COMPANY), warn=seen.append)
    gate.check("command-r7b")
    gate.check("command-r7b")
    assert len(seen) == 1 and "non" in seen[0].lower()
    strict = Gate(PolicySettings(**COMPANY, on_violation="refuse"))
    with pytest.raises(PolicyError, match=r"policy\.allow"):
        strict.check("command-r7b")


def test_pull_refuses_a_non_commercial_model_and_keeps_the_store_clean(tmp_path, monkeypatch,
                                                                       capsys):
    gguf = write_tiny_gguf(tmp_path / "nc.gguf", license="cc-by-nc-4.0")
    monkeypatch.setenv("AUTONOM_POLICY__ON_VIOLATION", "refuse")
    assert main(["pull", str(gguf), "--name", "nc-modell"]) == 1
    assert "does not allow commercial use" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "nc-modell" not in capsys.readouterr().out
    # a catalog model is refused before anything is downloaded
    assert main(["pull", "command-r7b"]) == 1
    assert "licence policy refuses" in capsys.readouterr().err
    monkeypatch.setenv("AUTONOM_POLICY__ON_VIOLATION", "warn")
    assert main(["pull", str(gguf), "--name", "nc-modell"]) == 0
    captured = capsys.readouterr()
    assert "warning: licence policy" in captured.err and "nc-modell" in captured.out


def test_license_command_explains_the_terms(capsys):
    assert main(["license", "llama4-scout"]) == 0
    out = capsys.readouterr().out
    assert "700,000,000" in out and "Built with Llama" in out and "EU" in out
    assert main(["license", "command-r7b", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["catalog_id"] == "command-r7b" and data["license"]["commercial"] is False


def test_serve_refuses_a_model_the_policy_forbids(tmp_path, default_model_file):
    home = tmp_path / "home"
    keys = prepare_home(home, default_model_file)
    from autonom.config import Settings
    from autonom.models.pull import pull
    from autonom.services import Services

    services = Services(Settings(home=home))
    pull(str(write_tiny_gguf(tmp_path / "nc.gguf", license="cc-by-nc-4.0")),
         services.registry, services.settings, name="nc-modell")
    services.close()
    process, url = start_server(home, {"AUTONOM_POLICY__ON_VIOLATION": "refuse"})
    try:
        headers = {"Authorization": f"Bearer {keys['all']}"}
        body = {"model": "nc-modell", "messages": [{"role": "user", "content": "Hallo"}]}
        refused = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers,
                             timeout=60)
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"
        assert "commercial" in refused.json()["error"]["message"]
        ollama = httpx.post(f"{url}/api/chat", json={**body, "stream": False},
                            headers=headers, timeout=60)
        assert ollama.status_code == 403 and "error" in ollama.json()
        allowed = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=120,
                             json={**body, "model": "smollm2-135m", "max_tokens": 8})
        assert allowed.status_code == 200
    finally:
        stop_server(process)
