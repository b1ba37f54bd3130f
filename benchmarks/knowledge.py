"""Knowledge benchmark: answer quality per question set and mode, speed at 10,000 chunks.

1. Quality: every question set (benchmarks/qa_sets.py: the sample company's two files, the
   company corpora in benchmarks/data with their status, XQuAD German split into a fitting
   and a measuring half) is indexed and asked in extractive mode; the blind company sets
   also in read mode with the default model. Counted per set: right (an expected string in
   the answer and the expected file cited), unanswerables abstained, false abstentions,
   answers citing a superseded file, end-to-end ``ask`` time.
2. Speed: a generated German corpus of about 10,000 chunks is ingested (chunks/s), searched
   with 200 queries and asked 200 questions extractively; the reference in the same run is
   the bare libraries doing the search work (bm25s scoring plus one numpy matrix product,
   query embedding included), so the ratio shows what autonom's retrieval layer costs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from answer_quality import HEADER, all_sets, run_set
from autonom.config import load_settings
from autonom.knowledge import hygiene
from autonom.knowledge.embed import Embedder
from autonom.knowledge.text import tokens
from autonom.models.pull import pull
from autonom.services import Services
from results_file import machine, publish

START, END = "<!-- knowledge:start -->", "<!-- knowledge:end -->"
MODEL = "smollm2-135m"
READ_SETS = ("logistik", "stadtwerke", "medtech")


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


class TimedEmbedder:
    """The collection's embedder, counting the seconds spent in it (the question's own
    embedding and those of its best answer units)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.spent = inner, inner.name, 0.0

    def embed_query(self, text: str) -> np.ndarray:
        began = time.perf_counter()
        try:
            return self.inner.embed_query(text)
        finally:
            self.spent += time.perf_counter() - began

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        began = time.perf_counter()
        try:
            return self.inner.embed_passages(texts)
        finally:
            self.spent += time.perf_counter() - began


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
    asked, embedding = [], []
    timed = TimedEmbedder(kb.retriever.embedder)
    kb.retriever.embedder = timed  # type: ignore[assignment]
    for text in texts:
        timed.spent = 0.0
        began = time.perf_counter()
        asyncio.run(kb.ask(text, "bench", mode="extractive"))
        asked.append(time.perf_counter() - began)
        embedding.append(timed.spent)
    kb.retriever.embedder = timed.inner
    rest = [a - e for a, e in zip(asked, embedding, strict=True)]
    began = time.perf_counter()
    findings = len(hygiene.check(kb.store, "bench").findings)
    hygiene_s = time.perf_counter() - began
    return {"chunks": len(index), "ingest_s": report.seconds, "hygiene_s": hygiene_s,
            "findings": findings,
            "chunks_per_s": report.chunks_per_second,
            "p50_ms": 1000 * statistics.median(ours), "p95_ms": 1000 * percentile(ours, 95),
            "ref_p50_ms": 1000 * statistics.median(reference),
            "ref_p95_ms": 1000 * percentile(reference, 95),
            "ratio_p50": statistics.median(ours) / statistics.median(reference),
            "ask_p50_ms": 1000 * statistics.median(asked),
            "ask_p95_ms": 1000 * percentile(asked, 95),
            "embed_p50_ms": 1000 * statistics.median(embedding),
            "embed_p95_ms": 1000 * percentile(embedding, 95),
            "rest_p50_ms": 1000 * statistics.median(rest),
            "rest_p95_ms": 1000 * percentile(rest, 95)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000, help="synthetic documents")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-read", action="store_true", help="skip read mode")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--speed-only", action="store_true",
                        help="only part 2 (ingest, search, ask at scale); prints, never writes")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-kbench-"))
    services = Services(load_settings(home=home, keep_alive="-1"))
    record = pull(MODEL, services.registry, services.settings)
    rows = []
    for qa in [] if args.speed_only else all_sets(home / "sets", None):
        modes = ["extractive"] + (["read"] if qa.name in READ_SETS and not args.no_read
                                  else [])
        for mode in modes:
            tally = run_set(services, qa, mode, MODEL if mode == "read" else None,
                            record.info.parameters)
            if mode == "read":
                tally.mode = f"read ({MODEL})"  # the table names the model that read
            rows.append(tally.row())
            print(rows[-1], flush=True)
    s = speed(services, args.documents, args.queries)
    services.close()
    report = "\n".join([
        START,
        f"### Knowledge: grounded answers and retrieval ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python benchmarks/knowledge.py --documents {args.documents} "
        f"--queries {args.queries}`",
        "",
        f"Machine: {machine()}; embedder {services.knowledge.embedder.name}; read mode "
        f"with {MODEL} ({record.info.quantization}).",
        "",
        "Answer quality per question set (status *tuning*: the selector was fitted on it or "
        "its failures were studied; *blind*: only these totals were ever looked at). Right: "
        "an expected string in the answer and the expected file cited; stale: answers "
        "citing a superseded file; time: end-to-end `ask`.",
        "",
        HEADER,
        *rows,
        "",
        f"Speed at scale: {s['chunks']} chunks from {args.documents} generated German "
        f"documents; ingest {s['ingest_s']:.0f} s = **{s['chunks_per_s']:.0f} chunks/s** "
        f"(parsing, chunking, embedding every chunk, SQLite). {args.queries} queries:",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| autonom `search` (BM25 + e5 + RRF, index cached) | {s['p50_ms']:.1f} | "
        f"**{s['p95_ms']:.1f}** |",
        f"| reference: bare bm25s scores + numpy dot, same query embedding | "
        f"{s['ref_p50_ms']:.1f} | {s['ref_p95_ms']:.1f} |",
        f"| ratio autonom search / reference (p50) | {s['ratio_p50']:.2f} | |",
        f"| autonom `ask`, extractive (search + answer units + selector) | "
        f"{s['ask_p50_ms']:.1f} | **{s['ask_p95_ms']:.1f}** |",
        f"| of it: embedding the question and its best answer units (e5-small) | "
        f"{s['embed_p50_ms']:.1f} | {s['embed_p95_ms']:.1f} |",
        f"| of it: everything else (BM25, fusion, units, features, selector) | "
        f"{s['rest_p50_ms']:.1f} | {s['rest_p95_ms']:.1f} |",
        "",
        f"`autonom hygiene` on the same {s['chunks']} chunks: {s['hygiene_s']:.1f} s "
        f"({s['findings']} findings).",
        END,
    ])
    publish(START, END, report, write=not (args.no_write or args.speed_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
