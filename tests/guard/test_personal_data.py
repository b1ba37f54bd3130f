"""Personal data in German formats: found where it is, left alone where it only looks alike,
kept out of the request log and out of answers when the operator asks for it."""

import json

import httpx
import pytest

from api_support import make, post, run
from autonom.backends.fake import FakeBackend
from autonom.guard.output import OutputFilter, OutputRules
from autonom.guard.pii import redact
from autonom.store import request_log

FOUND = [
    ("Tel. +49 30 1234567", "Tel. [Telefon]"),
    ("Fax 030/1234568", "Fax [Telefon]"),
    ("Mobil 0171-1234567 oder (089) 12 34 56", "Mobil [Telefon] oder [Telefon]"),
    ("Telefon: 0049 89 1234567", "Telefon: [Telefon]"),
    ("an max.mustermann@firma-beispiel.de schreiben", "an [E-Mail] schreiben"),
    ("IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", "IBAN [IBAN], BIC COBADEFFXXX"),
    ("IBAN DE89370400440532013000", "IBAN [IBAN]"),
    ("Karte 4111 1111 1111 1111", "Karte [Kartennummer]"),
]
LEFT_ALONE = [
    "Preis 1.234,50 € netto, Stand 01.04.2026, Lieferung nach 80331 München.",
    "Artikel 4711-B, Nenndruck PN 16, Motorleistung 5,5 kW, 1. April 2026.",
    "Auftrag A-2026-0355, Kundennummer 0012345, Seriennummer 012345678.",
    "DE89 3704 0044 0532 0130 01 hat falsche Prüfziffern.",
    "Version 2.1.0 vom 3. März 2026, z. B. 500 Stück.",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_german_personal_data_is_replaced(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_numbers_that_only_look_alike_stay(text):
    assert redact(text) == text


def test_a_stream_does_not_leak_a_number_cut_in_two():
    rules = OutputRules(personal_data=True)
    text = "Rufen Sie 0171 1234567 an oder schreiben Sie an info@firma-beispiel.de."
    for size in range(1, 9):
        stream = OutputFilter(rules)
        sent = "".join(stream.feed(text[i:i + size]) for i in range(0, len(text), size))
        sent += stream.finish()
        assert sent == "Rufen Sie [Telefon] an oder schreiben Sie an [E-Mail]."


REPLY = "Ihr Ansprechpartner ist erreichbar unter 0171-1234567 oder anna.weber@firma-beispiel.de."


@pytest.mark.parametrize("stream", [False, True])
def test_the_log_and_the_answer_can_leave_personal_data_out(home, stream):
    services, app, secrets = make(home, backend=FakeBackend(reply=REPLY), redact_logs=True,
                                  redact_answers=True)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               headers={"Authorization": f"Bearer {secrets['all']}"})
    body = {"model": "fake", "stream": stream, "messages": [
        {"role": "user", "content": "Meine IBAN ist DE89 3704 0044 0532 0130 00, wer hilft?"}]}
    response = run(post(client, "/api/chat", json=body))
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    answer = "".join(line["message"]["content"] for line in lines)
    assert "0171" not in answer and "[Telefon]" in answer and "[E-Mail]" in answer
    [entry] = request_log.query(services.db)
    logged = json.dumps([entry.request, entry.response], ensure_ascii=False)
    assert "DE89" not in logged and "[IBAN]" in logged and "anna.weber" not in logged


def test_without_the_settings_nothing_is_redacted(home):
    services, app, secrets = make(home, backend=FakeBackend(reply=REPLY))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               headers={"Authorization": f"Bearer {secrets['all']}"})
    response = run(post(client, "/v1/chat/completions", json={
        "model": "fake", "messages": [{"role": "user", "content": "Kontakt?"}]}))
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    assert "0171" in json.dumps(request_log.query(services.db)[0].response)
