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
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import is_not, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dalil.engine.ledger.bitcoin.address import MAINNET, NETWORKS, Network
from dalil.engine.ledger.bitcoin.batch import Destination, encode_many
from dalil.engine.ledger.bitcoin.parse import (
    COINBASE_PREV,
    ParseError,
    RawBlock,
    Transaction,
    TxRow,
    is_coinbase_row,
    iter_file_rows,
    tx_row,
)
from dalil.engine.ledger.bitcoin.script import derive_spend, destination

if TYPE_CHECKING:
    import duckdb  # imported when a query needs it: ingestion does not

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
FLUSH_ROWS = 500_000  # rows (blocks + transactions + inputs + outputs) per part at most
# After each file, its rows are committed once this many are waiting; smaller files (single
# raw blocks) are grouped into one part: fewer, larger Parquet files for DuckDB and Spark,
# and one fsync of the manifest rather than one per file.
FILE_FLUSH_ROWS = 100_000
# Dictionary-encode only the columns with few distinct values per part: on hashes, scripts
# and addresses a dictionary is built and then abandoned (a sixth of the write time).
_DICTIONARY = ["block_hash", "time", "script_type", "derived_type", "network", "source"]
_MAX_PENDING_PARTS = 2  # parts built and waiting for the writer thread


@dataclass
class IngestReport:
    blocks: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    skipped_blocks: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        for name in ("blocks", "transactions", "inputs", "outputs", "skipped_blocks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "transactions": self.transactions,
                "inputs": self.inputs, "outputs": self.outputs,
                "skipped_blocks": self.skipped_blocks, "errors": list(self.errors)}


_NUMPY_TYPES: dict[pa.DataType, type[np.generic]] = {
    pa.int32(): np.int32, pa.int64(): np.int64, pa.uint32(): np.uint32,
}
_MAX_OFFSET = 2**31 - 1


def _column(values: list[Any], type_: pa.DataType) -> pa.Array:
    """An Arrow array of ``values`` assembled from buffers (one join, one numpy conversion).

    Faster than ``pa.array`` on Python lists, and it keeps pandas out of the process:
    ``pa.array`` imports pandas (0.2-0.4 s) the first time it runs when pandas is installed.
    """
    n = len(values)
    original = values
    validity = None
    null_count = 0
    if None in values:
        valid = np.fromiter(map(is_not, values, repeat(None)), dtype=np.bool_, count=n)
        null_count = n - int(np.count_nonzero(valid))
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        fill: Any = "" if type_ == pa.string() else b"" if type_ == pa.binary() else 0
        values = [fill if v is None else v for v in values]
    if type_ == pa.string() or type_ == pa.binary():
        if type_ == pa.string():
            text = "".join(values)
            data = text.encode()
            if len(data) != len(text):  # not all ASCII: lengths in bytes, value by value
                values = [v.encode() for v in values]
                data = b"".join(values)
        else:
            data = b"".join(values)
        if len(data) > _MAX_OFFSET:  # beyond 32-bit offsets: let Arrow chunk it
            return pa.array(original, type_)  # pragma: no cover
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.fromiter(map(len, values), dtype=np.int32, count=n), out=offsets[1:])
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    elif type_ == pa.bool_():
        bits = np.packbits(np.array(values, dtype=np.bool_), bitorder="little")
        buffers = [validity, pa.py_buffer(bits)]
    else:
        buffers = [validity, pa.py_buffer(np.array(values, dtype=_NUMPY_TYPES[type_]))]
    return pa.Array.from_buffers(type_, n, buffers, null_count=null_count)


def _table(columns: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([_column(columns[f.name], f.type) for f in schema],
                                schema=schema)


class _Batch:
    """The rows of one part, as Python lists per column, filled a block at a time."""

    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {
            name: {f.name: [] for f in schema} for name, schema in SCHEMAS.items()
        }
        self.keys: list[str] = []
        self.rows = 0
        # Addresses are encoded at flush time, a whole batch at once (see bitcoin.batch);
        # ``spans`` says which network each run of inputs and outputs belongs to.
        self.in_dest: list[Destination | None] = []
        self.out_dest: list[Destination | None] = []
        self.spans: list[tuple[Network, int, int, int, int]] = []

    def add_rows(self, rows: Sequence[TxRow], block_hash: str | None, time: int | None,
                 network: Network) -> None:
        """Rows of the transactions ``rows`` (positions 0, 1, ... in their block), a column
        at a time, straight from the parser's tuples (see ``parse.TxRow``)."""
        n = len(rows)
        t = self.cols["transactions"]
        txids = list(map(itemgetter(0), rows))
        t["txid"] += txids
        t["wtxid"] += map(itemgetter(1), rows)
        t["block_hash"] += [block_hash] * n
        t["position"] += range(n)
        t["time"] += [time] * n
        t["version"] += map(itemgetter(2), rows)
        t["locktime"] += map(itemgetter(6), rows)
        t["size"] += map(itemgetter(7), rows)
        t["vsize"] += [(r[8] * 3 + r[7] + 3) // 4 for r in rows]
        t["is_coinbase"] += map(is_coinbase_row, rows)
        t["segwit"] += [r[7] != r[8] for r in rows]
        n_ins = [len(r[3]) for r in rows]
        n_outs = [len(r[5]) for r in rows]
        t["n_inputs"] += n_ins
        t["n_outputs"] += n_outs

        ins = [x for r in rows for x in r[3]]
        wits = [w for r in rows for w in r[4]]
        i = self.cols["inputs"]
        i["txid"] += [txid for txid, k in zip(txids, n_ins, strict=True) for _ in range(k)]
        i["vin"] += [vin for k in n_ins for vin in range(k)]
        i["prev_txid"] += [x[0][::-1].hex() for x in ins]
        i["prev_vout"] += map(itemgetter(1), ins)
        i["sequence"] += map(itemgetter(3), ins)
        i["script_sig"] += map(itemgetter(2), ins)
        i["witness_items"] += map(len, wits)
        # A coinbase input derives nothing.
        derived = [None if x[1] == 0xFFFFFFFF and x[0] == COINBASE_PREV
                   else derive_spend(x[2], w) for x, w in zip(ins, wits, strict=True)]
        # ScriptType members are str: the columns take them as they are (``.value`` is a
        # slow descriptor call per row).
        i["derived_type"] += [d[0] if d else None for d in derived]
        i["block_hash"] += [block_hash] * len(ins)
        i["time"] += [time] * len(ins)

        outs = [x for r in rows for x in r[5]]
        kinds = [destination(x[1]) for x in outs]
        o = self.cols["outputs"]
        o["txid"] += [txid for txid, k in zip(txids, n_outs, strict=True) for _ in range(k)]
        o["vout"] += [vout for k in n_outs for vout in range(k)]
        o["value"] += map(itemgetter(0), outs)
        o["script_type"] += [k[0] for k in kinds]
        o["script_pubkey"] += map(itemgetter(1), outs)
        o["block_hash"] += [block_hash] * len(outs)
        o["time"] += [time] * len(outs)

        in_at, out_at = len(self.in_dest), len(self.out_dest)
        self.in_dest += [d[1] if d else None for d in derived]
        self.out_dest += [k[1] for k in kinds]
        self.spans.append((network, in_at, len(self.in_dest), out_at, len(self.out_dest)))
        self.rows += n + len(ins) + len(outs)

    def add_tx(self, tx: Transaction, network: Network) -> None:
        """One lone transaction (not in a block: no block hash, time, position 0)."""
        self.add_rows((tx_row(tx),), None, None, network)

    def encode_addresses(self) -> None:
        """Fill the address columns: per network, inputs and outputs in one call (so that an
        address both received and spent in the batch is encoded once)."""
        n_in = len(self.in_dest)
        networks = {net.name: net for net, *_ in self.spans}
        if len(networks) <= 1:
            net = next(iter(networks.values()), MAINNET)
            encoded = encode_many(self.in_dest + self.out_dest, net)
            self.cols["inputs"]["derived_address"] = encoded[:n_in]
            self.cols["outputs"]["address"] = encoded[n_in:]
            return
        in_addr: list[str | None] = [None] * n_in
        out_addr: list[str | None] = [None] * len(self.out_dest)
        for name, net in networks.items():
            spans = [span for span in self.spans if span[0].name == name]
            picked_in = [k for _, a, b, _, _ in spans for k in range(a, b)]
            picked_out = [k for _, _, _, a, b in spans for k in range(a, b)]
            encoded = encode_many([self.in_dest[k] for k in picked_in]
                                  + [self.out_dest[k] for k in picked_out], net)
            for k, text in zip(picked_in, encoded[: len(picked_in)], strict=True):
                in_addr[k] = text
            for k, text in zip(picked_out, encoded[len(picked_in) :], strict=True):
                out_addr[k] = text
        self.cols["inputs"]["derived_address"] = in_addr
        self.cols["outputs"]["address"] = out_addr

    def add_block(self, block: RawBlock, network: Network) -> None:
        h = block.header
        b = self.cols["blocks"]
        for key, value in (("block_hash", h.hash), ("prev_hash", h.prev_hash),
                           ("merkle_root", h.merkle_root), ("version", h.version),
                           ("time", h.timestamp), ("bits", h.bits), ("nonce", h.nonce),
                           ("height", block.height), ("tx_count", len(block.rows)),
                           ("size", block.size), ("network", network.name),
                           ("source", block.source), ("offset", block.offset)):
            b[key].append(value)
        self.add_rows(block.rows, h.hash, h.timestamp, network)
        self.keys.append(h.hash)


def _read_files(paths: Sequence[Path], seen: set[str], network: Network,
                report: IngestReport, progress: Callable[[str, int], None] | None,
                ) -> Iterator[tuple[list[str], _Batch]]:
    """Parse ``paths`` in order into batches, skipping keys in ``seen`` (updated here).

    Yields ``(keys, batch)`` each time a part is ready: when a batch is full, after a file
    that failed half-way (the blocks before the failure stay), after a large file, and at
    the end. Errors and counts go to ``report``.
    """
    batch = _Batch()
    for path in paths:
        try:
            for item in iter_file_rows(path):
                if isinstance(item, RawBlock):
                    if item.hash in seen:
                        report.skipped_blocks += 1
                        continue
                    net = NETWORKS.get(item.network or "", network)
                    batch.add_block(item, net)
                    seen.add(item.hash)
                    report.blocks += 1
                    report.transactions += len(item.rows)
                    report.inputs += sum(len(r[3]) for r in item.rows)
                    report.outputs += sum(len(r[5]) for r in item.rows)
                else:
                    key = "tx:" + item.txid
                    if key in seen:
                        continue
                    batch.add_tx(item, network)
                    batch.keys.append(key)
                    seen.add(key)
                    report.transactions += 1
                    report.inputs += len(item.inputs)
                    report.outputs += len(item.outputs)
                if progress is not None:
                    progress(str(path), report.transactions)
                if batch.rows >= FLUSH_ROWS:
                    yield batch.keys, batch
                    batch = _Batch()
        except ParseError as exc:
            report.errors.append(str(exc))
            if batch.keys:
                yield batch.keys, batch  # the blocks read before the failure stay
                batch = _Batch()
        if batch.rows >= FILE_FLUSH_ROWS:
            yield batch.keys, batch  # a large file is committed as soon as it is read
            batch = _Batch()
    if batch.keys:
        yield batch.keys, batch


# --- parallel parsing ------------------------------------------------------------------
# Parsing is pure Python and holds the GIL, so threads cannot share it out: worker
# processes (forked, so they start in milliseconds with everything imported) each read a
# group of files into finished Arrow tables, and the parent commits them in order.

PARALLEL_MIN_BYTES = 2 * 1024**2  # below this, starting workers costs more than it saves
_MAX_WORKERS = 4
_WORKER_SEEN: set[str] = set()  # the keys committed before the run, inherited by fork


def _worker_count(paths: Sequence[Path], sizes: list[int], workers: int | None) -> int:
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if workers is None:
        setting = os.environ.get("DALIL_LEDGER_WORKERS", "").strip()
        if setting.isdigit():
            workers = int(setting)
        elif len(paths) < 2 or sum(sizes) < PARALLEL_MIN_BYTES:
            workers = 1
        else:
            workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    return max(1, min(workers, len(paths)))


def _parallel_groups(paths: Sequence[Path],
                     workers: int | None) -> tuple[list[list[Path]], int]:
    """Consecutive groups of ``paths`` of about equal size and the number of workers to
    read them, or ``([], 1)`` to read them in-process."""
    sizes = [p.stat().st_size if p.is_file() else 0 for p in paths]
    count = _worker_count(paths, sizes, workers)
    if count <= 1:
        return [], 1
    # Three groups per worker: a large file late in the list does not leave the others idle.
    target = max(1, sum(sizes) // (count * 3))
    groups: list[list[Path]] = [[]]
    filled = 0
    for path, size in zip(paths, sizes, strict=True):
        if groups[-1] and filled + size > target:
            groups.append([])
            filled = 0
        groups[-1].append(path)
        filled += size
    return groups, min(count, len(groups))


def _init_worker(seen: set[str]) -> None:
    global _WORKER_SEEN
    _WORKER_SEEN = seen


def _fork_pool(workers: int, seen: set[str]) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_worker, initargs=(seen,))


def _read_group(paths: list[Path], network: Network,
                ) -> tuple[list[tuple[list[str], dict[str, pa.Table]]], IngestReport]:
    """In a worker: the finished parts of ``paths`` and their report."""
    report = IngestReport()
    seen = set(_WORKER_SEEN)
    parts = [(keys, LedgerStore._tables(batch))
             for keys, batch in _read_files(paths, seen, network, report, None)]
    return parts, report


def _without_keys(tables: dict[str, pa.Table], keys: set[str],
                  report: IngestReport) -> dict[str, pa.Table]:
    """``tables`` without the blocks (and lone transactions) ``keys``; ``report`` adjusted.

    A block can be in two files of one run (btcd's blk_0_to_4.dat repeats the first blocks
    of other files): the worker that read the later file could not know, the parent does.
    """
    import pyarrow.compute as pc

    blocks = pa.array(sorted(k for k in keys if not k.startswith("tx:")), pa.string())
    lone = pa.array(sorted(k[3:] for k in keys if k.startswith("tx:")), pa.string())
    kept: dict[str, pa.Table] = {}
    for name, table in tables.items():
        in_block = pc.is_in(table["block_hash"], value_set=blocks)
        drop = pc.fill_null(in_block, False)
        if name != "blocks":
            lone_row = pc.and_(pc.is_null(table["block_hash"]),
                               pc.is_in(table["txid"], value_set=lone))
            drop = pc.or_(drop, lone_row)
        kept[name] = table.filter(pc.invert(drop))
        removed = table.num_rows - kept[name].num_rows
        if name == "blocks":
            report.blocks -= removed
            report.skipped_blocks += removed
        else:
            setattr(report, name, getattr(report, name) - removed)
    return kept


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

    def _next_part(self) -> int:
        return max((e["part"] for e in self._entries()), default=0) + 1

    @staticmethod
    def _tables(batch: _Batch) -> dict[str, pa.Table]:
        """The Arrow tables of a batch (addresses encoded here, all at once)."""
        batch.encode_addresses()
        return {table: _table(batch.cols[table], schema) for table, schema in SCHEMAS.items()}

    def _write_part(self, number: int, keys: list[str], tables: dict[str, pa.Table]) -> None:
        """Write each table of part ``number``, rename it into place, then commit the part."""
        counts: dict[str, int] = {}
        for table, data in tables.items():
            counts[table] = data.num_rows
            if not data.num_rows:
                continue
            directory = self.root / table
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"part-{number:06d}.parquet"
            tmp = path.with_suffix(".tmp")
            pq.write_table(data, tmp, compression="zstd", use_dictionary=_DICTIONARY)
            os.replace(tmp, path)
        entry = {"part": number, "keys": keys, "counts": counts,
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
               progress: Callable[[str, int], None] | None = None,
               workers: int | None = None) -> IngestReport:
        """Parse and append every block (or lone transaction) of ``paths``.

        A file that fails half-way keeps the blocks read before the failure (they are
        committed at once); its error is in the report and the next file is read. Small files
        share a part (see ``FILE_FLUSH_ROWS``). Parts are written and committed, in order,
        by one writer thread while the next file is parsed (Parquet encoding and fsync
        release the GIL); every part is committed before this returns or raises.

        ``workers`` processes parse groups of files side by side (default: one per CPU, up
        to four, when there are several files and at least ``PARALLEL_MIN_BYTES``); the
        parts they build are committed in the order of ``paths``, so the store is the same
        as with one worker. ``progress(path, transactions)`` is called as files are read.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        files = [Path(p) for p in paths]
        seen = self.ingested_keys()
        report = IngestReport()
        number = self._next_part()
        pending: deque[Future[None]] = deque()
        groups, processes = _parallel_groups(files, workers)
        # The pool is forked before the writer thread starts: a child never inherits a
        # thread (or a lock held by one) from this process.
        pool = _fork_pool(processes, seen) if groups else None
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dalil-ledger-writer")

        def commit(keys: list[str], tables: dict[str, pa.Table]) -> None:
            nonlocal number
            # Raise a failed write now; wait while too many parts are held in memory.
            while pending and (pending[0].done() or len(pending) >= _MAX_PENDING_PARTS):
                pending.popleft().result()
            pending.append(writer.submit(self._write_part, number, keys, tables))
            number += 1

        try:
            if pool is None:
                for keys, batch in _read_files(files, seen, network, report, progress):
                    commit(keys, self._tables(batch))
            else:
                futures = [pool.submit(_read_group, group, network) for group in groups]
                for group, future in zip(groups, futures, strict=True):
                    parts, part_report = future.result()
                    for keys, tables in parts:
                        fresh = [key for key in keys if key not in seen]
                        if len(fresh) != len(keys):  # repeated by an earlier group of this run
                            tables = _without_keys(tables, set(keys) - set(fresh), part_report)
                        seen.update(fresh)
                        if fresh:
                            commit(fresh, tables)
                    report.merge(part_report)
                    if progress is not None:
                        for path in group:
                            progress(str(path), report.transactions)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            writer.shutdown(wait=True)
        for done in pending:
            done.result()  # a failed write raises here
        return report

    # --- queries ----------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with views over the committed parts and ``inputs_resolved``.

        ``inputs_resolved`` takes each input's address and value from the spent output when
        that output is in the store (``derived`` false), otherwise the address read from the
        spending script (``derived`` true, value unknown).
        """
        import duckdb

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
        # The addresses table, derived rather than stored: its totals change with every
        # block ingested, and the append-only parts above are its single source of truth.
        con.execute("""
            CREATE VIEW addresses AS
            WITH received AS (
                SELECT address, sum(value) AS received, count(*) AS outputs,
                       min(time) AS first_out, max(time) AS last_out
                FROM outputs WHERE address IS NOT NULL GROUP BY address),
            spent AS (
                SELECT address, coalesce(sum(value), 0) AS sent, count(*) AS inputs,
                       count(*) FILTER (WHERE value IS NULL) AS inputs_of_unknown_value,
                       min(time) AS first_in, max(time) AS last_in
                FROM inputs_resolved WHERE address IS NOT NULL GROUP BY address)
            SELECT coalesce(r.address, s.address) AS address,
                   coalesce(r.received, 0) AS received, coalesce(s.sent, 0) AS sent,
                   coalesce(r.received, 0) - coalesce(s.sent, 0) AS balance,
                   coalesce(r.outputs, 0) AS outputs, coalesce(s.inputs, 0) AS inputs,
                   coalesce(s.inputs_of_unknown_value, 0) AS inputs_of_unknown_value,
                   least(r.first_out, s.first_in) AS first_seen,
                   greatest(r.last_out, s.last_in) AS last_seen
            FROM received r FULL OUTER JOIN spent s ON r.address = s.address
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
