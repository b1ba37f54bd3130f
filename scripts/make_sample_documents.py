"""Writes the binary sample documents (PDF, DOCX) of the fictional Pumpenwerk Albrecht GmbH.

The text files of the sample corpus are edited by hand; the two binary ones are generated
here so that their content stays reviewable. Run: python scripts/make_sample_documents.py
(needs the dev extras: fpdf2, python-docx).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "src/autonom/knowledge/sample/pumpenwerk"

MANUAL = [
    ("h1", "Montageanleitung Kreiselpumpe KP-55"),
    ("p", "Stand: 04/2026 - Pumpenwerk Albrecht GmbH, Technische Dokumentation"),
    ("h2", "1. Aufstellung"),
    ("p", "Die Pumpe wird auf einem ebenen Betonfundament aufgestellt. Der Mindestabstand zur "
          "Wand beträgt 50 cm, damit der Motor ausreichend belüftet wird."),
    ("h2", "2. Befestigung"),
    ("p", "Die vier Fundamentschrauben M16 werden mit einem Anzugsmoment von 45 Nm angezogen. "
          "Die Rohrleitungen dürfen keine Kräfte auf das Pumpengehäuse übertragen."),
    ("h2", "3. Elektrischer Anschluss"),
    ("p", "Der Anschluss erfolgt nur durch eine Elektrofachkraft. Der Motorschutzschalter ist "
          "auf 11,5 A einzustellen."),
    ("h2", "4. Inbetriebnahme"),
    ("p", "Vor dem ersten Start muss die Pumpe vollständig mit Wasser gefüllt sein. "
          "Trockenlauf zerstört die Gleitringdichtung innerhalb weniger Minuten."),
]

LEAVE = [
    ("h1", "Urlaubsregelung"),
    ("p", "Gültig ab 1. Januar 2026 - Personalabteilung"),
    ("h2", "Urlaubsanspruch"),
    ("p", "Vollzeitbeschäftigte haben einen Anspruch auf 30 Urlaubstage pro Kalenderjahr."),
    ("h2", "Urlaubsantrag"),
    ("p", "Urlaub wird mindestens 4 Wochen vor Beginn im Personalportal beantragt. Die "
          "Genehmigung erteilt die direkte Führungskraft."),
    ("h2", "Betriebsferien"),
    ("p", "Vom 24. Dezember bis 1. Januar ist das Werk geschlossen; dafür werden 3 "
          "Urlaubstage eingeplant."),
    ("h2", "Resturlaub"),
    ("p", "Resturlaub muss bis zum 31. März des Folgejahres genommen werden."),
]


def write_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 4, 1, tzinfo=UTC))  # reproducible output
    pdf.add_page()
    for kind, text in MANUAL:
        size = {"h1": 16, "h2": 13}.get(kind, 11)
        pdf.set_font("Helvetica", "B" if kind != "p" else "", size)
        pdf.multi_cell(0, 7, text)
        pdf.ln(2)
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    for kind, text in LEAVE:
        if kind == "h1":
            document.add_heading(text, level=1)
        elif kind == "h2":
            document.add_heading(text, level=2)
        else:
            document.add_paragraph(text)
    document.core_properties.author = "Personalabteilung"
    document.save(str(path))


if __name__ == "__main__":
    write_pdf(SAMPLE / "handbuch" / "montageanleitung-kp-55.pdf")
    write_docx(SAMPLE / "personal" / "urlaubsregelung.docx")
    print("written")
