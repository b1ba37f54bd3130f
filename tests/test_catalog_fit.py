"""Memory and speed estimates against numbers computed by hand from the catalog's facts."""

import pytest

from autonom.catalog import fit
from autonom.catalog.catalog import get, load
from autonom.errors import InvalidRequestError


def test_every_catalog_entry_is_complete_and_names_its_source():
    ids = [m.id for m in load()]
    assert len(ids) == len(set(ids))
    for model in load():
        assert model.source.facts
        assert (model.active_params_b is None) == (model.experts is None), model.id


def test_moe_weights_count_every_expert_but_decode_reads_only_the_active_ones():
    qwen = get("qwen3-30b-a3b")
    # 30.5e9 parameters × 4.85 bits / 8 = 18.49 GB in memory
    assert fit.estimate(qwen, "Q4_K_M", 4096).weights_gb == pytest.approx(18.490625)
    # per token only 3.3e9 × 4.85 / 8 = 2.000625 GB are read: at 100 GB/s × 0.7 → 35 tok/s
    assert fit.decode_tokens_per_s(qwen, "Q4_K_M", 100, cpu=False) == pytest.approx(70 / 2.000625)
    # on a CPU the engine adds 0.1 ms per layer and token: 1 / (2.000625/70 + 48 × 0.0001)
    assert fit.decode_tokens_per_s(qwen, "Q4_K_M", 100) == pytest.approx(
        1 / (2.000625 / 70 + 0.0048))


def test_qwen3_30b_a3b_kv_cache_uses_its_four_kv_heads():
    qwen = get("qwen3-30b-a3b")
    # 48 layers × 2 (K and V) × 4 kv heads × 128 dims × 2 bytes = 98,304 bytes per token
    assert fit.kv_bytes(qwen, 1) == 98_304
    # full 32k context, 2 slots: 98,304 × 32,768 × 2 = 6.44 GB
    assert fit.estimate(qwen, "Q8_0", slots=2).kv_gb == pytest.approx(6.442450944)


def test_llama4_scout_keeps_only_a_chunk_in_its_local_layers():
    scout = get("llama4-scout")
    assert fit.layer_split(scout) == (12, 36)
    per_layer_token = 2 * 8 * 128 * 2  # 4,096 bytes
    # 131,072 tokens: 12 global layers hold all of them, 36 chunked layers 8,192
    expected = per_layer_token * (12 * 131_072 + 36 * 8_192)
    assert fit.kv_bytes(scout, 131_072) == expected  # 7.65 GB instead of 25.8 GB
    # weights: all 109e9 parameters at Q4_K_M = 66.08 GB; decode reads 17e9 → 10.31 GB
    estimate = fit.estimate(scout, "Q4_K_M", 8192)
    assert estimate.weights_gb == pytest.approx(66.08125)
    assert fit.decode_tokens_per_s(scout, "Q4_K_M", 3350, cpu=False) == pytest.approx(
        0.7 * 3350e9 / (17e9 * 4.85 / 8))


def test_deepseek_v32_latent_attention_caches_576_values_per_layer():
    deepseek = get("deepseek-v3.2")
    # 61 layers × (512 + 64) × 2 bytes = 70,272 bytes per token; full 163,840 → 11.51 GB
    assert fit.kv_bytes(deepseek, 1) == 70_272
    assert fit.estimate(deepseek, "Q4_K_M").kv_gb == pytest.approx(70_272 * 163_840 / 1e9)
    # weights 671e9 × 4.85 / 8 = 406.8 GB: fits in 8 × 80 GB; at F16 (1,342 GB) it does not
    assert fit.estimate(deepseek, "Q4_K_M", 8192).memory_gb < 8 * 80
    assert fit.estimate(deepseek, "F16", 8192).memory_gb > 8 * 80


def test_gemma3_sliding_window_layers_hold_512_tokens():
    gemma = get("gemma3-270m")
    assert fit.layer_split(gemma) == (3, 15)
    # 1 kv head × 256 dims × 2 × 2 bytes = 1,024 bytes per layer and token
    assert fit.kv_bytes(gemma, 32_768) == 1_024 * (3 * 32_768 + 15 * 512)


def test_unknown_quantization_is_a_clear_error():
    with pytest.raises(InvalidRequestError, match="unknown quantization"):
        fit.estimate(get("smollm2-135m"), "Q3_X")


def test_qwen3_30b_a3b_runs_from_ram_on_a_cpu_box_at_moe_speed():
    qwen = get("qwen3-30b-a3b")
    verdict = fit.judge(qwen, "Q4_K_M", fit.Hardware(ram_gb=32, cpu_bandwidth_gbs=50),
                        context=8192)
    # 18.49 GB weights + 0.81 GB KV + (0.1 + 5 %) 1.02 GB overhead = 20.3 GB ≤ 0.85 × 32 GB
    assert verdict.fits == "ram"
    assert verdict.estimate.memory_gb == pytest.approx(18.490625 + 0.805306368 + 1.02453125)
    # decode reads only the 3.3B active parameters: 0.7 × 50 / 2.000625 ≈ 17.5 tok/s, less
    # 48 layers × 0.1 ms of thread synchronisation → 14.1 tok/s
    assert verdict.decode_tok_s == pytest.approx(1 / (2.000625 / 35 + 0.0048))


def test_a_24gb_gpu_box_splits_llama4_scout_and_an_8xh100_node_holds_it():
    scout = get("llama4-scout")
    box = fit.judge(scout, "Q4_K_M", fit.Hardware(ram_gb=128, cpu_bandwidth_gbs=60, vram_gb=24,
                                                  gpu_bandwidth_gbs=1000), context=8192)
    assert box.fits == "partial" and 0 < box.gpu_layers < scout.layers
    node = fit.judge(scout, "Q8_0", fit.Hardware(ram_gb=2000, cpu_bandwidth_gbs=300,
                                                 vram_gb=8 * 80, gpu_bandwidth_gbs=3350),
                     context=131_072)
    assert node.fits == "vram"
    assert fit.judge(get("deepseek-v3.2"), "F16", fit.Hardware(24, 20)).fits == "no"


def test_fit_json_has_the_documented_keys():
    verdict = fit.judge(get("smollm2-135m"), "Q8_0", fit.Hardware(24, 18))
    assert {"model", "quant", "memory_gb", "fits", "decode_tok_s"} <= set(verdict.to_json())
    assert verdict.to_json()["fits"] == "ram"


def test_fit_cli_prints_json_for_a_described_machine(capsys):
    import json

    from autonom.cli import main

    assert main(["fit", "--ram", "22", "--bandwidth", "20", "--quant", "Q4_K_M", "--json"]) == 0
    entries = {e["model"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["smollm2-135m"]["fits"] == "ram"
    assert entries["deepseek-v3.2"]["fits"] == "no"
    # 18.5 + 0.8 + 1.0 = 20.3 GB needed, 0.85 × 22 = 18.7 GB usable: does not fit
    assert entries["qwen3-30b-a3b"]["fits"] == "no"
    assert {"model", "quant", "memory_gb", "fits", "decode_tok_s"} <= set(entries["qwen3-8b"])
    assert main(["fit", "--ram", "-1"]) == 1


def test_the_catalog_covers_every_family_and_variant_users_ask_about():
    ids = {m.id for m in load()}
    wanted = {"llama4-scout", "llama4-maverick", "ministral3-3b", "ministral-8b-2410",
              "mistral-nemo-12b", "mixtral-8x7b", "falcon3-1b", "falcon3-3b", "falcon3-7b",
              "falcon3-10b", "falcon3-mamba-7b", "gemma3-270m", "gemma3-1b", "gemma3-4b",
              "gemma3-12b", "gemma3-27b", "phi-4", "phi-4-mini", "command-r7b", "command-r",
              "command-r-plus", "stablelm2-1.6b", "starcoder2-3b", "starcoder2-7b",
              "starcoder2-15b", "yi-1.5-6b", "yi-1.5-9b", "yi-1.5-34b", "qwen3-0.6b",
              "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b", "qwen3-30b-a3b",
              "qwen3-235b-a22b", "deepseek-v3.2", "smollm2-135m", "smollm2-360m",
              "smollm2-1.7b"}
    assert wanted <= ids
    for model in load():
        assert model.languages and model.modalities and model.get.hf, model.id
        # only what autonom checked against a file it has is marked verified
        assert model.source.verified == (model.get.autonom is not None), model.id


def test_a_mamba_model_holds_a_fixed_state_instead_of_a_kv_cache():
    mamba = get("falcon3-mamba-7b")
    # 64 layers × 8192 × (16 + 4) × 4 bytes = 41.9 MB per sequence, whatever the context
    assert fit.kv_bytes(mamba, 1) == fit.kv_bytes(mamba, 32_768) == 64 * 8192 * 20 * 4


def test_command_r7b_keeps_three_of_four_layers_in_a_4096_token_window():
    r7b = get("command-r7b")
    assert fit.layer_split(r7b) == (8, 24)
    assert fit.kv_bytes(r7b, 131_072) == 2 * 8 * 128 * 2 * (8 * 131_072 + 24 * 4096)


def test_prompt_flops_leave_out_the_embedding_lookup_and_add_attention():
    qwen = get("qwen3-8b")
    dense = 2 * (8.2e9 - 151_936 * 4096)
    # 36 layers see 256 tokens on average in a 512-token prompt: 4 × 32 × 128 × 36 × 256
    assert fit.prompt_flops(qwen, 512) == pytest.approx(dense + 4 * 32 * 128 * 36 * 256)


def test_fit_reads_a_local_gguf_file_own_metadata(default_model_file, capsys):
    import json

    from autonom.cli import main

    assert main(["fit", str(default_model_file), "--ram", "24", "--bandwidth", "20",
                 "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    size = default_model_file.stat().st_size
    assert entry["quant"] == "Q4_1"  # the file's own quantization
    assert entry["weights_gb"] == pytest.approx(size / 1e9, abs=0.01)
    # 30 layers × 2 × 3 kv heads × 64 × 2 bytes × 8192 tokens
    assert entry["kv_gb"] == pytest.approx(30 * 2 * 3 * 64 * 2 * 8192 / 1e9, abs=0.01)
    assert entry["fits"] == "ram" and entry["decode_tok_s"] > 0


def test_fit_counts_the_ram_share_the_engine_may_use(tmp_path):
    """One number for both: a model that needs 82 % of RAM does not fit, because the engine
    would refuse to load it past its budget (80 % unless memory_budget_mb says otherwise)."""
    import psutil

    from autonom.config import MEMORY_SHARE, Settings

    model = get("qwen3-30b-a3b")
    need = fit.estimate(model, "Q4_K_M").memory_gb
    assert fit.judge(model, "Q4_K_M", fit.Hardware(need / 0.82, 50)).fits == "no"
    assert fit.judge(model, "Q4_K_M", fit.Hardware(need / 0.78, 50)).fits == "ram"
    total = psutil.virtual_memory().total
    assert Settings(home=tmp_path).memory_budget_bytes() == int(total * MEMORY_SHARE)
    assert Settings(home=tmp_path, memory_budget_mb=512).memory_budget_bytes() == 512 * 2**20
