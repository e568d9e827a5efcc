"""Append-only Parquet tables of blocks, transactions, inputs and outputs, queried with DuckDB.

Layout under the store directory::

    blocks/part-000001.parquet   transactions/…   inputs/…   outputs/…
    manifest.jsonl               one line per committed part: its block hashes and counts

A part is written to a temporary name, renamed, and only then recorded in the manifest; the
views read only the parts the manifest lists, so an interrupted ingest leaves no half-part
behind in the tables and can simply be run again (blocks already listed are skipped).
The same Parquet files can be read by Spark (``spark.read.parquet("STORE/outputs")``) or
Dask (``dask.dataframe.read_parquet("STORE/outputs/*.parquet")``) when one machine is not
enough.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dalil.engine.ledger.bitcoin.address import MAINNET, NETWORKS, Network
from dalil.engine.ledger.bitcoin.batch import Destination, encode_many
from dalil.engine.ledger.bitcoin.parse import Block, ParseError, Transaction, parse_file
from dalil.engine.ledger.bitcoin.script import derive_destination, destination

SCHEMAS: dict[str, pa.Schema] = {
    "blocks": pa.schema([
        ("block_hash", pa.string()), ("prev_hash", pa.string()), ("merkle_root", pa.string()),
        ("version", pa.int32()), ("time", pa.int64()), ("bits", pa.uint32()),
        ("nonce", pa.uint32()), ("height", pa.int64()), ("tx_count", pa.int32()),
        ("size", pa.int32()), ("network", pa.string()), ("source", pa.string()),
        ("offset", pa.int64()),
    ]),
    "transactions": pa.schema([
        ("txid", pa.string()), ("wtxid", pa.string()), ("block_hash", pa.string()),
        ("position", pa.int32()), ("time", pa.int64()), ("version", pa.int32()),
        ("locktime", pa.uint32()), ("size", pa.int32()), ("vsize", pa.int32()),
        ("is_coinbase", pa.bool_()), ("segwit", pa.bool_()), ("n_inputs", pa.int32()),
        ("n_outputs", pa.int32()),
    ]),
    "inputs": pa.schema([
        ("txid", pa.string()), ("vin", pa.int32()), ("prev_txid", pa.string()),
        ("prev_vout", pa.int64()), ("sequence", pa.uint32()), ("script_sig", pa.binary()),
        ("witness_items", pa.int32()), ("derived_type", pa.string()),
        ("derived_address", pa.string()), ("block_hash", pa.string()), ("time", pa.int64()),
    ]),
    "outputs": pa.schema([
        ("txid", pa.string()), ("vout", pa.int32()), ("value", pa.int64()),
        ("script_type", pa.string()), ("address", pa.string()),
        ("script_pubkey", pa.binary()), ("block_hash", pa.string()), ("time", pa.int64()),
    ]),
}
TABLES = tuple(SCHEMAS)
# Tables filled by importers rather than by block ingestion: attribution tags (see tags.py)
# and token/explorer transfers (see explorer.py). Same parts, same manifest.
SIDE_SCHEMAS: dict[str, pa.Schema] = {
    "tags": pa.schema([
        ("address", pa.string()), ("label", pa.string()), ("category", pa.string()),
        ("source", pa.string()), ("confidence", pa.string()), ("currency", pa.string()),
        ("creator", pa.string()), ("title", pa.string()), ("file", pa.string()),
        ("entry", pa.int32()), ("imported", pa.string()),
    ]),
    "transfers": pa.schema([
        ("chain", pa.string()), ("token", pa.string()), ("contract", pa.string()),
        ("txid", pa.string()), ("position", pa.int32()), ("block", pa.int64()),
        ("time", pa.int64()), ("from_address", pa.string()), ("to_address", pa.string()),
        ("value", pa.decimal128(38, 0)), ("decimals", pa.int32()), ("file", pa.string()),
        ("row", pa.int32()),
    ]),
}
FLUSH_ROWS = 500_000


@dataclass
class IngestReport:
    blocks: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    skipped_blocks: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "transactions": self.transactions,
                "inputs": self.inputs, "outputs": self.outputs,
                "skipped_blocks": self.skipped_blocks, "errors": list(self.errors)}


class _Batch:
    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {
            name: {f.name: [] for f in schema} for name, schema in SCHEMAS.items()
        }
        self.keys: list[str] = []
        self.rows = 0
        # Addresses are encoded at flush time, a whole batch at once (see bitcoin.batch).
        self.in_dest: list[Destination | None] = []
        self.out_dest: list[Destination | None] = []
        self.in_net: list[Network] = []
        self.out_net: list[Network] = []

    def add_tx(self, tx: Transaction, block_hash: str | None, position: int,
               time: int | None, network: Network) -> None:
        t = self.cols["transactions"]
        t["txid"].append(tx.txid)
        t["wtxid"].append(tx.wtxid)
        t["block_hash"].append(block_hash)
        t["position"].append(position)
        t["time"].append(time)
        t["version"].append(tx.version)
        t["locktime"].append(tx.locktime)
        t["size"].append(tx.size)
        t["vsize"].append(tx.vsize)
        coinbase = tx.is_coinbase
        t["is_coinbase"].append(coinbase)
        t["segwit"].append(tx.is_segwit)
        t["n_inputs"].append(len(tx.inputs))
        t["n_outputs"].append(len(tx.outputs))
        i = self.cols["inputs"]
        txid = tx.txid
        for vin, txin in enumerate(tx.inputs):
            derived = None if coinbase else derive_destination(txin)
            i["txid"].append(txid)
            i["vin"].append(vin)
            i["prev_txid"].append(txin.prev_txid)
            i["prev_vout"].append(txin.prev_vout)
            i["sequence"].append(txin.sequence)
            i["script_sig"].append(txin.script_sig)
            i["witness_items"].append(len(txin.witness))
            i["derived_type"].append(derived[0].value if derived else None)
            self.in_dest.append(derived[1] if derived else None)
            self.in_net.append(network)
            i["block_hash"].append(block_hash)
            i["time"].append(time)
        o = self.cols["outputs"]
        for vout, txout in enumerate(tx.outputs):
            kind, dest, _keys = destination(txout.script_pubkey)
            o["txid"].append(txid)
            o["vout"].append(vout)
            o["value"].append(txout.value)
            o["script_type"].append(kind.value)
            self.out_dest.append(dest)
            self.out_net.append(network)
            o["script_pubkey"].append(txout.script_pubkey)
            o["block_hash"].append(block_hash)
            o["time"].append(time)
        self.rows += 1 + len(tx.inputs) + len(tx.outputs)

    def encode_addresses(self) -> None:
        for column, dests, nets in (("inputs", self.in_dest, self.in_net),
                                    ("outputs", self.out_dest, self.out_net)):
            name = "derived_address" if column == "inputs" else "address"
            addresses: list[str | None] = [None] * len(dests)
            for net in set(nets):
                picked = [i for i, n in enumerate(nets) if n is net] if len(set(nets)) > 1 \
                    else list(range(len(dests)))
                for i, a in zip(picked, encode_many([dests[i] for i in picked], net),
                                strict=True):
                    addresses[i] = a
            self.cols[column][name] = addresses

    def add_block(self, block: Block, network: Network) -> None:
        h = block.header
        b = self.cols["blocks"]
        for key, value in (("block_hash", h.hash), ("prev_hash", h.prev_hash),
                           ("merkle_root", h.merkle_root), ("version", h.version),
                           ("time", h.timestamp), ("bits", h.bits), ("nonce", h.nonce),
                           ("height", block.height), ("tx_count", len(block.transactions)),
                           ("size", block.size), ("network", network.name),
                           ("source", block.source), ("offset", block.offset)):
            b[key].append(value)
        for position, tx in enumerate(block.transactions):
            self.add_tx(tx, h.hash, position, h.timestamp, network)
        self.keys.append(h.hash)


class LedgerStore:
    """A directory of Parquet parts plus a manifest; query it with :meth:`connect`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.jsonl"

    # --- manifest ---------------------------------------------------------------------

    def _entries(self) -> list[dict[str, Any]]:
        if not self.manifest_path.exists():
            return []
        entries = []
        with open(self.manifest_path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: its part was never committed
        return entries

    def _commit(self, entry: dict[str, Any]) -> None:
        """Append one manifest line, durably; a part counts only once this returns.

        A crash mid-write leaves a last line without its newline. That part was never
        committed: cut the line off first, or the new entry would be glued to it and lost.
        """
        with open(self.manifest_path, "a+b") as handle:
            end = handle.seek(0, os.SEEK_END)
            keep = end
            while keep:  # walk back to the end of the last complete line
                start = max(0, keep - 65536)
                handle.seek(start)
                chunk = handle.read(keep - start)
                if keep == end and chunk.endswith(b"\n"):
                    break
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                keep = start
            if keep != end:
                handle.truncate(keep)
            handle.write(json.dumps(entry).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def ingested_keys(self) -> set[str]:
        return {key for entry in self._entries() for key in entry["keys"]}

    def parts(self, table: str) -> list[Path]:
        return [self.root / table / f"part-{e['part']:06d}.parquet" for e in self._entries()
                if e["counts"].get(table)]

    def _flush(self, batch: _Batch) -> None:
        if not batch.keys:
            return
        batch.encode_addresses()
        entries = self._entries()
        number = max((e["part"] for e in entries), default=0) + 1
        counts: dict[str, int] = {}
        for table, schema in SCHEMAS.items():
            cols = batch.cols[table]
            rows = len(cols[schema.names[0]])
            counts[table] = rows
            if not rows:
                continue
            directory = self.root / table
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"part-{number:06d}.parquet"
            tmp = path.with_suffix(".tmp")
            pq.write_table(pa.table(cols, schema=schema), tmp, compression="zstd")
            os.replace(tmp, path)
        entry = {"part": number, "keys": batch.keys, "counts": counts,
                 "written": datetime.now(UTC).isoformat(timespec="seconds")}
        self._commit(entry)

    def append(self, table: str, data: pa.Table, key: str) -> bool:
        """Commit ``data`` as one new part of a side table (tags, transfers) under ``key``.

        Returns False, writing nothing, when ``key`` (e.g. the hash of an imported file) was
        committed before: importing the same file twice adds nothing.
        """
        schema = SIDE_SCHEMAS[table]
        self.root.mkdir(parents=True, exist_ok=True)
        if key in self.ingested_keys():
            return False
        number = max((e["part"] for e in self._entries()), default=0) + 1
        directory = self.root / table
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"part-{number:06d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(data.select(schema.names).cast(schema), tmp, compression="zstd")
        os.replace(tmp, path)
        entry = {"part": number, "keys": [key], "counts": {table: data.num_rows},
                 "written": datetime.now(UTC).isoformat(timespec="seconds")}
        self._commit(entry)
        return True

    # --- ingestion --------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | Path], *, network: Network = MAINNET,
               progress: Callable[[str, int], None] | None = None) -> IngestReport:
        """Parse and append every block (or lone transaction) of ``paths``.

        A file that fails half-way keeps the blocks read before the failure; its error is
        in the report and the next file is read.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        seen = self.ingested_keys()
        report = IngestReport()
        batch = _Batch()
        for path in paths:
            try:
                for item in parse_file(path):
                    if isinstance(item, Block):
                        if item.hash in seen:
                            report.skipped_blocks += 1
                            continue
                        net = NETWORKS.get(item.network or "", network)
                        batch.add_block(item, net)
                        seen.add(item.hash)
                        report.blocks += 1
                        txs = item.transactions
                    else:
                        key = "tx:" + item.txid
                        if key in seen:
                            continue
                        batch.add_tx(item, None, 0, None, network)
                        batch.keys.append(key)
                        seen.add(key)
                        txs = (item,)
                    report.transactions += len(txs)
                    report.inputs += sum(len(t.inputs) for t in txs)
                    report.outputs += sum(len(t.outputs) for t in txs)
                    if progress is not None:
                        progress(str(path), report.transactions)
                    if batch.rows >= FLUSH_ROWS:
                        self._flush(batch)
                        batch = _Batch()
            except ParseError as exc:
                report.errors.append(str(exc))
            self._flush(batch)  # what was read stays, whatever happens next
            batch = _Batch()
        return report

    # --- queries ----------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with views over the committed parts and ``inputs_resolved``.

        ``inputs_resolved`` takes each input's address and value from the spent output when
        that output is in the store (``derived`` false), otherwise the address read from the
        spending script (``derived`` true, value unknown).
        """
        con = duckdb.connect(":memory:")
        for table, schema in {**SCHEMAS, **SIDE_SCHEMAS}.items():
            files = [str(p) for p in self.parts(table)]
            # The relational API takes the file list as values: no SQL built from paths.
            relation = con.read_parquet(files) if files else con.from_arrow(
                schema.empty_table())
            relation.create_view(table)
        con.execute("""
            CREATE VIEW inputs_resolved AS
            SELECT i.txid, i.vin, i.prev_txid, i.prev_vout, i.block_hash, i.time,
                   o.value AS value,
                   coalesce(o.address, i.derived_address) AS address,
                   coalesce(o.script_type, i.derived_type) AS script_type,
                   (o.txid IS NULL AND i.derived_address IS NOT NULL) AS derived,
                   (i.prev_vout = 4294967295
                    AND i.prev_txid = repeat('0', 64)) AS is_coinbase
            FROM inputs i LEFT JOIN outputs o
              ON o.txid = i.prev_txid AND o.vout = i.prev_vout
        """)
        return con

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(TABLES, 0)
        for entry in self._entries():
            for table in TABLES:
                totals[table] += int(entry["counts"].get(table, 0))
        return totals

    def transaction(self, txid: str) -> dict[str, Any] | None:
        con = self.connect()
        row = con.execute(
            "SELECT txid, wtxid, block_hash, time, version, locktime, size, vsize, "
            "is_coinbase, segwit FROM transactions WHERE txid = ? LIMIT 1", [txid]).fetchone()
        if row is None:
            return None
        keys = ("txid", "wtxid", "block_hash", "time", "version", "locktime", "size", "vsize",
                "is_coinbase", "segwit")
        result: dict[str, Any] = dict(zip(keys, row, strict=True))
        result["inputs"] = [
            {"vin": r[0], "prev_txid": r[1], "prev_vout": r[2], "value": r[3],
             "address": r[4], "script_type": r[5], "derived": r[6], "coinbase": r[7]}
            for r in con.execute(
                "SELECT vin, prev_txid, prev_vout, value, address, script_type, derived, "
                "is_coinbase FROM inputs_resolved WHERE txid = ? ORDER BY vin",
                [txid]).fetchall()
        ]
        result["outputs"] = [
            {"vout": r[0], "value": r[1], "script_type": r[2], "address": r[3],
             "spent_by": r[4]}
            for r in con.execute(
                "SELECT o.vout, o.value, o.script_type, o.address, i.txid FROM outputs o "
                "LEFT JOIN inputs i ON i.prev_txid = o.txid AND i.prev_vout = o.vout "
                "WHERE o.txid = ? ORDER BY o.vout", [txid]).fetchall()
        ]
        return result

    def address(self, address: str) -> dict[str, Any]:
        """Received, sent and balance in satoshi as far as the store knows, first/last seen."""
        con = self.connect()
        received, n_out, first_out, last_out = con.execute(
            "SELECT coalesce(sum(value), 0), count(*), min(time), max(time) FROM outputs "
            "WHERE address = ?", [address]).fetchone() or (0, 0, None, None)
        sent, n_in, unknown, first_in, last_in = con.execute(
            "SELECT coalesce(sum(value), 0), count(*), count(*) FILTER (WHERE value IS NULL), "
            "min(time), max(time) FROM inputs_resolved WHERE address = ?",
            [address]).fetchone() or (0, 0, 0, None, None)
        times = [t for t in (first_out, last_out, first_in, last_in) if t is not None]
        return {
            "address": address, "received": int(received), "sent": int(sent),
            "balance": int(received) - int(sent), "outputs": int(n_out), "inputs": int(n_in),
            "inputs_of_unknown_value": int(unknown),
            "first_seen": _iso(min(times)) if times else None,
            "last_seen": _iso(max(times)) if times else None,
        }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
