"""`dalil export`, `dalil bundle create|verify|import` and `dalil report`.

`dalil bundle verify` is what a partner abroad runs: it needs the package alone, so this
module imports nothing of Django or `dalil.app` at import time, and that command never does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from dalil.cli.output import byte_progress, err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import default_actor, django_ready
from dalil.engine.evidence import bundle as bundles

bundle_app = typer.Typer(help="Sealed evidence bundles for partners and courts.",
                         no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")

ACTOR = typer.Option(None, "--actor", help="Acting person (default $DALIL_ACTOR or your login)")
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
OUTPUT = typer.Option(..., "-o", "--output", help="File to write")


def _app_modules() -> Any:
    """Django and the case services, loaded only by the commands that use the database."""
    django_ready()
    from dalil.app.cases import exports, reports, services

    return services, exports, reports


def _case(services: Any, number: str) -> Any:
    try:
        return services.get_case(number)
    except services.CaseError as exc:
        fail(str(exc))


@app.command("export")
def export(
    number: str = typer.Argument(..., help="Case number"),
    format_: str = typer.Option("case-uco", "--format", help="Only case-uco (JSON-LD)"),
    output: Path = OUTPUT,
    json_: bool = JSON,
) -> None:
    """Export a case as CASE/UCO JSON-LD (validates with case_validate)."""
    if format_ != "case-uco":
        fail(f"--format must be case-uco, not {format_!r}", 2)
    services, exports, _ = _app_modules()
    case = _case(services, number)
    try:
        result = exports.export_case_uco(case, output)
    except services.CaseError as exc:
        fail(str(exc))
    if json_:
        print_json({"case": case.number, "format": format_, "path": str(result.path),
                    "sha256": result.sha256, "nodes": result.nodes})
    else:
        err.print(f"{result.path}: CASE/UCO, {result.nodes} objects, sha256 {result.sha256}")


@bundle_app.command("create")
def bundle_create(
    number: str = typer.Argument(..., help="Case number"),
    exhibits: str = typer.Option("", "--exhibits", help="Comma-separated exhibit numbers "
                                                        "(default: all)"),
    output: Path = OUTPUT,
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Write a signed bundle: exhibits' bytes, manifest, custody log, CASE/UCO, public key."""
    services, exports, _ = _app_modules()
    case = _case(services, number)
    chosen = [e.strip() for e in exhibits.split(",") if e.strip()] or None
    try:
        with byte_progress(f"bundling {case.number}", None, quiet=json_) as advance:
            written = exports.build_bundle(case, output, actor=actor or default_actor(),
                                           exhibits=chosen, progress=advance)
    except services.CaseError as exc:
        fail(str(exc))
    document = {"case": case.number, "path": str(written.path), "files": written.files,
                "bytes": written.size, "manifest_sha256": written.manifest_sha256}
    if json_:
        print_json(document)
    else:
        err.print(f"{written.path}: {written.files} files, {written.size} bytes, "
                  f"manifest sha256 {written.manifest_sha256}")


def _print_report(report: bundles.BundleReport) -> None:
    out.print(f"bundle {report.bundle}: case {report.case or '?'}, "
              f"signed by {report.key_fingerprint or '?'}")
    table = Table("file", "exhibit", "size", "sha256", "result")
    for item in report.files:
        table.add_row(item.path, item.exhibit or "", str(item.size), item.sha256[:16] + "…",
                      "ok" if item.ok else item.problem)
    out.print(table)
    if report.custody is not None:
        state = "intact" if report.custody.intact else "BROKEN"
        out.print(f"custody: {report.custody.entries} entries, {state}")


@bundle_app.command("verify")
def bundle_verify(
    path: Path = typer.Argument(..., help="The .dalil.zip bundle"),
    key: str | None = typer.Option(None, "--key", help="Expected signer fingerprint "
                                                       "(SHA256:...), obtained separately"),
    json_: bool = JSON,
) -> None:
    """Check a bundle with no database: archive safety, signature, hashes, custody chain.

    Exit 0 only when every check passes; otherwise exit 1 and name each failing item.
    """
    with byte_progress(f"verifying {path.name}", None, quiet=json_) as advance:
        report = bundles.verify_bundle(path, key, progress=advance)
    if json_:
        print_json(report.to_dict())
    elif report.files:
        _print_report(report)
    # One line per problem (soft_wrap), names printed as they are (escape): partners grep this.
    for problem in report.problems:
        err.print(f"[bold red]problem:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if not report.intact:
        err.print(f"[bold red]NOT INTACT:[/] {escape(report.problems[0])}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
    pinned = "" if key else " (key not pinned: pass --key to check the signer)"
    err.print(f"[bold green]intact[/], signed by {report.key_fingerprint}{pinned}",
              highlight=False, soft_wrap=True)


@bundle_app.command("import")
def bundle_import(
    path: Path = typer.Argument(..., help="The .dalil.zip bundle"),
    case: str | None = typer.Option(None, "--case", help="Case to add the exhibits to "
                                                         "(default: the bundle's case number)"),
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Verify a partner's bundle, then add its exhibits (keeping their numbers) to a case."""
    services, exports, _ = _app_modules()
    try:
        with byte_progress(f"importing {path.name}", None, quiet=json_) as advance:
            result = exports.import_bundle(path, actor=actor or default_actor(),
                                           case_number=case, progress=advance)
    except services.CaseError as exc:
        fail(str(exc))
    if json_:
        print_json(result.to_dict())
    else:
        action = "created" if result.created_case else "updated"
        err.print(f"case {result.case} {action}: exhibits {', '.join(result.exhibits)} "
                  f"imported; partner key {result.partner_key} is now trusted")


@app.command("report")
def report(
    number: str = typer.Argument(..., help="Case number"),
    output: Path = OUTPUT,
    lang: str = typer.Option("en", "--lang", help="en, ru, kk, ky, tg, tk or uz"),
    json_: bool = JSON,
) -> None:
    """Write the court report of a case as PDF or HTML (by the file suffix)."""
    services, _, reports = _app_modules()
    case = _case(services, number)
    try:
        result = reports.write_report(case, output, lang)
    except services.CaseError as exc:
        fail(str(exc))
    if json_:
        print_json({"case": case.number, **result.to_dict()})
    else:
        state = "intact" if result.intact else "NOT intact (see the report)"
        err.print(f"{result.path}: {result.format}, {result.size} bytes; evidence {state}")
