"""``dalil scan-exhibit NUMBER --exhibit E`` (also ``dalil scan NUMBER --exhibit E``): scan
a case's exhibit for features and store the findings, flagged against the case's
indicator feeds; run it again after an interruption to resume."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from dalil.cli.output import TerminalJob, err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import default_actor, django_ready


def scan_exhibit(number: str, exhibit: str, *, indicator_files: list[Path],
                 stop_lists: list[Path], scanners: str, jobs: int, actor: str | None,
                 as_json: bool) -> None:
    """What both command forms do (see :func:`scan_exhibit_command`)."""
    if jobs < 0:
        fail("-j must be 0 (all cores) or more", code=2)
    django_ready()
    from dalil.app.cases import services as cases
    from dalil.app.scanning import services

    who = actor or default_actor()
    try:
        case = cases.get_case(number)
        item = cases.get_exhibit(case, exhibit)
    except cases.CaseError as exc:
        fail(str(exc))
    for path in indicator_files:
        try:
            with open(path, "rb") as handle:
                feed = services.import_feed(case, handle, path.name, actor=who)
        except OSError as exc:
            fail(f"{path}: cannot read: {exc.strerror or exc}", code=2)
        except services.ScanningError as exc:
            fail(str(exc), code=2)
        err.print(f"feed {escape(feed.name)} imported into case {escape(case.number)}: "
                  f"{feed.indicators} indicators")
    for path in stop_lists:
        try:
            with open(path, "rb") as handle:
                stop = services.add_stop_list(case, handle, path.name, actor=who)
        except OSError as exc:
            fail(f"{path}: cannot read: {exc.strerror or exc}", code=2)
        except services.ScanningError as exc:
            fail(str(exc), code=2)
        err.print(f"stop list {escape(stop.name)} added: {stop.entries} entries")
    try:
        with TerminalJob("scanning", show=not as_json) as job:
            run = services.scan_exhibit(item, job, actor=who,
                                        options={"scanners": scanners, "jobs": jobs})
    except services.ScanningError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted: the findings stored stay; run `dalil scan-exhibit {number} "
             f"--exhibit {exhibit}` again to resume", 130)
    result = services.summary(run)
    # Exit 3 (docs/decisions.md, "Exit codes"): findings stored, but some byte ranges were
    # not scanned (named in the notes).
    partial = run.status == run.Status.PARTIAL
    if as_json:
        print_json(result)
        if partial:
            raise typer.Exit(3)
        return
    table = Table("type", "hits", show_header=True, header_style="bold")
    for name, count in sorted(run.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(name, f"{count:,}")
    out.print(table)
    for note in run.notes:
        err.print(f"[yellow]warning:[/] {escape(str(note.get('path')))}: "
                  f"{escape(str(note.get('message')))}", soft_wrap=True)
    err.print(f"exhibit [bold]{escape(case.number)}/{escape(item.number)}[/] scanned "
              f"(run {run.pk}): {escape(services.result_text(run))}; custody entry recorded")
    if partial:
        raise typer.Exit(3)


@app.command("scan-exhibit")
def scan_exhibit_command(
    number: str = typer.Argument(..., help="Case number"),
    exhibit: str = typer.Option(..., "--exhibit", "-e", help="Exhibit number, e.g. E1"),
    indicator_files: list[Path] = typer.Option(
        [], "--indicators", metavar="FILE",
        help="STIX 2.1 bundle or MISP feed JSON to import into the case first. Repeatable."),
    stop_lists: list[Path] = typer.Option(
        [], "--stop-list", metavar="FILE",
        help="Known-noise features, one a line, to add to the case first. Repeatable."),
    scanners: str = typer.Option("all", "--scanners",
                                 help="Comma-separated feature types, or 'all'."),
    jobs: int = typer.Option(0, "-j", "--jobs", help="Worker processes (0: all cores)."),
    actor: str | None = typer.Option(
        None, "--actor", help="Acting person (default $DALIL_ACTOR or your login)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Scan an exhibit's bytes for features and store the findings in the case.

    E01, split raw, QCOW2, VMDK and VHD images are read through their container. Hits
    that match one of the case's indicator feeds are flagged. Interrupted? Run the same
    command again: it resumes. Each run is recorded in the chain of custody (`examined`).
    """
    scan_exhibit(number, exhibit, indicator_files=indicator_files, stop_lists=stop_lists,
                 scanners=scanners, jobs=jobs, actor=actor, as_json=as_json)
