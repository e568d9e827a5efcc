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
from dalil.engine.ledger.cluster import HEURISTICS as HEURISTIC_NAMES
from dalil.engine.ledger.cluster import LARGE_CLUSTER, MULTI_INPUT, parse_heuristics
from dalil.engine.ledger.onion import check_onion

if TYPE_CHECKING:
    from dalil.engine.ledger.cluster import Clustering
    from dalil.engine.ledger.store import LedgerStore

chain_app = typer.Typer(help="Bitcoin: ingest blocks, look up transactions, addresses and "
                             "clusters.", no_args_is_help=True)
onion_app = typer.Typer(help="Onion (Tor) service addresses.", no_args_is_help=True)
tags_app = typer.Typer(help="Attribution tags (GraphSense TagPacks, Dalil tag lists).",
                       no_args_is_help=True)
chain_app.add_typer(tags_app, name="tags")
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

    sizes = {str(p): (p.stat().st_size if p.is_file() else 0) for p in paths}
    started: set[str] = set()
    with byte_progress("ingesting", sum(sizes.values()), quiet=as_json) as advance:

        def progress(path: str, _transactions: int) -> None:
            # Files are read in order (in parallel groups when there are many): a file
            # counts as read once the store reports on it.
            if path not in started:
                started.add(path)
                advance(sum(sizes.get(p, 0) for p in started))

        total: IngestReport = ledger.ingest(paths, network=NETWORKS[network],
                                            progress=progress)
        advance(sum(sizes.values()))
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


HEURISTICS = typer.Option(MULTI_INPUT, "--heuristics",
                          help="Comma-separated heuristics: " + ", ".join(HEURISTIC_NAMES) +
                               " (multi-input alone by default).")


def _heuristics(text: str) -> tuple[str, ...]:
    try:
        return parse_heuristics(text)
    except ValueError as exc:
        fail(str(exc), code=2)


def _tag_dicts(ledger: LedgerStore, addresses: list[str]) -> dict[str, list[dict[str, object]]]:
    from dalil.engine.ledger.tags import tags_of

    found = tags_of(ledger.connect(), addresses)
    return {a: [{k: v for k, v in t.to_dict().items() if k != "address"} for t in tags]
            for a, tags in found.items()}


@chain_app.command("address")
def address(
    address: str = typer.Argument(..., help="A Bitcoin address."),
    store: Path | None = STORE,
    heuristics: str = HEURISTICS,
    as_json: bool = JSON,
) -> None:
    """Received, sent, balance (satoshi, as far as the store knows), first and last seen,
    cluster and tags."""
    names = _heuristics(heuristics)
    ledger = _existing(store)
    address = address.strip()
    summary = ledger.address(address)
    clustering = _clustering(ledger, LARGE_CLUSTER, names, quiet=True)
    members = clustering.cluster_of(address)
    summary["cluster"] = clustering.cluster_id(address)
    summary["cluster_size"] = len(members)
    summary["heuristics"] = list(names)
    tags = _tag_dicts(ledger, members or [address])
    summary["tags"] = tags.get(address, [])
    summary["cluster_tags"] = [{"address": a, **t} for a in sorted(tags) for t in tags[a]
                               if a != address]
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False)
    for key, value in summary.items():
        if key in ("tags", "cluster_tags", "heuristics"):
            continue
        table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int)
                      else str(value))
    table.add_row("heuristics", ", ".join(names))
    for key in ("tags", "cluster_tags"):
        rows = summary[key]
        text = "; ".join(f"{t['label']} ({t.get('category') or '?'}, {t.get('source') or '?'}"
                         + (f", {t['address']}" if "address" in t else "") + ")"
                         for t in rows)
        table.add_row(key.replace("_", " "), text or "none")
    out.print(table)


def _clustering(ledger: LedgerStore, large: int,
                heuristics: tuple[str, ...] = (MULTI_INPUT,), *,
                quiet: bool = False) -> Clustering:
    from dalil.engine.ledger.cluster import cluster_store

    clustering = cluster_store(ledger.connect(), large=large, heuristics=heuristics)
    if quiet:
        return clustering
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
    heuristics: str = HEURISTICS,
    large: int = LARGE,
    as_json: bool = JSON,
) -> None:
    """Cluster addresses with the named heuristics: number of clusters, largest sizes."""
    names = _heuristics(heuristics)
    summary = {"heuristics": list(names),
               **_clustering(_existing(store), large, names).summary()}
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
    heuristics: str = HEURISTICS,
    large: int = LARGE,
    as_json: bool = JSON,
) -> None:
    """Every address in the same cluster as ADDRESS, with the tags of each."""
    names = _heuristics(heuristics)
    ledger = _existing(store)
    clustering = _clustering(ledger, large, names)
    members = clustering.cluster_of(address)
    if not members:
        fail(f"{address} is not an input address in the store")
    tags = _tag_dicts(ledger, members)
    if as_json:
        print_json({"address": address, "cluster": clustering.cluster_id(address),
                    "size": len(members), "heuristics": list(names), "members": members,
                    "tags": tags})
        return
    for member in members:
        labels = ", ".join(f"{t['label']} ({t.get('category') or '?'})"
                           for t in tags.get(member, []))
        out.print(member + (f"  [{labels}]" if labels else ""), highlight=False)


@chain_app.command("why")
def why(
    address_a: str = typer.Argument(..., metavar="ADDRESS_A"),
    address_b: str = typer.Argument(..., metavar="ADDRESS_B"),
    store: Path | None = STORE,
    heuristics: str = HEURISTICS,
    as_json: bool = JSON,
) -> None:
    """The transactions and heuristics that link two addresses, or "not linked"."""
    clustering = _clustering(_existing(store), 0, _heuristics(heuristics))
    steps = clustering.why(address_a, address_b)
    if as_json:
        print_json({"a": address_a, "b": address_b, "linked": steps is not None,
                    "steps": steps or []})
    elif steps is None:
        out.print("not linked")
    else:
        for n, step in enumerate(steps, 1):
            if step["heuristic"] == MULTI_INPUT:
                text = f"were inputs of transaction {step['txid']} ({MULTI_INPUT})"
            else:
                text = (f"are linked by transaction {step['txid']}: an input and its change "
                        f"output ({step['heuristic']})")
            out.print(f"{n}. {step['from']} and {step['to']} {text}", highlight=False)
    if steps is None:
        raise typer.Exit(1)


@chain_app.command("trace")
def trace(
    seed: str = typer.Argument(..., metavar="ADDRESS|TXID|TXID:VOUT",
                               help="Where to start: an address, a transaction id or one "
                                    "output."),
    direction: str = typer.Option("forward", "--direction",
                                  help="forward (where did it go) or backward (where did "
                                       "it come from)."),
    hops: int = typer.Option(3, "--hops", help="Transactions (or transfers) to follow."),
    model: str = typer.Option("haircut", "--model", help="Taint model: poison, haircut, fifo."),
    stop: str = typer.Option("exchange", "--stop",
                             help="Comma-separated tag categories where tracing stops "
                                  "(empty: never)."),
    ledger_kind: str = typer.Option("auto", "--ledger",
                                    help="bitcoin, transfers (explorer imports) or auto."),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """Follow value from a seed through N hops: a flow graph with amounts, times and taint."""
    from dalil.engine.ledger.trace import TraceError
    from dalil.engine.ledger.trace import trace as run_trace

    if ledger_kind not in ("auto", "bitcoin", "transfers"):
        fail(f"unknown ledger {ledger_kind!r}; one of auto, bitcoin, transfers", code=2)
    ledger = _existing(store)
    categories = [c.strip().lower() for c in stop.split(",") if c.strip()]
    try:
        result = run_trace(ledger.connect(), seed, direction=direction, hops=hops,
                           model=model, ledger=ledger_kind, stop_categories=categories)
    except TraceError as exc:
        message = str(exc)
        fail(message, code=2 if message.startswith(("unknown", "hops")) else 1)
    document = result.to_dict()
    if as_json:
        print_json(document)
        return
    out.print(f"[bold]{result.direction} trace from {result.seed}[/] ({result.ledger}, "
              f"{result.model}, {result.hops} hops; amounts in {result.unit})", highlight=False)
    table = Table(header_style="bold")
    for column in ("from", "to", "amount", "tainted", "share", "time (UTC)"):
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("amount", "tainted", "share") else "left")
    for e in result.edges:
        table.add_row(e.source, e.target, f"{e.amount:,}", f"{e.taint:,}",
                      f"{e.fraction:.1%}", e.time or "")
    out.print(table)
    for chain in result.peeling_chains:
        out.print(f"peeling chain of {chain['length']} transactions from "
                  f"{chain['transactions'][0]}: {chain['peeled']:,} peeled off in "
                  f"{len(chain['payments'])} payments", highlight=False)
    for s in result.stopped_at:
        labels = ", ".join(f"{t['label']} ({t.get('category')})" for t in s["tags"])
        out.print(f"stopped at {s['address']}: {labels}", highlight=False)
    for a, amount in document["totals"].items():
        out.print(f"end point {a}: {amount:,} tainted", highlight=False)
    for line in (*result.assumptions, *result.notes):
        err.print(f"- {line}", highlight=False, soft_wrap=True)
    if result.truncated:
        err.print("[yellow]warning:[/] the trace was cut short (too many transactions)")


@tags_app.command("import")
def tags_import(
    file: Path = typer.Argument(..., help="A GraphSense TagPack (.yaml) or a Dalil tag list "
                                          "(.csv or .json: address,label,category,source,"
                                          "confidence)."),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """Import attribution tags into the store."""
    from dalil.engine.ledger.tags import TagError, import_tags

    try:
        report = import_tags(_store(store), file)
    except TagError as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    if report["already_imported"]:
        err.print(f"{file} was imported before: nothing added", highlight=False, soft_wrap=True)
    out.print(f"{report['tags']:,} tags of {report['addresses']:,} addresses from {file}: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(report["categories"].items())),
              highlight=False, soft_wrap=True)


@chain_app.command("import-transfers")
def import_transfers_command(
    file: Path = typer.Argument(..., help="An explorer export (CSV or JSON)."),
    fmt: str = typer.Option(..., "--format", help="etherscan (ERC-20), tronscan (TRC-20) or "
                                                  "btc-csv."),
    store: Path | None = STORE,
    as_json: bool = JSON,
) -> None:
    """Import transfers exported from a block explorer (USDT on Ethereum or Tron, BTC)."""
    from dalil.engine.ledger.explorer import FORMATS, ExplorerError, import_transfers

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}", code=2)
    try:
        report = import_transfers(_store(store), file, fmt)
    except ExplorerError as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    if report["already_imported"]:
        err.print(f"{file} was imported before: nothing added", highlight=False, soft_wrap=True)
    out.print(f"{report['transfers']:,} transfers ({report['chain']}; "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(report["tokens"].items()))
              + f") between {report['addresses']:,} addresses, {report['first']} to "
              f"{report['last']}", highlight=False, soft_wrap=True)


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
