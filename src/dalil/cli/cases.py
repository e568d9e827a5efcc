"""`dalil case`, `dalil evidence`, `dalil custody` and `dalil verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dalil.cli.image_options import KEY_FILE, PASSWORD, RECOVERY, VOLUME_HELP, keys_given
from dalil.cli.output import byte_progress, err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import default_actor, django_ready

case_app = typer.Typer(help="Create and list cases.", no_args_is_help=True)
evidence_app = typer.Typer(help="Add exhibits (evidence files) to a case.", no_args_is_help=True)
custody_app = typer.Typer(help="Record and show the chain of custody.", no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(evidence_app, name="evidence")
app.add_typer(custody_app, name="custody")

ACTOR = typer.Option(None, "--actor", help="Acting person (default $DALIL_ACTOR or your login)")
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _services() -> Any:
    django_ready()
    from dalil.app.cases import services

    return services


def _case_dict(case: Any) -> dict[str, Any]:
    return {
        "number": case.number, "title": case.title, "offence": case.offence,
        "kind": case.kind, "status": case.status, "jurisdiction": case.jurisdiction,
        "authority": {
            "type": case.authority_type, "identifier": case.authority_identifier,
            "issuer": case.authority_issuer, "scope": case.authority_scope,
            "valid_from": case.authority_valid_from, "valid_until": case.authority_valid_until,
        },
        "exhibits": [
            {"number": e.number, "root": e.root_number, "type": e.type,
             "description": e.description,
             "files": [{"name": f.name, "size": f.size, "hashes": f.hashes()}
                       for f in e.files.all()]}
            for e in case.exhibits.all()
        ],
    }


@case_app.command("create")
def case_create(
    number: str = typer.Option(..., "--number", help="Unique case number"),
    title: str = typer.Option(..., "--title"),
    offence: str = typer.Option("", "--offence"),
    authority_type: str = typer.Option(
        "", "--authority-type", help="warrant, consent, court_order, production_order, other"),
    authority_id: str = typer.Option("", "--authority-id"),
    authority_issuer: str = typer.Option("", "--authority-issuer"),
    authority_scope: str = typer.Option("", "--authority-scope"),
    jurisdiction: str = typer.Option("", "--jurisdiction", help="ISO country code, e.g. KZ"),
    kind: str = typer.Option("real", "--kind", help="real or training"),
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Open a new case."""
    services = _services()
    if kind not in ("real", "training"):
        fail(f"--kind must be real or training, not {kind!r}", 2)
    try:
        case = services.create_case(
            number=number, title=title, actor=actor or default_actor(), offence=offence,
            authority_type=authority_type, authority_identifier=authority_id,
            authority_issuer=authority_issuer, authority_scope=authority_scope,
            jurisdiction=jurisdiction.upper(), kind=kind)
    except services.CaseError as exc:
        fail(str(exc))
    if json_:
        print_json(_case_dict(case))
    else:
        err.print(f"case [bold]{case.number}[/] created")


@case_app.command("list")
def case_list(json_: bool = JSON) -> None:
    """List the cases of this installation."""
    _services()
    from dalil.app.cases.models import Case

    cases = list(Case.objects.order_by("number"))
    if json_:
        print_json([{"number": c.number, "title": c.title, "kind": c.kind,
                     "status": c.status} for c in cases])
        return
    table = Table("number", "title", "kind", "status")
    for c in cases:
        table.add_row(c.number, c.title, c.kind, c.status)
    out.print(table)


@case_app.command("show")
def case_show(number: str, json_: bool = JSON) -> None:
    """Show a case with its exhibits and their hashes."""
    services = _services()
    try:
        case = services.get_case(number)
    except services.CaseError as exc:
        fail(str(exc))
    data = _case_dict(case)
    if json_:
        print_json(data)
        return
    out.print(f"[bold]{case.number}[/] {case.title} ({case.kind}, {case.status})")
    table = Table("exhibit", "root", "type", "file", "size", "sha256")
    for e in data["exhibits"]:
        for f in e["files"] or [{"name": "", "size": "", "hashes": {}}]:
            table.add_row(e["number"], e["root"], e["type"], f["name"], str(f["size"]),
                          f["hashes"].get("sha256", ""))
    out.print(table)


@evidence_app.command("add")
def evidence_add(
    number: str = typer.Argument(..., help="Case number"),
    path: Path = typer.Argument(..., help="The evidence file (read only, never modified)"),
    exhibit: str = typer.Option(..., "--exhibit", help="Exhibit number, unique in the case"),
    description: str = typer.Option("", "--description"),
    type_: str = typer.Option("file", "--type", help="phone, computer, storage, image, file..."),
    seized_by: str = typer.Option("", "--seized-by"),
    seized_where: str = typer.Option("", "--seized-where"),
    seal: str = typer.Option("", "--seal", help="Seal number"),
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Add an evidence file to a case: copied to the blob store, hashed, custody recorded."""
    services = _services()
    try:
        case = services.get_case(number)
        if not path.is_file():
            fail(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        with byte_progress(f"adding {path.name}", path.stat().st_size, quiet=json_) as advance:
            item = services.add_exhibit_from_path(
                case, path, number=exhibit, actor=actor or default_actor(),
                progress=advance, description=description, type=type_, seized_by=seized_by,
                seized_where=seized_where, seal_number=seal)
    except services.CaseError as exc:
        fail(str(exc))
    files = [{"name": f.name, "size": f.size, "hashes": f.hashes()} for f in item.files.all()]
    if json_:
        print_json({"case": case.number, "exhibit": item.number, "files": files})
    else:
        for f in files:
            sha = f["hashes"]["sha256"]
            out.print(f"{item.number}  {f['name']}  {f['size']} bytes  sha256 {sha}")


@evidence_app.command("decrypt")
def evidence_decrypt(
    number: str = typer.Argument(..., help="Case number"),
    exhibit: str = typer.Option(..., "--exhibit", "-e", help="Exhibit number, e.g. E1"),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Decrypt a BitLocker or LUKS1 volume of an exhibit into a derived exhibit (E1.1...).

    The decrypted bytes are stored and hashed as a new image exhibit; custody on both
    exhibits records the volume, the encryption and the kind of key given, never the key.
    Then `dalil ingest` the derived exhibit.
    """
    services = _services()
    from dalil.app.forensics.decrypt import decrypt_exhibit

    keys = keys_given(password, recovery_password, key_file)
    try:
        case = services.get_case(number)
        source = services.get_exhibit(case, exhibit)
        with byte_progress(f"decrypting {source.number}", None, quiet=json_) as advance:
            derived = decrypt_exhibit(source, volume=volume, keys=keys,
                                      actor=actor or default_actor(), progress=advance)
    except services.CaseError as exc:
        fail(str(exc))
    files: list[dict[str, Any]] = [{"name": f.name, "size": f.size, "hashes": f.hashes()}
                                   for f in derived.files.all()]
    created = derived.custody.order_by("seq").first()
    if json_:
        print_json({"case": case.number, "exhibit": derived.number,
                    "derived_from": source.number, "description": derived.description,
                    "files": files, "provenance": created.details if created else {}})
        return
    for f in files:
        out.print(f"{derived.number}  {f['name']}  {f['size']} bytes  "
                  f"sha256 {f['hashes']['sha256']}")
    err.print(f"exhibit [bold]{derived.number}[/] derived from {source.number}; custody "
              f"recorded on both. Next: dalil ingest {case.number} --exhibit {derived.number}")


def _parse_details(pairs: list[str]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--detail takes key=value, not {pair!r}", 2)
        details[key.strip()] = value
    return details


@custody_app.command("add")
def custody_add(
    number: str = typer.Argument(..., help="Case number"),
    action: str = typer.Option(..., "--action",
                               help="seized, sealed, transferred, accessed, examined, returned..."),
    exhibit: str | None = typer.Option(None, "--exhibit"),
    released_by: str = typer.Option("", "--released-by"),
    received_by: str = typer.Option("", "--received-by"),
    purpose: str = typer.Option("", "--purpose"),
    place: str = typer.Option("", "--place"),
    storage: str = typer.Option("", "--storage"),
    seal_intact: bool | None = typer.Option(None, "--seal-intact/--seal-broken"),
    new_seal: str = typer.Option("", "--new-seal"),
    detail: list[str] = typer.Option([], "--detail", help="Any other detail as key=value"),
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Append a custody entry (signed, chained to the previous one)."""
    services = _services()
    details: dict[str, Any] = {k: v for k, v in {
        "released_by": released_by, "received_by": received_by, "purpose": purpose,
        "place": place, "storage": storage, "new_seal": new_seal}.items() if v}
    if seal_intact is not None:
        details["seal_intact"] = seal_intact
    details.update(_parse_details(detail))
    try:
        case = services.get_case(number)
        item = services.get_exhibit(case, exhibit) if exhibit else None
        entry = services.record_custody(case, item, action, actor or default_actor(), details)
    except services.CaseError as exc:
        fail(str(exc))
    if json_:
        print_json(entry.to_record().to_dict())
    else:
        err.print(f"custody entry {entry.seq} recorded ({entry.action})")


@custody_app.command("show")
def custody_show(number: str, json_: bool = JSON) -> None:
    """Show a case's chain of custody, oldest first."""
    services = _services()
    try:
        case = services.get_case(number)
    except services.CaseError as exc:
        fail(str(exc))
    records = services.custody_records(case)
    if json_:
        print_json({"case": case.number, "head": case.custody_head,
                    "entries": [r.to_dict() for r in records]})
        return
    table = Table("seq", "at (UTC)", "exhibit", "action", "actor", "details")
    for r in records:
        details = ", ".join(f"{k}={v}" for k, v in r.details.items())
        table.add_row(str(r.seq), r.at, r.exhibit or "", r.action, r.actor, details[:80])
    out.print(table)


@app.command("verify")
def verify(
    number: str = typer.Argument(..., help="Case number"),
    record: bool = typer.Option(True, "--record/--no-record",
                                help="Append the results as 'verified' custody entries"),
    actor: str | None = ACTOR,
    json_: bool = JSON,
) -> None:
    """Check the custody chain and signatures, and re-hash every exhibit. Exit 1 if not intact."""
    services = _services()
    try:
        case = services.get_case(number)
    except services.CaseError as exc:
        fail(str(exc))
    result = services.verify_case(case, actor or default_actor(), record=record)
    if json_:
        print_json(result.to_dict())
    else:
        out.print(f"custody: {result.chain.entries} entries, "
                  f"{'intact' if result.chain.intact else 'BROKEN'}")
        for check in result.files:
            state = "ok" if check.intact else "CHANGED"
            out.print(f"exhibit {check.exhibit} {check.name}: {state}")
    if not result.intact:
        err.print(f"[bold red]NOT INTACT:[/] {result.first_failure()}", highlight=False)
        raise typer.Exit(1)
    err.print("[bold green]intact[/]")
