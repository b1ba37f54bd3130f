"""What every front door calls to tune: where data and runs live, which base model, limits.

Training data goes to ``HOME/tuning/data/COLLECTION`` and each training run to
``HOME/tuning/runs/RUN`` unless a folder is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autonom.errors import InvalidRequestError
from autonom.models.registry import Registry
from autonom.store.documents import DocumentStore
from autonom.tuning import data as tune_data
from autonom.tuning.train import Report, TrainReport, TrainSettings, train


def tuning_dir(home: Path) -> Path:
    return home / "tuning"


def make_data(store: DocumentStore, home: Path, collection: str, out: Path | None = None,
              test_share: float = tune_data.TEST_SHARE) -> tuple[Path, dict[str, Any],
                                                                tune_data.TuneData]:
    """Builds and writes the training data of a collection; returns folder, manifest, data."""
    data = tune_data.build(store, collection, test_share=test_share)
    folder = out or tuning_dir(home) / "data" / collection
    _check_writable(folder)
    return folder, tune_data.write(data, folder), data


def train_adapter(registry: Registry, home: Path, base: str, data_dir: Path,
                  out: Path | None = None, settings: TrainSettings | None = None,
                  progress: Report | None = None, threads: int | None = None,
                  stop: Callable[[], bool] | None = None) -> TrainReport:
    """LoRA-trains the store's model ``base`` on ``data_dir``; the adapter lands in ``out``."""
    settings = settings or TrainSettings()
    settings.check()
    tune_data.read_manifest(data_dir)  # refuses a folder that is not training data, early
    record = registry.resolve(base)
    folder = out or tuning_dir(home) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    _check_writable(folder)
    return train(record.path, record.name, data_dir, folder, settings, progress=progress,
                 threads=threads, stop=stop)


def _check_writable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InvalidRequestError(f"{folder} exists and is not a folder")
