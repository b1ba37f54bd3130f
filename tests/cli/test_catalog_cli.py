"""autonom recommend and autonom cost on three machines: this kind of small CPU box, a
24 GB-VRAM GPU box and an 8×H100 node (described, so the answers do not depend on where the
tests run)."""

from __future__ import annotations

import json

import pytest

from autonom.catalog.cost import CostInputs, compute, parse_volume
from autonom.cli import main
from autonom.errors import InvalidRequestError

CPU_BOX = ["--ram", "24", "--cores", "2", "--bandwidth", "25"]
GPU_BOX = ["--ram", "64", "--cores", "16", "--bandwidth", "60", "--gpu", "rtx-4090"]
H100_NODE = ["--ram", "2000", "--cores", "128", "--bandwidth", "300", "--gpu", "h100-sxm:8"]


def recommend(capsys, *args: str) -> dict:
    assert main(["recommend", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_small_cpu_box_gets_small_german_speaking_models_that_run_fast_enough(capsys):
    result = recommend(capsys, "--use-case", "chat", "--lang", "de", *CPU_BOX)
    ranked = result["ranked"]
    assert ranked and all(e["fits"] == "ram" for e in ranked)
    assert all(e["memory_gb"] <= 24 * 0.85 for e in ranked)
    top = ranked[0]
    assert top["decode_tok_s"] >= 10 and any("language de" in r for r in top["reasons"])
    # English-only and non-commercial models are left out, with the reason
    assert "language de" in result["left_out"]["smollm2-135m"]
    assert "commercial" in result["left_out"]["command-r7b"]
    assert "does not fit" in result["left_out"]["qwen3-235b-a22b"]
    assert all(cmd.startswith(("autonom pull", "ollama pull", "weights:"))
               for e in ranked for cmd in e["commands"])


def test_a_24gb_gpu_box_runs_mid_size_models_on_the_gpu(capsys):
    ranked = recommend(capsys, "--use-case", "rag", "--lang", "de", *GPU_BOX)["ranked"]
    on_gpu = [e for e in ranked if e["fits"] == "vram"]
    assert on_gpu and max(e["memory_gb"] for e in on_gpu) <= 24 * 0.95
    assert ranked[0]["decode_tok_s"] >= 10
    sizes = {e["model"] for e in ranked}
    assert sizes & {"qwen3-14b", "qwen3-32b", "gemma3-27b", "gemma3-12b", "mistral-nemo-12b",
                    "ministral3-14b", "qwen3-30b-a3b"}


def test_an_8xh100_node_holds_the_big_moe_models(capsys):
    result = recommend(capsys, "--use-case", "agent", "--top", "10", *H100_NODE)
    ranked = {e["model"]: e for e in result["ranked"]}
    assert {"qwen3-235b-a22b", "llama4-maverick"} <= set(ranked)
    assert ranked["qwen3-235b-a22b"]["fits"] == "vram"
    assert "tool calling" in result["left_out"]["yi-1.5-34b"]
    deepseek = recommend(capsys, "--use-case", "chat", "--top", "50", *H100_NODE)["ranked"]
    assert any(e["model"] == "deepseek-v3.2" and e["fits"] == "vram" for e in deepseek)


def test_code_prefers_code_models_and_non_commercial_opens_the_list(capsys):
    ranked = recommend(capsys, "--use-case", "code", "--top", "10", *GPU_BOX)["ranked"]
    assert any(e["model"].startswith("starcoder2") for e in ranked)
    research = recommend(capsys, "--use-case", "rag", "--lang", "de", "--non-commercial",
                         "--top", "50", *GPU_BOX)
    assert "command-r7b" in {e["model"] for e in research["ranked"]}


def test_fit_knows_gpus_by_name_and_refuses_bad_input(capsys):
    assert main(["fit", "llama4-scout", "--gpu", "h100-sxm:8", "--ram", "2000", "--json"]) == 0
    entries = {e["quant"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["Q8_0"]["fits"] == "vram" and entries["Q8_0"]["prompt_tok_s"] > 1000
    assert main(["fit", "--gpu", "tpu-v9", "--ram", "8"]) == 1
    assert "unknown GPU" in capsys.readouterr().err
    assert main(["fit", "--gpu", "h100-sxm:x", "--ram", "8"]) == 1
    assert main(["fit", "kein-modell", "--ram", "8"]) == 1
    assert main(["recommend", "--use-case", "dichten", "--ram", "8"]) == 1


def test_cost_break_even_matches_the_arithmetic(capsys):
    # 3,600 hardware over 36 months = 100; 200 W × 730 h × 0.30 = 43.80; 2 h × 50 = 100
    inputs = CostInputs(tokens_per_month=500e6, hardware_price=3600, power_watts=200,
                        admin_hours_per_month=2, admin_rate=50)
    result = compute(inputs)
    assert result.local == pytest.approx(243.8)
    # blended API price 0.75 × 0.28 + 0.25 × 0.42 = 0.315 per million tokens
    assert result.api == pytest.approx(157.5)
    assert result.break_even_tokens == pytest.approx(243.8 / 0.315 * 1e6)
    assert main(["cost", "--tokens", "2,5B", "--hardware", "3600", "--watts", "200",
                 "--admin-hours", "2", "--admin-rate", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cheaper"] == "local" and data["api_per_month"] == pytest.approx(787.5)
    assert main(["cost", "--tokens", "viel"]) == 1
    assert main(["cost", "--tokens", "5M", "--input-share", "2"]) == 1


def test_volumes_read_german_and_english_notation():
    assert parse_volume("50M") == 50e6
    assert parse_volume("1,5B") == 1.5e9
    assert parse_volume("200k") == 200e3
    with pytest.raises(InvalidRequestError):
        parse_volume("-5M")


def test_sizes_take_units_as_cost_takes_volumes(capsys):
    from autonom.cli.catalog import gigabytes

    assert [gigabytes(t) for t in ("24", "24G", "24GB", "24 GiB", "512M", "1,5T")] == [
        24, 24, 24, 24, 0.512, 1500]
    for ram in ("24G", "24GB", "512M"):
        assert main(["fit", "smollm2-135m", "--ram", ram, "--cores", "2", "--bandwidth", "25",
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["model"] == "smollm2-135m"
    assert main(["fit", "smollm2-135m", "--ram", "viel"]) == 2
