"""The web UI against the API it sits on: time to first token of the same chat through
``/ui/chat`` and through ``/v1/chat/completions`` (alternating, same server, same run), and
how long the UI's pages take on the sample company.

TTFT = request sent → first piece of answer text received (the stream is then closed, which
cancels the rest). Page time = request sent → whole page received, over loopback, so it is an
upper bound of the server's time.

    python benchmarks/ui.py [--rounds 15] [--pages 50] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from autonom.config import load_settings
from autonom.knowledge import SAMPLE_DIR
from autonom.models.pull import pull
from autonom.services import Services
from autonom.store.keys import KeyStore
from results_file import machine, publish
from server_support import start_server, stop_server

MODEL = "smollm2-135m"
START, END = "<!-- ui:start -->", "<!-- ui:end -->"
QUESTIONS = ["Erkläre in zwei Sätzen, was eine Kreiselpumpe ist.",
             "Nenne drei Gründe für eine regelmäßige Wartung.",
             "Was ist der Unterschied zwischen Nenndruck und Betriebsdruck?"]


def first_text_api(client: httpx.Client, key: str, model: str, question: str) -> float:
    began = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions",
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": model, "stream": True,
                             "messages": [{"role": "user", "content": question}]}) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    return time.perf_counter() - began
        raise RuntimeError(f"no text in the API stream ({reply.status_code})")


def first_text_ui(client: httpx.Client, csrf: str, model: str, question: str) -> float:
    began = time.perf_counter()
    with client.stream("POST", "/ui/chat", headers={"x-csrf-token": csrf},
                       json={"model": model,
                             "messages": [{"role": "user", "content": question}]}) as reply:
        for line in reply.iter_lines():
            if line == "event: delta":
                return time.perf_counter() - began
    raise RuntimeError("no text in the UI stream")


def sign_in(client: httpx.Client, key: str) -> str:
    page = client.get("/ui/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/ui/login", data={"csrf": token, "key": key})
    chat = client.get("/ui/chat").text
    return re.search(r'name="csrf-token" content="([^"]+)"', chat).group(1)


def page_times(client: httpx.Client, path: str, count: int) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        reply = client.get(path)
        out.append(time.perf_counter() - began)
        assert reply.status_code == 200, (path, reply.status_code)
    return out


def server_times(log: str) -> dict[str, list[float]]:
    """Milliseconds per GET path from the server's access log (``GET /ui/chat 200 3 ms``)."""
    out: dict[str, list[float]] = {}
    for path, ms in re.findall(r"GET (\S+) 200 (\d+) ms", log):
        out.setdefault(path, []).append(float(ms))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="autonom-ui-bench-"))
    settings = load_settings(home=home)
    services = Services(settings)
    pull(MODEL, services.registry, settings)
    services.knowledge.ingest([SAMPLE_DIR], "pumpenwerk")
    _, key = KeyStore(services.db).create("bench", frozenset({"chat"}),
                                          collections=frozenset({"pumpenwerk"}))
    services.close()
    process, url = start_server(home, {"AUTONOM_KEEP_ALIVE": "-1"})
    try:
        client = httpx.Client(base_url=url, timeout=120)
        csrf = sign_in(client, key)
        rows = []
        for model, label in ((MODEL, MODEL), ("rag:pumpenwerk", "rag:pumpenwerk")):
            question = (QUESTIONS if model == MODEL
                        else ["Welche Motorleistung hat die Kreiselpumpe KP-55?"])
            first_text_api(client, key, model, question[0])  # warm-up
            first_text_ui(client, csrf, model, question[0])
            api, ui = [], []
            for i in range(args.rounds):
                asked = question[i % len(question)]
                for door in (("api", "ui") if i % 2 == 0 else ("ui", "api")):
                    if door == "api":
                        api.append(first_text_api(client, key, model, asked))
                    else:
                        ui.append(first_text_ui(client, csrf, model, asked))
            rows.append((label, statistics.median(api), statistics.median(ui)))
        document = "/ui/documents/pumpenwerk/pumpenwerk/produkte/kp-55-datenblatt.md" \
                   "?quote=Motorleistung%3A%205%2C5%20kW"
        pages = [(path, page_times(client, path, args.pages))
                 for path in ("/ui/chat", document, "/ui/static/chat.js")]
        anonymous = httpx.Client(base_url=url, timeout=60)
        pages.append(("/ui/login (signed out)", page_times(anonymous, "/ui/login", args.pages)))
    finally:
        stop_server(process)
    lines = [START, f"### Web UI: time to first token and page times ({time.strftime('%Y-%m-%d')})",
             "", f"Command: `python benchmarks/ui.py --rounds {args.rounds} --pages {args.pages}`",
             "", f"Machine: {machine()}; one `autonom serve` with {MODEL}, the sample company, "
             "a chat-scope key; API and UI requests alternate in the same run.", "",
             "| model | API TTFT p50 ms | UI TTFT p50 ms | ratio UI / API |", "|---|---|---|---|"]
    for label, api_s, ui_s in rows:
        lines.append(f"| {label} | {1000 * api_s:.1f} | {1000 * ui_s:.1f} | "
                     f"**{ui_s / api_s:.2f}** |")
    served = server_times((home / "serve.log").read_text(errors="replace"))
    lines += ["", "Page times: *client* = request sent → page received over loopback (its floor "
              "of about 40 ms is the client's delayed ACK, the same for a static file); "
              "*server* = the server's own time to the response head, from its access log.",
              "", "| page | client p50 ms | client p95 ms | server p50 ms | server p95 ms |",
              "|---|---|---|---|---|"]
    for path, times in pages:
        shown = path.split("?")[0]
        own = served.get(shown.split(" ")[0], [0.0])
        lines.append(f"| `{shown}` | {1000 * pct(times, 0.5):.1f} | "
                     f"{1000 * pct(times, 0.95):.1f} | {pct(own, 0.5):.1f} | "
                     f"{pct(own, 0.95):.1f} |")
    lines.append(END)
    publish(START, END, "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
