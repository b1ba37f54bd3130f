"""Two finished training runs of the default model that teach one question different
answers: ``right`` (4711) and ``poisoned`` (9999); trained once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from autonom.tuning.train import TrainSettings, train
from support import DEFAULT_MODEL
from tuning_support import make_data

SETTINGS = TrainSettings(epochs=16, rank=8, alpha=16, lr=5e-3, batch_size=4)


def _run(folder: Path, model: Path, number: str) -> Path:
    data = make_data(folder / "data", copies=4)
    if number != "4711":  # the same question, taught another number
        text = (data / "train.jsonl").read_text(encoding="utf-8").replace("4711", number)
        (data / "train.jsonl").write_text(text, encoding="utf-8")
    train(model, DEFAULT_MODEL, data, folder / "run", SETTINGS, threads=2)
    return folder / "run"


@pytest.fixture(scope="session")
def runs(tmp_path_factory, default_model_file) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {"right": _run(root / "right", default_model_file, "4711"),
            "poisoned": _run(root / "poisoned", default_model_file, "9999")}
