"""The hygiene report as one self-contained HTML page (no scripts, no external files), for the
people who keep the documents."""

from __future__ import annotations

from html import escape

from autonom.knowledge.hygiene import KINDS, HygieneReport

TITLES = {
    "conflict": "Conflicting facts",
    "superseded": "Superseded versions",
    "duplicate": "Exact duplicates",
    "near_duplicate": "Near duplicates",
    "injection": "Suspected planted instructions",
    "unreadable": "Empty or unreadable files (not indexed)",
    "no_date": "Documents without a date",
}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2430}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.4rem;
text-align:left;vertical-align:top}code{background:#f3f4f7;padding:0 .2rem}
.summary td{width:1%;white-space:nowrap}.n{font-weight:bold}.ok{color:#2a7a3a}
.bad{color:#b3261e}
"""


def render(report: HygieneReport) -> str:
    counts = report.counts()
    rows = "".join(
        f"<tr><td class='n {'bad' if counts[k] else 'ok'}'>{counts[k]}</td>"
        f"<td>{escape(TITLES[k])}</td></tr>" for k in KINDS)
    sections = []
    for kind in KINDS:
        found = [f for f in report.findings if f.kind == kind]
        if not found:
            continue
        items = "".join(
            "<tr><td>" + "<br>".join(f"<code>{escape(p.label())}</code>" for p in f.places)
            + f"</td><td>{escape(f.message)}</td></tr>" for f in found)
        sections.append(f"<h2 id='{kind}'>{escape(TITLES[kind])} ({len(found)})</h2>"
                        f"<table><tr><th>Where (file:line)</th><th>What</th></tr>{items}"
                        "</table>")
    verdict = ("No findings." if not report.findings
               else f"{len(report.findings)} findings.")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Hygiene: {escape(report.collection)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Document hygiene of collection <code>{escape(report.collection)}</code>"
        f"</h1><p>{report.documents} documents. {verdict} Line numbers refer to the text as "
        "<code>autonom docs show</code> prints it.</p>"
        f"<table class='summary'>{rows}</table>{''.join(sections)}</body></html>\n"
    )
