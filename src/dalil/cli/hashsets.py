"""``dalil hashset`` (known-good / known-bad hash sets) and ``dalil artifacts``."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import typer
from rich.table import Table

from dalil.cli.forensics import LOGICAL_HELP, _file_system, _opened, _report
from dalil.cli.image_options import VOLUME_HELP
from dalil.cli.output import err, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.forensics.artifacts import ArtifactError, parse_file_system, select_parsers
from dalil.engine.forensics.filehash import FileRecord, build_hash_set
from dalil.engine.forensics.hashsets import HashSetError, HashSetInfo, HashSetStore

hashset_app = typer.Typer(help="Hash sets: NSRL, hash lists, master images; good or bad.",
                          no_args_is_help=True)
app.add_typer(hashset_app, name="hashset")

JSON_HELP = "Print one JSON document on stdout."


class Known(StrEnum):
    good = "good"
    bad = "bad"


class Format(StrEnum):
    auto = "auto"
    nsrl = "nsrl"
    hashdeep = "hashdeep"
    list = "list"


def _store() -> HashSetStore:
    try:
        # Read here, not at import: `dalil` loads this module for other commands too.
        from dalil.app.config import dalil_home

        return HashSetStore(dalil_home() / "hashsets")
    except HashSetError as exc:
        fail(str(exc))


def _show(info: HashSetInfo, verb: str) -> None:
    err.print(f"{verb} hash set {info.name!r} (known-{info.known}, {info.kind}): "
              f"{info.entries} digests", highlight=False, markup=False)


@hashset_app.command("import")
def hashset_import(
    path: str = typer.Argument(..., metavar="FILE",
                               help="NSRL RDS v3 SQLite, hashdeep file or hash list."),
    name: str = typer.Option(..., "--name", help="Name of the new hash set."),
    known: Known = typer.Option(..., "--known", help="good (hide) or bad (alert)."),
    file_format: Format = typer.Option(Format.auto, "--format",
                                       help="Input format; auto sniffs it."),
    replace: bool = typer.Option(False, "--replace", help="Replace a set of the same name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import a hash set (all or nothing: a malformed line names the file and line)."""
    kind = None if file_format is Format.auto else file_format.value
    with _store() as store:
        try:
            info = store.import_file(path, name, known.value, kind=kind, replace=replace)
        except HashSetError as exc:
            fail(str(exc))
    if as_json:
        print_json(info.to_dict())
    else:
        _show(info, "imported")


@hashset_app.command("list")
def hashset_list(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The stored hash sets."""
    with _store() as store:
        sets = store.sets()
    if as_json:
        print_json([s.to_dict() for s in sets])
        return
    table = Table("name", "known", "kind", "digests", "imported", "source")
    for info in sets:
        table.add_row(info.name, info.known, info.kind, str(info.entries),
                      info.to_dict()["imported_at"], info.source)
    out.print(table)


@hashset_app.command("remove")
def hashset_remove(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Delete a stored hash set."""
    with _store() as store:
        try:
            store.remove(name)
        except HashSetError as exc:
            fail(str(exc))
    err.print(f"removed hash set {name!r}", highlight=False, markup=False)


@hashset_app.command("lookup")
def hashset_lookup(
    digests: list[str] = typer.Argument(..., metavar="DIGEST...",
                                        help="MD5, SHA-1, SHA-256 or SHA-512 hex digests."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Which stored sets hold these digests (exit code 0 either way)."""
    with _store() as store:
        try:
            found = store.lookup(digests)
        except ValueError as exc:
            fail(str(exc), code=2)
    document = {d.lower(): [m.to_dict() for m in found.get(d.lower(), [])] for d in digests}
    if as_json:
        print_json(document)
        return
    for digest, matches in document.items():
        where = ", ".join(f"{m['set']} (known-{m['known']})" for m in matches) or "not found"
        sys.stdout.write(f"{digest}\t{where}\n")


@hashset_app.command("build")
def hashset_build(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    name: str = typer.Option(..., "--name", help="Name of the new hash set."),
    known: Known = typer.Option(Known.good, "--known", help="good (default) or bad."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    replace: bool = typer.Option(False, "--replace", help="Replace a set of the same name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Hash every allocated file of an image into a hash set ("master image")."""
    skipped: list[FileRecord] = []

    def note(record: FileRecord) -> None:
        if not record.complete:
            skipped.append(record)

    with _opened(image_path) as image, _store() as store:
        fs = _file_system(image, volume, logical=logical)
        try:
            info = build_hash_set(store, fs, name, known.value, replace=replace,
                                  on_problem=_report, on_file=note)
        except HashSetError as exc:
            fail(str(exc))
    for record in skipped:
        err.print(f"warning: {record.entry.path}: {record.error or 'incomplete'}: left out",
                  highlight=False, markup=False)
    if as_json:
        print_json({**info.to_dict(), "skipped": [r.entry.path for r in skipped]})
    else:
        _show(info, "built")


@app.command("artifacts")
def artifacts(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    parser: list[str] | None = typer.Option(None, "--parser",
                                            help="Only this parser (repeatable)."),
    deleted: bool = typer.Option(False, "--deleted", help="Also parse deleted files."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Parse browser history, EXIF, Telegram exports, Android SMS and contacts, Windows
    registry hives and event logs in IMAGE."""
    try:
        chosen = select_parsers(parser or None)
    except ValueError as exc:
        fail(str(exc), code=2)
    records: list[dict[str, Any]] = []
    problems = 0
    with _opened(image_path) as image:
        fs = _file_system(image, volume, logical=logical)
        for record in parse_file_system(fs, parsers=chosen, include_deleted=deleted,
                                        on_problem=_report):
            if isinstance(record, ArtifactError):
                problems += 1
                err.print(f"warning: {record.message}", highlight=False, markup=False)
            records.append(record.to_dict())
    if as_json:
        print_json(records)
        return
    table = Table("kind", "time", "path", "summary")
    for row in records:
        table.add_row(row["kind"], str(_time_of(row) or ""), row["source"]["path"],
                      _summary(row))
    out.print(table)
    err.print(f"{len(records) - problems} records, {problems} unreadable files",
              highlight=False, markup=False)


def _time_of(row: dict[str, Any]) -> Any:
    for key in ("visit_time", "start_time", "taken", "gps_time", "time", "last_contacted"):
        if row.get(key):
            return row[key]
    return None


def _summary(row: dict[str, Any]) -> str:
    keys = {"browser-visit": ("url",), "browser-download": ("url", "target_path"),
            "exif": ("make", "model", "gps_latitude", "gps_longitude"),
            "telegram-message": ("chat_name", "sender", "text"),
            "sms": ("address", "folder", "body"), "contact": ("name", "phones"),
            "artifact-error": ("message",)}.get(row["kind"], ())
    return " | ".join(str(row[k]) for k in keys if row.get(k) not in (None, "", []))[:160]
