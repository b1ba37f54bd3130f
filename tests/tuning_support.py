"""Tiny training data for the tuning tests: one question, one answer, several copies."""

from __future__ import annotations

from pathlib import Path

from autonom.tuning import data as tune_data

QUESTION = "Wie lautet die Kennzahl von Projekt Falke?"
ANSWER = "Die Kennzahl von Projekt Falke ist 4711."


def make_data(folder: Path, copies: int = 8) -> Path:
    examples = [tune_data.Example([{"role": "user", "content": QUESTION},
                                   {"role": "assistant", "content": ANSWER}],
                                  "closed", "f1", "projekte/falke.md", (0, 40))
                for _ in range(copies)]
    tune_data.write(tune_data.TuneData("projekte", examples, [], 1, 0), folder)
    return folder
