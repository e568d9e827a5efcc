"""`dalil chain` (Bitcoin ingestion, transactions, addresses, clusters) and `dalil onion`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from dalil.cli.output import byte_progress, err, error, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.ledger.bitcoin.address import NETWORKS
from dalil.engine.ledger.cluster import LARGE_CLUSTER
from dalil.engine.ledger.onion import check_onion

if TYPE_CHECKING:
    from dalil.engine.ledger.cluster import Clustering
    from dalil.engine.ledger.store import LedgerStore

chain_app = typer.Typer(help="Bitcoin: ingest blocks, look up transactions, addresses and "
                             "clusters.", no_args_is_help=True)
onion_app = typer.Typer(help="Onion (Tor) service addresses.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")
app.add_typer(onion_app, name="onion")

JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
STORE = typer.Option(None, "--store", help="Ledger store directory (default $DALIL_HOME/ledger)")


def _store(store: Path | None) -> LedgerStore:
    # Imported here: DuckDB and Arrow cost every other `dalil` command start-up time.
    from dalil.engine.ledger.store import LedgerStore

    if store is None:
        # Read DALIL_HOME directly: the chain commands never need Django's settings.
        store = Path(os.environ.get("DALIL_HOME") or "./dalil-data") / "ledger"
    return LedgerStore(store)


def _existing(store: Path | None) -> LedgerStore:
    ledger = _store(store)
    if not ledger.manifest_path.exists():
        fail(f"no ledger store at {ledger.root} (run `dalil chain ingest` first)", code=2)
    return ledger


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


@chain_app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., help="blk*.dat files, raw blocks or transactions "
                                                 "(binary or hex).", metavar="PATH..."),
    store: Path | None = STORE,
    network: str = typer.Option("mainnet", "--network",
                                help="Network of files without blk framing: mainnet, "
                                     "testnet, signet, regtest."),
    as_json: bool = JSON,
) -> None:
    """Parse blocks and append them to the store; blocks already there are skipped."""
    if network not in NETWORKS:
        fail(f"unknown network {network!r}; one of {', '.join(sorted(NETWORKS))}", code=2)
    ledger = _store(store)
    from dalil.engine.ledger.store import IngestReport

    total = IngestReport()
    sizes = {p: (p.stat().st_size if p.is_file() else 0) for p in paths}
    done = 0
    with byte_progress("ingesting", sum(sizes.values()), quiet=as_json) as advance:
        for path in paths:
            report = ledger.ingest([path], network=NETWORKS[network])
            for name in ("blocks", "transactions", "inputs", "outputs", "skipped_blocks"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            done += sizes[path]
            advance(done)
    for message in total.errors:
        error(message)
    document = {**total.to_dict(), "store": str(ledger.root)}
    if as_json:
        print_json(document)
    else:
        table = Table(show_header=True, header_style="bold")
        for name in ("blocks", "transactions", "inputs", "outputs", "skipped_blocks"):
            table.add_column(name.replace("_", " "), justify="right")
        table.add_row(*(f"{document[n]:,}" for n in ("blocks", "transactions", "inputs",
                                                      "outputs", "skipped_blocks")))
        out.print(table)
        err.print(f"store: {ledger.root}", highlight=False)
    if total.errors:
        raise typer.Exit(1)


@chain_app.command("tx")
def tx(
    txid: str = typer.Argument(..., help="Transaction id (hex)."),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """Inputs and outputs of a transaction: values (satoshi), script types, addresses."""
    ledger = _existing(store)
    found = ledger.transaction(txid.strip().lower())
    if found is None:
        fail(f"transaction {txid} is not in the store {ledger.root}")
    found["time"] = _iso(found["time"])
    if as_json:
        print_json(found)
        return
    out.print(f"[bold]{found['txid']}[/]  block {found['block_hash'] or '(none)'}  "
              f"{found['time'] or ''}", highlight=False)
    inputs = Table(title="inputs", header_style="bold")
    for column in ("#", "spends", "value (sat)", "type", "address", "derived"):
        inputs.add_column(column, overflow="fold")
    for i in found["inputs"]:
        spends = "coinbase" if i["coinbase"] else f"{i['prev_txid']}:{i['prev_vout']}"
        inputs.add_row(str(i["vin"]), spends, _sat(i["value"]), i["script_type"] or "",
                       i["address"] or "", "yes" if i["derived"] else "")
    outputs = Table(title="outputs", header_style="bold")
    for column in ("#", "value (sat)", "type", "address", "spent by"):
        outputs.add_column(column, overflow="fold")
    for o in found["outputs"]:
        outputs.add_row(str(o["vout"]), _sat(o["value"]), o["script_type"], o["address"] or "",
                        o["spent_by"] or "")
    out.print(inputs)
    out.print(outputs)


def _sat(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


@chain_app.command("address")
def address(
    address: str = typer.Argument(..., help="A Bitcoin address."),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """Received, sent and balance (satoshi, as far as the store knows), first and last seen."""
    ledger = _existing(store)
    summary = ledger.address(address.strip())
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int)
                      else str(value))
    out.print(table)


def _clustering(ledger: LedgerStore, large: int) -> Clustering:
    from dalil.engine.ledger.cluster import cluster_store

    clustering = cluster_store(ledger.connect(), large=large)
    for w in clustering.warnings:
        err.print(f"[yellow]warning:[/] transaction {w.reason} joined two large clusters "
                  f"({w.sizes[0]:,} and {w.sizes[1]:,} addresses): check it is not a "
                  f"CoinJoin or a service", highlight=False)
    return clustering


LARGE = typer.Option(LARGE_CLUSTER, "--warn-size",
                     help="Warn when a merge joins two clusters at least this large.")


@chain_app.command("cluster")
def cluster(
    store: Path | None = STORE,
    heuristics: str = typer.Option("multi-input", "--heuristics",
                                   help="Comma-separated heuristics (multi-input)."),
    large: int = LARGE,
    as_json: bool = JSON,
) -> None:
    """Cluster addresses (multi-input heuristic): number of clusters, largest sizes."""
    names = {h.strip() for h in heuristics.split(",") if h.strip()}
    if names - {"multi-input"}:
        fail(f"unknown heuristic(s): {', '.join(sorted(names - {'multi-input'}))}; "
             "available: multi-input", code=2)
    summary = _clustering(_existing(store), large).summary()
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), str(value))
    out.print(table)


@chain_app.command("cluster-of")
def cluster_of(
    address: str = typer.Argument(..., help="A Bitcoin address."),
    store: Path | None = STORE,
    large: int = LARGE,
    as_json: bool = JSON,
) -> None:
    """Every address in the same multi-input cluster as ADDRESS."""
    clustering = _clustering(_existing(store), large)
    members = clustering.cluster_of(address)
    if not members:
        fail(f"{address} is not an input address in the store")
    if as_json:
        print_json({"address": address, "cluster": clustering.cluster_id(address),
                    "size": len(members), "members": members})
        return
    for member in members:
        out.print(member, highlight=False)


@chain_app.command("why")
def why(
    address_a: str = typer.Argument(..., metavar="ADDRESS_A"),
    address_b: str = typer.Argument(..., metavar="ADDRESS_B"),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """The transactions and heuristics that link two addresses, or "not linked"."""
    clustering = _clustering(_existing(store), 0)
    steps = clustering.why(address_a, address_b)
    if as_json:
        print_json({"a": address_a, "b": address_b, "linked": steps is not None,
                    "steps": steps or []})
    elif steps is None:
        out.print("not linked")
    else:
        for n, step in enumerate(steps, 1):
            out.print(f"{n}. {step['from']} and {step['to']} were inputs of transaction "
                      f"{step['txid']} ({step['heuristic']})", highlight=False)
    if steps is None:
        raise typer.Exit(1)


@onion_app.command("check")
def onion_check(
    address: str = typer.Argument(..., help="An onion address, host name or URL."),
    as_json: bool = JSON,
) -> None:
    """Validate an onion address: v3 checksum, v2 flagged as obsolete."""
    result = check_onion(address)
    if as_json:
        print_json(result.to_dict())
    elif result.valid:
        out.print(f"valid v3 onion address {result.address}\npublic key {result.public_key}",
                  highlight=False)
    else:
        out.print(f"invalid: {result.address}: {result.reason}", highlight=False)
    if not result.valid:
        raise typer.Exit(1)
