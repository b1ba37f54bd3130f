"""CLI commands for document collections: ingest, search, ask, docs list/show/rm.

Registered on the main ``autonom`` app by :func:`register`; like every command they parse,
call the knowledge base, print.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from autonom.cli import console
from autonom.config import load_settings
from autonom.errors import InvalidRequestError
from autonom.knowledge import hygiene_html
from autonom.knowledge.answer import Answer
from autonom.knowledge.ingest import IngestReport
from autonom.services import Services, documents

Collection = Annotated[str | None, typer.Option(
    "--collection", "-c", help="collection name (default: knowledge.default_collection)")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _services() -> Services:
    return Services(load_settings())


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files and folders (recursive)")],
    collection: Collection = None,
    prune: Annotated[bool, typer.Option(help="remove documents whose file is gone")] = False,
    reindex: Annotated[bool, typer.Option(help="start the collection afresh")] = False,
    as_json: AsJson = False,
) -> None:
    """Index documents (Markdown, text, HTML, PDF, DOCX, CSV, XLSX) into a collection."""
    services = _services()
    with console.progress() as bar:
        report = services.knowledge.ingest(paths, collection, prune=prune, reindex=reindex,
                                           progress=bar)
    if as_json:
        console.out.print_json(json.dumps(_report_json(report), ensure_ascii=False))
        return
    print_report(report)


def _report_json(report: IngestReport) -> dict[str, object]:
    return {"collection": report.collection, "added": report.added, "updated": report.updated,
            "unchanged": report.unchanged, "removed": report.removed,
            "skipped": [{"source": s, "reason": r} for s, r in report.skipped],
            "flagged": report.flagged, "chunks": report.chunks,
            "seconds": round(report.seconds, 3)}


def print_report(report: IngestReport) -> None:
    console.out.print(
        f"[bold]{report.collection}[/]: {len(report.added)} new, {len(report.updated)} changed,"
        f" {len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.skipped)} skipped; {report.chunks} chunks in {report.seconds:.1f} s"
        + (f" ({report.chunks_per_second:.0f} chunks/s)" if report.chunks else ""))
    for source, reason in report.skipped:
        console.out.print(f"  skipped {source}: {reason}", markup=False)
    for source in report.flagged:
        console.out.print(f"  [yellow]flagged[/] {escape(source)}: contains text that addresses "
                          "the assistant (a planted instruction?); it is never used as evidence")


def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    collection: Collection = None,
    k: Annotated[int | None, typer.Option(
        "-k", min=1, max=100, help="how many chunks (default: knowledge.top_k)")] = None,
    as_json: AsJson = False,
) -> None:
    """Show the chunks that match a query, best first, with their scores."""
    services = _services()
    hits = services.knowledge.search(query, collection, k)
    if as_json:
        console.out.print_json(json.dumps([{
            "source": h.source, "headings": h.entry.chunk.headings,
            "text": h.entry.chunk.body, "score": round(h.score, 5),
            "bm25": round(h.bm25, 4), "dense": None if h.dense is None else round(h.dense, 4),
            "outdated": h.outdated, "injection": h.entry.chunk.injection} for h in hits],
            ensure_ascii=False))
        return
    if not hits:
        console.out.print("no matches")
        return
    rows = []
    for rank, hit in enumerate(hits, 1):
        flags = " ".join(f for f, on in (("outdated", hit.outdated),
                                          ("injection", hit.entry.chunk.injection)) if on)
        text = " ".join(hit.entry.chunk.body.split())
        rows.append([str(rank), f"{hit.score:.4f}", f"{hit.bm25:.2f}",
                     "-" if hit.dense is None else f"{hit.dense:.3f}", hit.source,
                     " › ".join(hit.entry.chunk.headings[-1:]), text[:90], flags])
    console.table(["#", "score", "bm25", "dense", "source", "section", "text", "flags"], rows)


def ask(
    question: Annotated[str, typer.Argument(help="your question")],
    collection: Collection = None,
    model: Annotated[str | None, typer.Option(
        help="model that words the answer (default: default_model when pulled)")] = None,
    mode: Annotated[str | None, typer.Option(
        help="auto | extractive | read (default: knowledge.answer_mode)")] = None,
    as_json: AsJson = False,
) -> None:
    """Answer from the documents, with citations, or say that they do not contain it."""
    if mode not in (None, "auto", "extractive", "read", "generate"):
        raise typer.BadParameter("use auto, extractive or read", param_hint="--mode")
    services = _services()
    try:
        answer = asyncio.run(services.knowledge.ask(
            question, collection, model=model, mode=mode))  # type: ignore[arg-type]
    finally:
        services.close()
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return
    print_answer(answer)


def print_answer(answer: Answer) -> None:
    console.out.print(answer.answer, markup=False)
    # an abstention has no citations; its text announces the closest passages instead
    for number, citation in enumerate(answer.citations or answer.related, 1):
        quote = " ".join(citation.quote.split())
        console.out.print(f"  [{number}] {citation.source}: „{quote}“", markup=False,
                          style="dim")
    for note in answer.notes:
        console.err.print(f"  note: {note}", markup=False, style="dim")


def hygiene(
    collection: Collection = None,
    as_json: AsJson = False,
    html: Annotated[Path | None, typer.Option(
        help="also write the report as a self-contained HTML page")] = None,
) -> None:
    """Check a collection: duplicates, superseded versions, conflicting facts, unreadable or
    undated files, planted instructions — each with files and lines."""
    report = documents.hygiene(_services().knowledge, collection)
    if html is not None:
        try:
            html.write_text(hygiene_html.render(report), encoding="utf-8")
        except OSError as exc:
            raise InvalidRequestError(f"cannot write {html}: {exc.strerror}") from exc
        console.err.print(f"wrote {html}")
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    counts = report.counts()
    console.out.print(f"[bold]{report.collection}[/]: {report.documents} documents, "
                      + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
                      if report.findings else
                      f"[bold]{report.collection}[/]: {report.documents} documents, no findings")
    if report.findings:
        console.table(["kind", "where (file:line)", "what"],
                      [[f.kind, "\n".join(p.label() for p in f.places), f.message]
                       for f in report.findings])


docs_app = typer.Typer(
    rich_markup_mode=None,
    help="List, show and remove indexed documents.", no_args_is_help=True)


def _flags(listed: documents.Listed) -> str:
    replaced = f" by {listed.replaced_by}" if listed.replaced_by else ""
    return " ".join(flag for flag, on in ((f"outdated{replaced}", listed.outdated),
                                          ("injection", listed.record.flagged)) if on)


@docs_app.command("list")
def docs_list(collection: Collection = None, as_json: AsJson = False) -> None:
    """Documents of a collection: date, chunks, flags; and files that were skipped."""
    found = documents.listing(_services().knowledge, collection)
    if as_json:
        console.out.print_json(json.dumps({
            "collection": found.name,
            "documents": [{"source": d.source, "title": d.title, "format": d.format,
                           "date": d.doc_date, "version": d.version,
                           "superseded": d.superseded, "outdated": listed.outdated,
                           "replaced_by": listed.replaced_by, "chunks": d.chunk_count,
                           "flagged_chunks": d.flagged, "sha256": d.sha256,
                           "size_bytes": d.size_bytes}
                          for listed in found.documents for d in [listed.record]],
            "skipped": [{"source": s, "reason": r} for s, r in found.skipped]},
            ensure_ascii=False))
        return
    rows = [[d.source, d.doc_date or "-", str(d.chunk_count), _flags(listed),
             (d.title or "")[:50]] for listed in found.documents for d in [listed.record]]
    rows += [[s, "-", "0", "skipped: " + r, ""] for s, r in found.skipped]
    console.table(["source", "date", "chunks", "flags", "title"], rows)


@docs_app.command("collections")
def docs_collections(as_json: AsJson = False) -> None:
    """All collections with their size and embedder."""
    services = _services()
    infos = services.knowledge.store.collections()
    if as_json:
        console.out.print_json(json.dumps([{
            "name": c.name, "documents": c.documents, "chunks": c.chunks,
            "embedder": c.embedder} for c in infos]))
        return
    console.table(["collection", "documents", "chunks", "embedder", "created"],
                  [[c.name, str(c.documents), str(c.chunks), c.embedder or "none",
                    datetime.fromtimestamp(c.created_at).strftime("%Y-%m-%d %H:%M")]
                   for c in infos])


@docs_app.command("show")
def docs_show(
    source: Annotated[str, typer.Argument(help="document path as listed by 'docs list'")],
    collection: Collection = None,
    chunks: Annotated[bool, typer.Option(help="list the chunks instead of the text")] = False,
) -> None:
    """A document's metadata and its text (what citations quote from)."""
    services = _services()
    doc = services.knowledge.store.document(services.knowledge.collection_name(collection),
                                            source)
    console.out.print(f"[bold]{doc.source}[/] ({doc.format}, {console.size(doc.size_bytes)})")
    for label, value in (("title", doc.title), ("date", doc.doc_date), ("version", doc.version),
                         ("superseded", doc.superseded), ("sha256", doc.sha256)):
        if value:
            console.out.print(f"  {label}: {value}", markup=False)
    console.out.print("")
    if not chunks:
        console.out.print(doc.text, markup=False)
        return
    for chunk in doc.chunks:
        flag = " [injection]" if chunk.injection else ""
        console.out.print(f"#{chunk.ordinal} {chunk.kind} {' › '.join(chunk.headings)}{flag}",
                          markup=False, style="bold")
        console.out.print(chunk.body, markup=False)


@docs_app.command("rm")
def docs_rm(
    sources: Annotated[list[str], typer.Argument(help="document paths")],
    collection: Collection = None,
) -> None:
    """Remove documents from a collection (the files stay where they are)."""
    services = _services()
    name = services.knowledge.collection_name(collection)
    removed = services.knowledge.remove(name, sources)
    console.out.print(f"removed {removed} document(s) from {name}")


def register(app: typer.Typer) -> None:
    for command in (ingest, search, ask, hygiene):
        app.command()(command)
    app.add_typer(docs_app, name="docs")
