"""`dalil onion capture` and `dalil onion correlate`: captures of onion services in a case."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from dalil.cli.chain import onion_app
from dalil.cli.output import err, fail, out, print_json
from dalil.cli.setup import default_actor, django_ready
from dalil.engine.osint.capture import DEFAULT_PROXY

JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
CASE = typer.Option(..., "--case", help="Case number.")


@onion_app.command("capture")
def capture(
    url: str = typer.Argument(..., help="http://<v3 address>.onion/... (or any http(s) URL)"),
    case: str = CASE,
    exhibit: str | None = typer.Option(None, "--exhibit", help="Exhibit number (default C1, "
                                                                "C2, ...)."),
    proxy: str = typer.Option(DEFAULT_PROXY, "--proxy", help="SOCKS5 proxy (Tor's by "
                                                             "default)."),
    timeout: float = typer.Option(90.0, "--timeout", help="Seconds to wait for the site."),
    actor: str | None = typer.Option(None, "--actor", help="Acting person."),
    as_json: bool = JSON,
) -> None:
    """Capture a page through Tor into a WARC exhibit of the case, with custody."""
    django_ready()
    from dalil.app.cases.captures import capture_page
    from dalil.app.cases.services import CaseError, get_case

    try:
        found = get_case(case)
        exhibit_row, record = capture_page(found, url, actor=actor or default_actor(),
                                           proxy=proxy, number=exhibit, timeout=timeout)
    except CaseError as exc:
        fail(str(exc))
    document = {"case": case, "exhibit": exhibit_row.number, **record.to_dict()}
    if as_json:
        print_json(document)
        return
    out.print(f"exhibit {exhibit_row.number}: {record.final_url} (HTTP {record.status}), "
              f"{record.warc_size:,} bytes of WARC, sha256 {record.warc_sha256}", highlight=False)
    err.print(f"captured through {proxy} from {record.started} to {record.ended}",
              highlight=False)


@onion_app.command("correlate")
def correlate(case: str = CASE, as_json: bool = JSON) -> None:
    """Entities (PGP keys, wallets, e-mails, handles) that several captured sites share."""
    django_ready()
    from dalil.app.cases.captures import correlate_case
    from dalil.app.cases.services import CaseError, get_case

    try:
        by_site, links = correlate_case(get_case(case))
    except CaseError as exc:
        fail(str(exc))
    if as_json:
        print_json({"case": case,
                    "sites": {site: [asdict(e) for e in entities]
                              for site, entities in by_site.items()},
                    "links": [asdict(link) for link in links]})
        return
    if not links:
        out.print(f"{len(by_site)} site(s) captured; none shares an entity with another")
        return
    table = Table(header_style="bold")
    for column in ("kind", "value", "sites"):
        table.add_column(column, overflow="fold")
    for link in links:
        table.add_row(link.kind, link.value, "\n".join(link.sites))
    out.print(table)
