"""The ways answers from documents used to fail on documents nobody tuned for, one each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from autonom.knowledge.units import unit_spans
from autonom.knowledge.versions import outdated_documents
from autonom.store.documents import DocumentRecord


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def ask(kb, question: str, collection: str = "c"):
    return asyncio.run(kb.ask(question, collection, mode="extractive"))


@pytest.fixture
def company(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "ventile/v-20.md",
          "# Absperrventil V-20\n\nStand: 02/2026\n\nDas Absperrventil V-20 ist für Trinkwasser "
          "und Heizungswasser zugelassen und wird in unserem Werk in Tuttlingen gefertigt. "
          "Es ersetzt das ältere Modell V-10.\n\n## Technische Daten\n\n- Nenndruck: PN 16\n"
          "- Nennweite: DN 50\n- Gewicht: 7,4 kg\n- Werkstoff: Rotguss\n")
    write(docs, "preise/preisliste.csv",
          "Artikel;Bezeichnung;Preis netto (EUR);Lieferzeit\n"
          "HW-350;Hauswasserwerk HW-350;489,00;5 Arbeitstage\n"
          "V-20;Absperrventil V-20;129,50;3 Arbeitstage\n")
    write(docs, "prozesse/wartung.md",
          "# Wartung beim Kunden\n\nStand: 01/2026\n\nDer Techniker meldet sich einen Tag "
          "vorher telefonisch an. Die Wartung dauert in der Regel zwei Stunden. Die Rechnung "
          "wird 14 Tage nach der Wartung fällig. Einwände gegen die Rechnung nimmt die "
          "Buchhaltung z. B. per E-Mail entgegen.\n")
    write(docs, "vertrieb/ansprechpartner.md",
          "# Ansprechpartner im Vertrieb\n\nStand: 03/2026\n\nDie Region Süd betreut "
          "Dr. J. S. Albrecht seit dem 1. April 2024. Für Großkunden ist Frau Yilmaz "
          "zuständig.\n")
    kb.ingest([docs], "c")
    return kb


def test_a_list_item_that_answers_wins_over_the_documents_first_sentence(company):
    answer = ask(company, "Welchen Nenndruck hat das Ventil V-20?")
    assert not answer.abstained and "PN 16" in answer.answer
    assert answer.answer.startswith("Nenndruck")  # the item, not the paragraph
    assert answer.citations[0].source == "ventile/v-20.md"


def test_sentences_survive_ordinals_dates_abbreviations_and_initials():
    text = ("Die Region Süd betreut Dr. J. S. Albrecht seit dem 1. April 2024. Die Frist "
            "beträgt z. B. bei der 3. Mahnung gem. § 5 Abs. 2 zehn Tage. Danach folgt das "
            "Inkasso.")
    units = [text[s:e] for s, e in unit_spans(text, 0, len(text))]
    assert units == ["Die Region Süd betreut Dr. J. S. Albrecht seit dem 1. April 2024.",
                     "Die Frist beträgt z. B. bei der 3. Mahnung gem. § 5 Abs. 2 zehn Tage.",
                     "Danach folgt das Inkasso."]


def test_a_question_in_other_words_than_the_document_is_answered(company):
    answer = ask(company, "Wann ist die Rechnung nach der Wartung fällig?")
    assert not answer.abstained and "14 Tage" in answer.answer
    paraphrased = ask(company, "Wer kümmert sich um den Vertrieb im Süden?")
    assert not paraphrased.abstained and "Albrecht" in paraphrased.answer


def test_a_row_without_the_asked_for_value_is_not_an_answer(company):
    answer = ask(company, "Welchen maximalen Druck hat die HW-350?")
    assert answer.abstained or "489,00" not in answer.answer


def test_an_english_question_finds_the_german_sentence_and_a_reading_model_answers(company):
    from autonom.backends.fake import FakeBackend
    from autonom.knowledge.answer import Answerer

    question = "How much does the shut-off valve V-20 weigh?"
    backend = FakeBackend(reply="The V-20 weighs 7,4 kg [1].", models=("big",))
    answerer = Answerer(company.retriever, company.store, backend)
    assert answerer._evidence(question, "c").best.readable == "Gewicht: 7,4 kg"
    answer = asyncio.run(answerer.ask(question, "c", model="big", mode="read"))
    assert not answer.abstained and "7,4 kg" in answer.answer
    assert answer.citations[0].source == "ventile/v-20.md"
    assert answer.citations[0].quote == "Gewicht: 7,4 kg"


def test_the_cited_quote_is_verbatim_from_the_document(company):
    answer = ask(company, "Wie schwer ist das V-20?")
    text = company.store.document("c", "ventile/v-20.md").text
    assert all(c.quote in text for c in answer.citations)


def record(id_: int, source: str, title: str, date: str | None = None,
           version: str | None = None, superseded: str | None = None) -> DocumentRecord:
    return DocumentRecord(collection="c", source=source, root="/", sha256="", size_bytes=0,
                          format="md", text="", title=title, doc_date=date, version=version,
                          superseded=superseded, id=id_)


@pytest.mark.parametrize(("old", "new"), [
    (record(1, "preise/archiv/stundensaetze_2024.csv", "stundensaetze_2024", "2024-01-01"),
     record(2, "preise/stundensaetze_2026.csv", "stundensaetze_2026", "2026-03-01")),
    (record(1, "sla/archiv/sla_v2.0.md", "Service-Level-Vereinbarung", "2023-07", "2.0"),
     record(2, "sla/sla_v3.1.md", "Service-Level-Vereinbarung", "2026-03", "3.1")),
    (record(1, "kp-55-datenblatt-2023.md", "Datenblatt KP-55 (Stand 02/2023)", "2023-02"),
     record(2, "kp-55-datenblatt.md", "Datenblatt KP-55", "2026-04")),
    (record(1, "garantie_alt.md", "Garantiebedingungen", None, None,
            "Diese Fassung ist veraltet"),
     record(2, "garantie.md", "Garantiebedingungen")),
    (record(1, "notdienst/ordnung.md", "Notdienstordnung", "2026-02", "2.0"),
     record(2, "notdienst/ordnung-neu.md", "Notdienstordnung", "2026-02", "3.1")),
    (record(1, "tarife/archiv/zuschlagsliste_2024.md", "Tarifbestimmungen und Zuschläge",
            "2024-03"),
     record(2, "tarife/tarifbestimmungen.md", "Tarifbestimmungen und Zuschläge", "2026-02")),
], ids=["csv-years", "versions", "stand", "says-outdated", "same-date-newer-version",
        "same-title-other-name"])
def test_supersession_is_recognised_in_common_shapes(old, new):
    assert outdated_documents([old, new]) == {1: 2}


def test_documents_sharing_only_a_letterhead_are_not_versions_of_each_other():
    docs = [record(1, "personal/bereitschaft.txt", "MUSTER GMBH", "2026-01-01"),
            record(2, "technik/datenblatt_gbk.txt", "MUSTER GMBH", "2026-01-15"),
            record(3, "verwaltung/mahnwesen.txt", "MUSTER GMBH", "2025-10-01")]
    assert outdated_documents(docs) == {}


def test_product_codes_keep_data_sheets_of_different_products_apart():
    docs = [record(1, "kp-40-datenblatt.md", "Datenblatt KP-40", "2024-01"),
            record(2, "kp-55-datenblatt.md", "Datenblatt KP-55", "2026-01")]
    assert outdated_documents(docs) == {}


def hourly_rates(kb, docs: Path) -> None:
    """A current price list and the outdated one it replaced, in collection ``c``."""
    write(docs, "preise/archiv/stundensaetze_2024.csv",
          "Leistung;Netto (EUR);Gültig ab\nMeisterstunde;78,50;01.01.2024\n"
          "Gesellenstunde;66,00;01.01.2024\n")
    write(docs, "preise/stundensaetze_2026.csv",
          "Leistung;Netto (EUR);Gültig ab\nMeisterstunde;86,00;01.03.2026\n"
          "Gesellenstunde;72,00;01.03.2026\n")
    kb.ingest([docs], "c")


def test_an_outdated_price_list_is_never_cited_and_hygiene_names_it(kb, tmp_path):
    from autonom.knowledge import hygiene

    hourly_rates(kb, tmp_path / "docs")
    answer = ask(kb, "Was kostet eine Meisterstunde netto?")
    assert "86,00" in answer.answer and "78,50" not in answer.answer
    assert {c.source for c in answer.citations} == {"preise/stundensaetze_2026.csv"}
    report = hygiene.check(kb.store, "c")
    assert [f.kind for f in report.findings if f.kind in ("superseded", "conflict")] == [
        "superseded"]
    assert "preise/stundensaetze_2026.csv" in report.findings[0].message


def test_two_current_documents_that_disagree_are_both_cited(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "faq.md", "# Häufige Fragen\n\nStand: 01/2026\n\n## Zahlung\n\n"
          "Rechnungen sind innerhalb von 14 Tagen ohne Abzug zu bezahlen.\n")
    write(docs, "mahnwesen.md", "# Mahnwesen\n\nStand: 02/2026\n\n## Zahlungsziel\n\n"
          "Das Zahlungsziel für Rechnungen beträgt 10 Tage ohne Abzug.\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Innerhalb von wie vielen Tagen sind Rechnungen zu bezahlen?")
    assert not answer.abstained
    assert {c.source for c in answer.citations} == {"faq.md", "mahnwesen.md"}
    assert "14 Tagen" in answer.answer and "10 Tage" in answer.answer


def test_a_who_question_is_answered_by_the_sentence_naming_a_person(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "intern/rufbereitschaft.txt",
          "Regelung zur Rufbereitschaft\n\nStand: 01/2026\n\n(1) Den Dienstplan erstellt der "
          "Leiter Rechenzentrum, Florian Straßer. Der Dienstplan wird spätestens 4 Wochen im "
          "Voraus im Dienstplan-Tool veröffentlicht. Ein Tausch im Dienstplan ist mit "
          "Zustimmung möglich.\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Wer macht den Dienstplan für die Rufbereitschaft?")
    assert not answer.abstained and "Florian Straßer" in answer.answer


def test_the_table_row_whose_range_holds_the_asked_number_is_the_answer(kb, tmp_path):
    docs = tmp_path / "docs"
    rows = [(1, 0, 100, "39,90"), (2, 101, 250, "54,10"), (3, 251, 400, "71,30"),
            (4, 401, 650, "98,20"), (5, 651, 800, "143,50")]
    write(docs, "tarife/palettentarif.csv",
          "Tarifzone;Strecke von (km);Strecke bis (km);Euro-Palette (EUR);Gitterbox (EUR)\n"
          + "".join(f"Zone {z};{a};{b};{p};{p}\n" for z, a, b, p in rows))
    write(docs, "lager/lagerordnung.md",
          "# Lagerordnung\n\nGitterboxen werden im Block gestapelt, höchstens drei übereinander. "
          "Leere Paletten stehen an Rampe 4.\n")
    write(docs, "fuhrpark/fahrzeuge.md",
          "# Fuhrpark\n\nUnsere Sattelzüge fahren Strecken bis 800 km ohne Fahrerwechsel. "
          "Ein Gliederzug fasst 36 Paletten.\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Was kostet eine Gitterbox, wenn die Strecke gut 700 km lang ist?")
    assert not answer.abstained and "143,50" in answer.answer


def test_a_sentence_that_refers_back_is_read_with_the_one_before(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "lager/lagerordnung.txt",
          "Lagerordnung\n\nStand: 01/2026\n\nDie Inventur findet jedes Jahr am 29. und 30. "
          "Dezember statt. An diesen Tagen sind keine Anlieferungen und Auslagerungen "
          "möglich. Gabelstapler dürfen nur mit gültigem Fahrausweis bewegt werden.\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "An welchen Tagen ist wegen Inventur keine Anlieferung möglich?")
    assert not answer.abstained and "29. und 30. Dezember" in answer.answer
    text = kb.store.document("c", "lager/lagerordnung.txt").text
    assert all(c.quote in text for c in answer.citations)


def test_a_compound_that_names_the_value_asked_for_is_a_search_term(kb, tmp_path):
    """"Urlaubstage" asks for a duration and names the subject too: it must count as a term
    of the question, not only as the kind of value."""
    docs = tmp_path / "docs"
    write(docs, "personal/urlaub.md", "# Urlaubsregelung\n\n- Urlaubstage: 30 Tage im Jahr\n"
          "- Antrag: zwei Wochen vorher im Personalportal\n")
    write(docs, "personal/reisekosten.md", "# Reisekosten\n\n- Verpflegungspauschale: 28 Euro "
          "pro Tag\n- Kilometerpauschale: 0,30 Euro\n- Abrechnung: innerhalb von sechs "
          "Monaten\n")
    kb.ingest([docs], "c")
    for question, value, source in (
            ("Wie viele Urlaubstage bekomme ich?", "30 Tage", "personal/urlaub.md"),
            ("Wie hoch ist die Verpflegungspauschale?", "28 Euro", "personal/reisekosten.md")):
        answer = ask(kb, question)
        assert not answer.abstained and value in answer.answer, question
        assert answer.citations[0].source == source


def test_a_unit_named_in_the_table_header_counts_as_the_value_asked_for(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "preise/leasing.csv",
          "Artikelnr;Bezeichnung;Gewicht (kg);Rate 36 Monate (EUR)\n"
          "SRV-T1;Tower-Server;18,5;89,00\nSRV-R2;Rack-Server 2 HE;24,0;129,00\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Wie schwer ist der Tower-Server SRV-T1?")
    assert not answer.abstained and "18,5" in answer.answer
    assert answer.citations[0].source == "preise/leasing.csv"


def test_dot_leader_lines_of_a_plain_text_sheet_are_units_of_their_own(kb, tmp_path):
    text = ("Produktdatenblatt Inkubatoren\n\n1) BR-55 CO2-Inkubator\n---------------------\n"
            "  Innenvolumen ..................... 55 l\n"
            "  Temperaturbereich ................ Raumtemperatur +5 °C bis 50 °C\n"
            "  Leistungsaufnahme ................ 400 W\n"
            "  Gewicht .......................... 48 kg\n\n"
            "2) BR-170 CO2-Inkubator\n-----------------------\n"
            "  Innenvolumen ..................... 170 l\n"
            "  Leistungsaufnahme ................ 700 W\n"
            "  Gewicht .......................... 96 kg\n")
    units = [text[s:e] for s, e in unit_spans(text, 0, len(text))]
    assert "Leistungsaufnahme ................ 400 W" in units
    assert "Innenvolumen ..................... 170 l" in units
    write(tmp_path / "docs", "datenblatt_inkubatoren.txt", text)
    kb.ingest([tmp_path / "docs"], "c")
    answer = ask(kb, "Wie viel Strom nimmt der BR-170 auf, also welche Leistungsaufnahme?")
    assert not answer.abstained and "700 W" in answer.answer
    assert answer.answer.startswith("Leistungsaufnahme: 700 W")


@pytest.mark.parametrize(("question", "kinds"), [
    ("Welche Reichweite hat unser eTGM laut Hersteller?", ["length"]),  # "laut" = according to
    ("What is the target first-call resolution rate?", ["share"]),
    ("Wie hoch ist die monatliche Leasingrate?", ["money"]),
    ("Welche Leistungsgarantie gibt der Hersteller?", []),  # a guarantee, not a power
    ("How heavy is the autoclave when empty?", ["weight"]),
    ("How much deposit do we charge for a cable drum?", ["money"]),
    ("Wie breit ist der Zählerschrank?", ["length"]),
    ("Wie früh muss der Antrag gestellt werden?", ["duration"]),
])
def test_the_kind_of_value_asked_for(question, kinds):
    from autonom.knowledge.evidence import analyse

    assert [kind[0] for kind in analyse(question).kinds] == kinds


def test_a_code_written_in_mixed_case_is_a_key_term():
    from autonom.knowledge.evidence import analyse

    assert "etgm" in analyse("Welche Reichweite hat unser eTGM?").key


def test_a_range_in_brackets_selects_the_row(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "servicepreise.csv",
          "Pos.;Leistung;Preis netto (EUR)\n"
          "5;Anfahrtspauschale Zone 1 (0 bis 25 km);49,00\n"
          "6;Anfahrtspauschale Zone 2 (25 bis 60 km);89,00\n"
          "7;Anfahrtspauschale Zone 3 (60–120 km);139,00\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Welche Anfahrtspauschale fällt bei 40 km an?")
    assert not answer.abstained and "89,00" in answer.answer


def test_a_numbered_heading_in_capitals_is_a_heading_even_with_a_blank_line_below(kb, tmp_path):
    from autonom.knowledge.parse import parse_text

    text = ("Mitarbeiterregeln\n\n1. ARBEITSZEIT\n\n1.1 Die Kernarbeitszeit ist von 9 bis 15 "
            "Uhr.\n\n2. URLAUB\n\n2.1 Der Urlaubsanspruch beträgt 30 Arbeitstage pro "
            "Kalenderjahr.\n\n3. Krankheit ohne Punkt\n\nEin kurzer Absatz.\n")
    doc = parse_text(text)
    headings = [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "heading"]
    assert headings == ["1. ARBEITSZEIT", "2. URLAUB"]
    write(tmp_path / "docs", "personal/regeln.txt", text)
    kb.ingest([tmp_path / "docs"], "c")
    answer = ask(kb, "Wie viele Tage Urlaub bekomme ich im Jahr?")
    assert not answer.abstained and "30 Arbeitstage" in answer.answer


def test_an_faq_yes_or_no_is_read_with_the_sentence_after_it():
    text = ("Kann ich einen Ersatzwagen bekommen?\n\nJa. Werkstattkunden erhalten einen "
            "Ersatzwagen ab 19,00 € pro Tag. Bitte reservieren Sie ihn rechtzeitig.\n")
    units = [text[s:e] for s, e in unit_spans(text, 0, len(text))]
    assert "Ja. Werkstattkunden erhalten einen Ersatzwagen ab 19,00 € pro Tag." in units
    assert "Ja." not in units


def test_the_opposite_of_a_word_does_not_cover_it(kb, tmp_path):
    """"ungebremst" contains "gebremst" but means the opposite."""
    write(tmp_path / "docs", "fahrzeuge/kombi.md",
          "# Kombi 2.0 D\n\n- Anhängelast ungebremst: 750 kg\n- Anhängelast gebremst (12 %): "
          "2.200 kg\n- Stützlast: 90 kg\n")
    kb.ingest([tmp_path / "docs"], "c")
    answer = ask(kb, "Wie schwer darf der gebremste Anhänger beim Kombi sein?")
    assert not answer.abstained and "2.200 kg" in answer.answer


def test_a_person_named_in_the_question_is_not_the_answer_to_who_else(kb, tmp_path):
    write(tmp_path / "docs", "intern/kontaktliste.txt",
          "Kontaktliste Verwaltung\n\nJörg Nowak – Objektbetreuung Ost\nDurchwahl: 069 2400 "
          "7712\nVertretung: Nils Ebert\n\nNils Ebert – Objektbetreuung West\nDurchwahl: 069 "
          "2400 7714\nVertretung: Jörg Nowak\n")
    kb.ingest([tmp_path / "docs"], "c")
    answer = ask(kb, "Wer ist die Vertretung von Jörg Nowak?")
    assert not answer.abstained and answer.answer.startswith("Vertretung: Nils Ebert")


def test_a_question_about_a_code_no_document_names_is_abstained_from(kb, tmp_path):
    docs = tmp_path / "docs"
    write(docs, "preise/pumpen.csv",
          "Artikel;Bezeichnung;Leistung (kW);Preis netto (EUR);Lieferzeit\n"
          "KP-55;Kreiselpumpe KP-55;5,5;2.480,00;10 Arbeitstage\n"
          "KP-75;Kreiselpumpe KP-75;7,5;2.960,00;12 Arbeitstage\n"
          "KP-110;Kreiselpumpe KP-110;11;3.870,00;15 Arbeitstage\n"
          "TP-200;Tauchpumpe TP-200;2,2;1.190,00;5 Arbeitstage\n")
    kb.ingest([docs], "c")
    answer = ask(kb, "Was kostet die Kreiselpumpe KP 75?")
    assert not answer.abstained and "2.960,00" in answer.answer
    assert ask(kb, "Was kostet die Kreiselpumpe KP-90?").abstained


def test_an_abstention_points_to_the_closest_current_passages_only(kb, tmp_path):
    import dataclasses

    from autonom.knowledge.answer import Answerer
    from autonom.knowledge.selector import default_selector

    docs = tmp_path / "docs"
    hourly_rates(kb, docs)
    # a selector that is never sure enough to answer, and never finds a question hopeless
    unsure = dataclasses.replace(default_selector(), threshold=1.01, read_threshold=0.0)
    answerer = Answerer(kb.retriever, kb.store, selector=unsure)
    answer = asyncio.run(answerer.ask("Was kostet eine Meisterstunde netto?", "c"))
    assert answer.abstained and answer.citations == []
    assert answer.answer.startswith("Eine sichere Antwort steht nicht in den Dokumenten")
    text = (docs / "preise/stundensaetze_2026.csv").read_text(encoding="utf-8")
    assert [c.quote for c in answer.related][:1] == ["Meisterstunde;86,00;01.03.2026"]
    assert {c.source for c in answer.related} == {"preise/stundensaetze_2026.csv"}
    assert all(c.quote in text for c in answer.related) and len(answer.related) <= 3
    assert answer.to_json()["related"][0] == {"source": "preise/stundensaetze_2026.csv",
                                              "quote": "Meisterstunde;86,00;01.03.2026"}


def test_a_hopeless_question_gets_a_plain_abstention(kb, tmp_path):
    write(tmp_path / "docs", "urlaub.md",
          "# Urlaub\n\nVollzeitbeschäftigte haben 30 Urlaubstage im Jahr.\n")
    kb.ingest([tmp_path / "docs"], "c")
    answer = ask(kb, "Wer gewann 1954 die Fußball-Weltmeisterschaft?")
    assert answer.abstained and answer.related == []
    assert answer.answer == "Dazu steht nichts in den Dokumenten, auf die ich Zugriff habe."
