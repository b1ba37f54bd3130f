"""The shipped sample corpus is consistent with its question file (the ground truth)."""

import csv
import json
import re

import docx
import pytest
from pypdf import PdfReader

from autonom.knowledge import SAMPLE_DIR

CORPUS = SAMPLE_DIR / "pumpenwerk"
QUESTIONS = [json.loads(line) for line in
             (SAMPLE_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


def text_of(path):
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in PdfReader(path).pages)
    if path.suffix == ".docx":
        return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    return path.read_text(encoding="utf-8")


def test_corpus_covers_the_required_kinds_of_documents():
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert len(files) >= 12
    assert {p.suffix for p in files} >= {".md", ".txt", ".html", ".csv", ".pdf", ".docx"}
    texts = {p.name: text_of(p) for p in files}
    assert any("ersetzt" in t and "veraltet" in t for t in texts.values())  # superseded
    assert any("Ignoriere alle bisherigen Anweisungen" in t for t in texts.values())


def test_price_list_is_german_excel_csv():
    rows = list(csv.DictReader((CORPUS / "preise/preisliste-2026.csv").open(encoding="utf-8"),
                               delimiter=";"))
    assert rows[1]["Preis netto (€)"] == "1.395,50"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", rows[0]["Gültig ab"])


def test_question_file_has_answerable_and_unanswerable_questions():
    assert sum(q["must_abstain"] for q in QUESTIONS) >= 10
    assert sum(not q["must_abstain"] for q in QUESTIONS) >= 20
    assert len({q["id"] for q in QUESTIONS}) == len(QUESTIONS)


@pytest.mark.parametrize("case", [q for q in QUESTIONS if not q["must_abstain"]],
                         ids=lambda q: q["id"])
def test_every_expected_fact_is_in_its_source_document(case):
    text = " ".join(text_of(CORPUS / case["expected_source"]).split())
    assert any(fact in text for fact in case["expected"]), (case["question"], case["expected"])
