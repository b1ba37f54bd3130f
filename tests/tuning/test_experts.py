"""Domain experts: a gate fitted on each collection's training questions sends a question to
its domain's model — through the HTTP API, ``autonom run`` and ``autonom tune route``."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from autonom.config import Settings
from autonom.errors import InvalidRequestError, NotFoundError
from autonom.models.pull import pull
from autonom.services import Services
from autonom.services import tuning as service
from autonom.store import request_log
from autonom.store.keys import KeyStore
from autonom.tuning import experts
from server_support import start_server, stop_server
from support import DEFAULT_MODEL, autonom

DOMAINS = {
    "technik": {
        "pumpe-kp55.md": "# Kreiselpumpe KP-55\n\n## Technische Daten\n\n- Nenndruck: PN 16\n"
                         "- Leistung: 5,5 kW\n- Fördermenge: 42 m³/h\n- Drehzahl: 2900 1/min\n"
                         "- Gewicht: 68 kg\n",
        "ventil-v20.md": "# Absperrventil V-20\n\n## Technische Daten\n\n- Nennweite: DN 50\n"
                         "- Werkstoff: Edelstahl 1.4408\n- Betriebstemperatur: bis 180 °C\n"
                         "- Dichtung: PTFE\n",
        "motor-m7.md": "# Drehstrommotor M-7\n\n## Technische Daten\n\n- Spannung: 400 V\n"
                       "- Schutzart: IP55\n- Wirkungsgrad: IE3\n- Bauform: B3\n",
    },
    "personal": {
        "urlaub.md": "# Urlaubsregelung\n\n- Urlaubstage: 30 Tage im Jahr\n- Antrag: zwei "
                     "Wochen vorher im Personalportal\n- Resturlaub: bis 31. März des "
                     "Folgejahres\n",
        "arbeitszeit.md": "# Arbeitszeit und Gleitzeit\n\n- Kernzeit: 9 bis 15 Uhr\n- "
                          "Gleitzeitkonto: höchstens 40 Plusstunden\n- Homeoffice: bis zu "
                          "drei Tage pro Woche\n",
        "reisekosten.md": "# Reisekosten\n\n- Verpflegungspauschale: 28 Euro pro Tag\n- "
                          "Kilometerpauschale: 0,30 Euro\n- Abrechnung: innerhalb von "
                          "sechs Monaten\n",
    },
    "vertrieb": {
        "konditionen.md": "# Lieferkonditionen\n\n- Zahlungsziel: 30 Tage netto\n- Skonto: "
                          "2 % bei Zahlung innerhalb von 10 Tagen\n- Mindestbestellwert: "
                          "250 Euro\n- Versandkosten: frei ab 1.000 Euro\n",
        "rabatte.md": "# Rabattstaffel für Händler\n\n- ab 10 Stück: 5 % Rabatt\n- ab 50 "
                      "Stück: 8 % Rabatt\n- Jahresbonus: 3 % ab 100.000 Euro Umsatz\n",
        "angebote.md": "# Angebote und Aufträge\n\n- Gültigkeit eines Angebots: 6 Wochen\n"
                       "- Auftragsbestätigung: innerhalb von 2 Werktagen\n- Lieferzeit: "
                       "3 Wochen ab Auftragsbestätigung\n",
    },
}
QUESTIONS = {
    "technik": ["Welche Schutzart hat der Motor M-7?", "How heavy is the KP-55 pump?"],
    "personal": ["Wie viele Urlaubstage bekomme ich?", "How many days can I work from home?"],
    "vertrieb": ["Wie lange ist ein Angebot gültig?", "What discount do dealers get from 50 "
                 "units?"],
}


@pytest.fixture(scope="module")
def expert_home(tmp_path_factory, default_model_file) -> Path:
    home = tmp_path_factory.mktemp("experts-home")
    services = Services(Settings(home=home))
    try:
        pull(str(default_model_file), services.registry, services.settings,
             name=DEFAULT_MODEL)
        for collection, files in DOMAINS.items():
            folder = tmp_path_factory.mktemp(collection)
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
            services.knowledge.ingest([folder], collection)
        made = service.make_experts(services, "firma", {c: DEFAULT_MODEL for c in DOMAINS},
                                    documents=True)
        assert made.accuracy is not None
    finally:
        services.close()
    return home


def test_the_gate_sends_german_and_english_questions_to_their_domain(expert_home):
    services = Services(Settings(home=expert_home))
    try:
        made = experts.load(expert_home, "firma")
        assert made.fitted_on == {c: made.fitted_on[c] for c in DOMAINS}
        assert min(made.fitted_on.values()) >= 10 and made.accuracy >= 0.9
        for domain, questions in QUESTIONS.items():
            for question in questions:
                routing = experts.resolve(expert_home, services.knowledge,
                                          "experts:firma", question)
                assert routing.domain == domain, (question, routing.scores)
                assert routing.target == f"rag:{domain}@{DEFAULT_MODEL}"
    finally:
        services.close()


def test_experts_through_the_http_api_and_the_request_log(expert_home):
    services = Services(Settings(home=expert_home))
    try:
        keys = KeyStore(services.db)
        _, secret = keys.create("experten", frozenset({"chat"}), collections=frozenset({"*"}))
        _, technik_only = keys.create("technik", frozenset({"chat"}),
                                      collections=frozenset({"technik"}))
    finally:
        services.close()
    process, url = start_server(expert_home)
    try:
        headers = {"Authorization": f"Bearer {secret}"}
        answer = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=120, json={
            "model": "experts:firma",
            "messages": [{"role": "user", "content": "Welche Schutzart hat der Motor M-7?"}]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "experts:firma"
        assert "IP55" in body["choices"][0]["message"]["content"]
        assert "motor-m7.md" in body["choices"][0]["message"]["content"]
        listed = httpx.get(f"{url}/v1/models", headers=headers, timeout=30).json()["data"]
        assert "experts:firma" in {m["id"] for m in listed}
        tags = httpx.get(f"{url}/api/tags", headers=headers, timeout=30).json()["models"]
        assert "experts:firma" in {m["name"] for m in tags}
        narrow = httpx.get(f"{url}/v1/models", timeout=30,
                           headers={"Authorization": f"Bearer {technik_only}"}).json()["data"]
        assert "experts:firma" not in {m["id"] for m in narrow}  # it reads all three
        (expert_home / "tuning" / "experts" / "kaputt.json").write_text("{", encoding="utf-8")
        assert httpx.get(f"{url}/v1/models", headers=headers, timeout=30).status_code == 200
        missing = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=60, json={
            "model": "experts:gibtsnicht", "messages": [{"role": "user", "content": "Hallo"}]})
        assert missing.status_code == 404
        assert "no expert set 'gibtsnicht'" in missing.json()["error"]["message"]
    finally:
        stop_server(process)
    services = Services(Settings(home=expert_home))
    try:
        rows = request_log.query(services.db, model="experts:firma", limit=None)
    finally:
        services.close()
    assert rows and rows[0].served_by.startswith("experts:firma/technik (")
    assert f"rag:technik@{DEFAULT_MODEL}" in rows[0].served_by


def test_experts_through_the_cli(expert_home):
    question = "Wie viel Skonto gibt es bei schneller Zahlung?"
    routed = autonom(expert_home, "tune", "route", "firma", question, timeout=300)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.startswith(f"vertrieb → rag:vertrieb@{DEFAULT_MODEL}")
    answered = autonom(expert_home, "run", "experts:firma", question, timeout=300)
    assert answered.returncode == 0, answered.stderr
    assert "2 %" in answered.stdout and "konditionen.md" in answered.stdout
    assert "answered by experts:firma/vertrieb (" in answered.stderr
    unknown = autonom(expert_home, "run", "experts:nichtda", "Hallo?", timeout=300)
    assert unknown.returncode != 0 and "no expert set 'nichtda'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_gate_logic_fallback_names_and_storage(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8, dtype=np.float32)

    def embed(texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if text.startswith("?"):
                rows.append(np.zeros(8, dtype=np.float32))  # like no domain at all
            else:
                rows.append(centres[int(text[0])] + rng.normal(0, 0.05, 8))
        return np.asarray(rows, dtype=np.float32)

    names = ("a", "b", "c")
    passages = {name: centres[i] + rng.normal(0, 0.05, (5, 8)).astype(np.float32)
                for i, name in enumerate(names)}
    questions = {name: [f"{i} frage {n}" for n in range(20)] for i, name in enumerate(names)}
    made = experts.build("t", questions, {"a": "ma", "b": "mb", "c": "mc"}, passages, embed,
                         "test", fallback="basis",
                         heldout={"a": ["0 x"], "b": ["1 y"], "c": ["2 z"]})
    assert made.accuracy == 1.0
    assert experts.route(made, "1 neu", embed, passages).target == "mb"
    unsure = experts.route(made, "? irgendwas", embed, passages)
    assert unsure.domain is None and unsure.target == "basis"
    experts.save(tmp_path, made)
    assert experts.load(tmp_path, "t").temperature == made.temperature
    with pytest.raises(NotFoundError):
        experts.load(tmp_path, "fehlt")
    with pytest.raises(InvalidRequestError):
        experts.check_name("../etc")
    with pytest.raises(InvalidRequestError):
        experts.build("t", {"a": ["0 x"]}, {"a": "ma"}, passages, embed, "test", "basis")
    with pytest.raises(InvalidRequestError):
        experts.route(made, "  ", embed, passages)
