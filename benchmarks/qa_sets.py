"""Question sets for grounded answers: where they come from and how an answer is judged.

A set is a folder of documents plus questions (one JSON object a line):
``question``, ``expected`` (short strings, one of which a right answer contains),
``expected_source`` (the file that answers it, relative to the folder), ``must_abstain``,
``stale_sources`` (outdated files that must not be cited) and optionally ``also_sources``
(a second current file that states a conflicting value).

Sets and their status (``tuning``: its failures were studied or it was fitted on; ``blind``:
never looked at beyond the totals) are listed in ``benchmarks/data/sets.json``. The public
German XQuAD development half (``../shared/data/xquad-de-dev``) is split here by article:
even-numbered articles are the part the answer selector is fitted on, odd-numbered ones are
only measured; in each part a quarter of the articles is left out of the collection so that
their questions are the unanswerable ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
XQUAD = HERE.parent.parent / "shared" / "data" / "xquad-de-dev" / "xquad.de.dev.json"


@dataclass
class Case:
    question: str
    expected: list[str]
    expected_source: str | None
    must_abstain: bool
    stale_sources: list[str] = field(default_factory=list)
    also_sources: list[str] = field(default_factory=list)
    id: str = ""
    kind: str = ""


@dataclass
class QASet:
    name: str
    status: str  # "tuning" | "blind"
    docs: Path
    cases: list[Case]


def _case(raw: dict) -> Case:
    return Case(raw["question"], list(raw.get("expected") or []), raw.get("expected_source"),
                bool(raw.get("must_abstain")), list(raw.get("stale_sources") or []),
                list(raw.get("also_sources") or []), str(raw.get("id", "")),
                str(raw.get("kind", "")))


def read_cases(path: Path) -> list[Case]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_case(json.loads(line)) for line in lines if line.strip()]


def company_sets() -> list[QASet]:
    """The company corpora under benchmarks/data, with their status."""
    listing = json.loads((DATA / "sets.json").read_text(encoding="utf-8"))
    return [QASet(name, meta["status"], DATA / name / "docs",
                  read_cases(DATA / name / "questions.jsonl"))
            for name, meta in listing.items()]


def sample_sets(sample_dir: Path) -> list[QASet]:
    """The sample company's questions (both files were used to write its rules)."""
    out = []
    for name, file in (("pumpenwerk", "questions.jsonl"),
                       ("pumpenwerk-holdout", "questions-holdout.jsonl")):
        cases = read_cases(sample_dir / file)
        for case in cases:
            case.stale_sources = case.stale_sources or ["produkte/archiv/kp-55-datenblatt-2023.md"]
        out.append(QASet(name, "tuning", sample_dir / "pumpenwerk", cases))
    return out


def _slug(title: str) -> str:
    return re.sub(r"[^\w-]+", "_", title).strip("_")


def xquad_sets(folder: Path, path: Path = XQUAD, per_article: int | None = None
               ) -> list[QASet]:
    """XQuAD (German dev half) as two sets, ``xquad-fit`` and ``xquad-measure``; each
    article is written as one Markdown document into ``folder/<set>/``."""
    if not path.exists():
        return []
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for name, parity, status in (("xquad-fit", 0, "tuning"), ("xquad-measure", 1, "blind")):
        chosen = [a for i, a in enumerate(articles) if i % 2 == parity]
        left_out = {a["title"] for a in chosen[::4]}
        docs = folder / name
        docs.mkdir(parents=True, exist_ok=True)
        cases: list[Case] = []
        for article in chosen:
            source = _slug(article["title"]) + ".md"
            if article["title"] not in left_out:
                paragraphs = "\n\n".join(p["context"] for p in article["paragraphs"])
                title = article["title"].replace("_", " ")
                (docs / source).write_text(f"# {title}\n\n{paragraphs}\n", encoding="utf-8")
            questions = [qa for p in article["paragraphs"] for qa in p["qas"]]
            if per_article is not None:
                questions = questions[:per_article]
            for qa in questions:
                absent = article["title"] in left_out
                cases.append(Case(qa["question"],
                                  [] if absent else [a["text"] for a in qa["answers"]],
                                  None if absent else source, absent, id=qa["id"]))
        out.append(QASet(name, status, docs, cases))
    return out


@dataclass
class Verdict:
    right: bool
    abstained: bool
    stale: bool
    both_cited: bool


def judge(case: Case, answer_text: str, abstained: bool, cited: list[str]) -> Verdict:
    """Right: not abstained, an expected string in the answer, the expected file cited."""
    stale = any(source in case.stale_sources for source in cited)
    if case.must_abstain:
        return Verdict(abstained, abstained, stale, False)
    text = " ".join(answer_text.split())
    fact = any(" ".join(e.split()) in text for e in case.expected)
    right = not abstained and fact and case.expected_source in cited
    both = all(s in cited for s in [case.expected_source, *case.also_sources])
    return Verdict(right, abstained, stale, both)
