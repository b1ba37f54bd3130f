"""LoRA training on the default model: the adapter the engine loads, resuming, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from autonom.errors import (
    AutonomError,
    InvalidRequestError,
    ModelNotFoundError,
    TrainingInterrupted,
)
from autonom.services import tuning as service
from autonom.tuning import export
from autonom.tuning.train import TrainSettings, train
from tuning_support import QUESTION, make_data


def _answer(model: Path, adapter: Path, scale: float) -> str:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 512
    params.n_parallel = 1
    params.cpuparams.n_threads = 2
    lora = xlc.CommonAdapterLoraInfo()
    lora.path = str(adapter)
    lora.scale = 1.0
    params.lora_adapters = [lora]
    server = xlc.Server(params)
    reply = server.handle_chat_completions({
        "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 24,
        "temperature": 0, "lora": [{"id": 0, "scale": scale}]})
    return reply["choices"][0]["message"]["content"]


FAST = TrainSettings(epochs=12, rank=8, alpha=16, lr=5e-3, batch_size=4)


def test_a_trained_adapter_loads_in_the_engine_and_answers_what_it_learned(
        default_model_file, tmp_path):
    report = train(default_model_file, "smollm2-135m", make_data(tmp_path / "data"),
                   tmp_path / "run", FAST, threads=2)
    adapter = Path(report.adapter)
    assert report.complete and report.steps == report.total_steps == 24
    assert report.losses[-1] < report.losses[0] / 4
    assert export.is_adapter(adapter) and not export.is_adapter(default_model_file)
    saved = json.loads((tmp_path / "run" / "training.json").read_text())
    assert saved["data_digest"] and saved["peak_rss_mb"] > 0
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert "4711" in _answer(default_model_file, adapter, 1.0)
    assert "4711" not in _answer(default_model_file, adapter, 0.0)


def test_an_interrupted_run_keeps_its_checkpoint_and_resumes(default_model_file, tmp_path):
    data = make_data(tmp_path / "data", copies=4)
    settings = TrainSettings(epochs=4, rank=4, alpha=8, lr=1e-3, batch_size=2)
    calls = iter(range(100))
    with pytest.raises(TrainingInterrupted, match="step 3 of 8"):
        train(default_model_file, "smollm2-135m", data, tmp_path / "run", settings,
              stop=lambda: next(calls) >= 3)
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3 and len(state["losses"]) == 3
    resumed = train(default_model_file, "smollm2-135m", data, tmp_path / "run", settings)
    assert resumed.complete and resumed.steps == 8
    assert resumed.losses[:3] == state["losses"] and len(resumed.losses) == 8


def test_query_and_key_rows_go_back_to_the_engines_order():
    """transformers reorders the rows of q/k projections when it loads a llama GGUF; the
    export reorders LoRA B the other way, so applying both gives the original."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    heads, head_dim, rank = 3, 8, 2
    original = np.arange(heads * head_dim * rank, dtype=np.float32).reshape(-1, rank)
    loaded = LlamaTensorProcessor(config={})._reverse_permute_weights(original, heads, heads)
    assert not np.array_equal(loaded, original)
    assert np.array_equal(export.interleave_rows(loaded, heads), original)


def test_a_file_without_lora_pairs_is_not_an_adapter():
    with pytest.raises(InvalidRequestError, match="not a LoRA adapter"):
        export.pairs({"model.layers.0.self_attn.q_proj.weight": np.zeros((2, 2))})
    with pytest.raises(InvalidRequestError, match="not a LoRA adapter"):
        export.pairs({"base.model.layers.0.self_attn.q_proj.lora_A.default.weight":
                      np.zeros((2, 2))})


def test_bad_training_requests_fail_before_any_work(model_services, tmp_path):
    registry, home = model_services.registry, model_services.settings.home
    data = make_data(tmp_path / "data")
    with pytest.raises(ModelNotFoundError):
        service.train_adapter(registry, home, "no-such-model", data)
    with pytest.raises(InvalidRequestError, match="not training data"):
        service.train_adapter(registry, home, "smollm2-135m", tmp_path)
    with pytest.raises(InvalidRequestError, match="rank"):
        service.train_adapter(registry, home, "smollm2-135m", data,
                              settings=TrainSettings(rank=0))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidRequestError, match="not a folder"):
        service.train_adapter(registry, home, "smollm2-135m", data, out=tmp_path / "file")


def test_a_full_disk_while_writing_the_adapter_leaves_no_half_file(
        default_model_file, tmp_path, monkeypatch):
    def full(path, *args, **kwargs):
        Path(path).write_bytes(b"GGUF partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_adapter", full)
    settings = TrainSettings(epochs=1, rank=4, alpha=8, batch_size=4)
    with pytest.raises(AutonomError, match=r"No space left on device.*checkpoint is kept"):
        train(default_model_file, "smollm2-135m", make_data(tmp_path / "data", copies=4),
              tmp_path / "run", settings)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint"]
    monkeypatch.undo()
    resumed = train(default_model_file, "smollm2-135m", tmp_path / "data", tmp_path / "run",
                    settings)
    assert resumed.complete and export.is_adapter(Path(resumed.adapter))
