"""``dalil ingest NUMBER --exhibit E``: examine a case's exhibit image (walk, hash, type,
hash-set match), storing every entry with its provenance; run it again to resume."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from dalil.cli.output import TerminalJob, err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import default_actor, django_ready


@app.command("ingest")
def ingest(
    number: str = typer.Argument(..., help="Case number"),
    exhibit: str = typer.Option(..., "--exhibit", "-e", help="Exhibit number, e.g. E1"),
    actor: str | None = typer.Option(
        None, "--actor", help="Acting person (default $DALIL_ACTOR or your login)"),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Examine an exhibit's image: every entry (deleted too), hashes, types, hash sets.

    Interrupted (Ctrl+C, a crash)? Run the same command again: it resumes after what
    is already stored. Each run is recorded in the chain of custody (`examined`).
    """
    django_ready()
    from dalil.app.cases import services as cases
    from dalil.app.forensics import services

    try:
        case = cases.get_case(number)
        item = cases.get_exhibit(case, exhibit)
    except cases.CaseError as exc:
        fail(str(exc))
    try:
        with TerminalJob("examining", show=not json_) as job:
            run = services.ingest_exhibit(item, job, actor=actor or default_actor())
    except services.IngestError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted: what was stored stays; run `dalil ingest {number} --exhibit "
             f"{exhibit}` again to resume", 130)
    result = services.summary(run)
    if json_:
        print_json(result)
        return
    table = Table("", "", show_header=False)
    for label, key in (("entries stored", "entries"), ("files hashed", "files_hashed"),
                       ("bytes hashed", "bytes_hashed"), ("already stored", "skipped"),
                       ("errors", "errors"), ("known-bad", "known_bad"),
                       ("records of the exhibit", "total_records")):
        table.add_row(label, str(result[key]))
    out.print(table)
    for problem in result["problems"]:
        err.print(f"[yellow]warning:[/] {escape(problem['message'])}", soft_wrap=True)
    err.print(f"exhibit [bold]{escape(case.number)}/{escape(item.number)}[/] examined "
              f"(run {run.pk}); custody entry recorded")
