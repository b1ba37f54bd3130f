"""Knowledge benchmark: answer quality on the sample questions, retrieval speed at 10,000 chunks.

1. Quality: the sample company's documents are indexed; every question of
   ``questions.jsonl`` (used to tune the evidence rules) and ``questions-holdout.jsonl``
   (not used for tuning) is asked in extractive mode and in generate mode with the default
   model. Counted: expected fact + right document cited, abstentions, citations of the
   superseded sheet, right document in the retrieval top 3, end-to-end time per question.
2. Speed: a generated German corpus of about 10,000 chunks is ingested (chunks/s) and
   searched with 200 queries; the reference in the same run is the bare libraries doing the
   same work (bm25s scoring plus one numpy matrix product, query embedding included), so the
   ratio shows what autonom's retrieval layer costs on top.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from autonom.config import load_settings
from autonom.knowledge import SAMPLE_DIR, hygiene
from autonom.knowledge.text import tokens
from autonom.models.pull import pull
from autonom.services import Services
from results_file import machine, publish

START, END = "<!-- knowledge:start -->", "<!-- knowledge:end -->"
MODEL = "smollm2-135m"


def questions(name: str) -> list[dict]:
    lines = (SAMPLE_DIR / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def quality(services: Services, mode: str, cases: list[dict], params: int) -> dict[str, float]:
    kb = services.knowledge
    right = abstained_ok = superseded = top3 = kept = 0
    times = []
    answerable = [c for c in cases if not c["must_abstain"]]
    for case in cases:
        began = time.perf_counter()
        answer = asyncio.run(kb.ask(case["question"], "pumpenwerk", model=MODEL, mode=mode,
                                    model_parameters=params))
        times.append(time.perf_counter() - began)
        superseded += any("2023" in c.source for c in answer.citations)
        kept += answer.mode == "generate"
        if case["must_abstain"]:
            abstained_ok += answer.abstained
            continue
        fact = any(e in answer.answer for e in case["expected"])
        cited = any(c.source == case["expected_source"] for c in answer.citations)
        right += fact and cited and not answer.abstained
        top3 += case["expected_source"] in [h.source for h in kb.search(
            case["question"], "pumpenwerk", 3)]
    unanswerable = len(cases) - len(answerable)
    return {"accuracy": right / len(answerable), "abstention": abstained_ok / unanswerable,
            "superseded": superseded, "top3": top3 / len(answerable),
            "answerable": len(answerable), "unanswerable": unanswerable, "kept": kept,
            "p50_s": statistics.median(times), "p95_s": percentile(times, 95)}


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p))


_WORD_TEXT = """Pumpe Motor Dichtung Gehäuse Laufrad Welle Lager Flansch Ventil Filter Sensor
Steuerung Kupplung Rohr Schraube Wartung Prüfung Lieferung Montage Garantie Kunde Auftrag
Rechnung Angebot Reklamation Schulung Sicherheit Betrieb Störung Ersatzteil"""
_VERB_TEXT = "prüfen liefern montieren tauschen reinigen melden dokumentieren freigeben"
WORDS = _WORD_TEXT.split()
VERBS = _VERB_TEXT.split()


def synthetic_corpus(folder: Path, documents: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for d in range(documents):
        sections = []
        for s in range(9):
            words = rng.sample(WORDS, 6)
            sections.append(
                f"## {words[0]} {s}\n\nDie {words[1]} der Baureihe X-{d:04d} ist alle "
                f"{rng.randint(2, 48)} Monate zu {rng.choice(VERBS)}. {words[2]} und {words[3]} "
                f"werden mit {rng.randint(5, 90)},{rng.randint(0, 9)} Nm angezogen; die "
                f"{words[4]} hält {rng.randint(100, 9000)} Betriebsstunden. Zuständig ist das "
                f"Team {words[5]} in Halle {rng.randint(1, 9)}.")
        (folder / f"dok-{d:04d}.md").write_text(
            f"# Technische Notiz {d}\n\nStand: {rng.randint(1, 12):02d}/2026\n\n"
            + "\n\n".join(sections) + "\n", encoding="utf-8")


def speed(services: Services, documents: int, queries: int) -> dict[str, float]:
    kb = services.knowledge
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synthetic_corpus(folder, documents)
        report = kb.ingest([folder], "bench")
    rng = random.Random(11)
    texts = [f"Wie oft ist die {rng.choice(WORDS)} der Baureihe X-{rng.randrange(documents):04d} "
             f"zu {rng.choice(VERBS)}?" for _ in range(queries)]
    index = kb.retriever.index("bench")
    kb.search(texts[0], "bench")  # warm
    ours, reference = [], []
    for text in texts:
        began = time.perf_counter()
        kb.search(text, "bench", 5)
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        scores = index.bm25(tokens(text))  # bm25s scoring, no fusion
        vector = kb.embedder.embed_query(text)
        dense = index.dense(vector)  # the numpy product (one BLAS thread)
        np.argsort(-scores)[:50], np.argsort(-dense)[:50]
        reference.append(time.perf_counter() - began)
    began = time.perf_counter()
    findings = len(hygiene.check(kb.store, "bench").findings)
    hygiene_s = time.perf_counter() - began
    return {"chunks": len(index), "ingest_s": report.seconds, "hygiene_s": hygiene_s,
            "findings": findings,
            "chunks_per_s": report.chunks_per_second,
            "p50_ms": 1000 * statistics.median(ours), "p95_ms": 1000 * percentile(ours, 95),
            "ref_p50_ms": 1000 * statistics.median(reference),
            "ref_p95_ms": 1000 * percentile(reference, 95),
            "ratio_p50": statistics.median(ours) / statistics.median(reference)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000, help="synthetic documents")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-kbench-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    record = pull(MODEL, services.registry, services.settings)
    services.knowledge.ingest([SAMPLE_DIR / "pumpenwerk"], "pumpenwerk")
    rows = []
    for label, name in (("tuning set", "questions.jsonl"),
                        ("holdout set", "questions-holdout.jsonl")):
        for mode in ("extractive", "generate"):
            q = quality(services, mode, questions(name), record.info.parameters)
            rows.append(
                f"| {label} ({q['answerable']} + {q['unanswerable']}) | {mode} | "
                f"{q['accuracy']:.0%} | {q['abstention']:.0%} | {q['superseded']} | "
                f"{q['top3']:.0%} | {q['kept'] if mode == 'generate' else '-'} | "
                f"{q['p50_s']:.2f} / {q['p95_s']:.2f} |")
    s = speed(services, args.documents, args.queries)
    services.close()
    report = "\n".join([
        START,
        f"### Knowledge: grounded answers and retrieval ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/knowledge.py --documents {args.documents} "
        f"--queries {args.queries}`",
        "",
        f"Machine: {machine()}; embedder {services.knowledge.embedder.name}; answer "
        f"model {MODEL} ({record.info.quantization}) for generate mode.",
        "",
        "Answer quality on the sample company (accuracy: expected fact in the answer *and* the "
        "expected document cited; abstention: share of unanswerable questions abstained from; "
        "superseded: answers citing the outdated KP-55 sheet; time: end-to-end `ask`, "
        "p50 / p95 seconds; a generated answer that fails verification is replaced by the "
        "extractive one). Targets: accuracy ≥ 90 %, abstention ≥ 90 %, superseded 0, "
        "top 3 ≥ 95 %.",
        "",
        "| questions | mode | accuracy | abstention | superseded | right doc in top 3 | "
        "generated answers that passed verification | time p50 / p95 s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Retrieval at scale: {s['chunks']} chunks from {args.documents} generated German "
        f"documents; ingest {s['ingest_s']:.0f} s = **{s['chunks_per_s']:.0f} chunks/s** "
        f"(parsing, chunking, embedding every chunk, SQLite). {args.queries} queries, hybrid "
        "search incl. query embedding:",
        "",
        "| | p50 ms | p95 ms (target < 50) |",
        "|---|---|---|",
        f"| autonom `search` (BM25 + e5 + RRF, index cached) | {s['p50_ms']:.1f} | "
        f"**{s['p95_ms']:.1f}** |",
        f"| reference: bare bm25s scores + numpy dot, same query embedding | "
        f"{s['ref_p50_ms']:.1f} | {s['ref_p95_ms']:.1f} |",
        f"| ratio autonom / reference (p50) | {s['ratio_p50']:.2f} | |",
        "",
        f"`autonom hygiene` on the same {s['chunks']} chunks: {s['hygiene_s']:.1f} s "
        f"({s['findings']} findings).",
        END,
    ])
    publish(START, END, report, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
