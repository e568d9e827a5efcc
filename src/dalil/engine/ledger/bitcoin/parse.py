"""Parse Bitcoin blocks and transactions: raw, hex, and Bitcoin Core ``blk*.dat`` framing.

Everything is read from one ``memoryview`` with ``struct.unpack_from``; a script or a witness
item is a ``bytes`` slice, never a per-byte Python loop. Every length read from the data is
checked against what is left, so that a truncated block or a lying length field raises
:class:`ParseError` naming the source and the byte offset, never an ``IndexError``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

# Network magic bytes of the P2P protocol, also the record marker of blk*.dat files.
MAGICS: dict[bytes, str] = {
    bytes.fromhex("f9beb4d9"): "mainnet",
    bytes.fromhex("0b110907"): "testnet",
    bytes.fromhex("1c163f28"): "testnet4",
    bytes.fromhex("0a03cf40"): "signet",
    bytes.fromhex("fabfb5da"): "regtest",
}
MAX_BLOCK_SIZE = 4_000_000  # consensus limit on the serialized size (weight / 1)

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<i32s32sIII")
_sha256 = hashlib.sha256


class ParseError(ValueError):
    """Malformed input: says which source and at which byte offset."""

    def __init__(self, message: str, *, source: str = "", offset: int | None = None) -> None:
        self.source = source
        self.offset = offset
        where = source or "input"
        if offset is not None:
            where += f" at byte {offset}"
        super().__init__(f"{where}: {message}")


def dsha256(data: bytes | memoryview) -> bytes:
    return _sha256(_sha256(data).digest()).digest()


@dataclass(frozen=True, slots=True)
class TxIn:
    prev_txid: str  # display (big-endian) hex; all zeros for a coinbase
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...]

    @property
    def is_coinbase(self) -> bool:
        return self.prev_vout == 0xFFFFFFFF and self.prev_txid == "0" * 64


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int  # satoshi
    script_pubkey: bytes


@dataclass(frozen=True, slots=True)
class Transaction:
    txid: str
    wtxid: str
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    size: int  # serialized size with witness
    base_size: int  # serialized size without witness

    @property
    def is_segwit(self) -> bool:
        return self.size != self.base_size

    @property
    def weight(self) -> int:
        return self.base_size * 3 + self.size

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase


@dataclass(frozen=True, slots=True)
class BlockHeader:
    version: int
    prev_hash: str
    merkle_root: str
    timestamp: int
    bits: int
    nonce: int
    hash: str


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...]
    size: int
    source: str = ""
    offset: int = 0  # offset of the block (after the blk framing) in its source
    network: str | None = None  # from the blk framing's magic, when there was one

    @property
    def hash(self) -> str:
        return self.header.hash

    @property
    def height(self) -> int | None:
        """The BIP34 height pushed first in the coinbase (version >= 2 blocks), else None."""
        if self.header.version < 2 or not self.transactions:
            return None
        coinbase = self.transactions[0]
        if not coinbase.is_coinbase:
            return None
        return _bip34_height(coinbase.inputs[0].script_sig)


def _bip34_height(script: bytes) -> int | None:
    # Bitcoin Core writes heights 1 to 16 as OP_1..OP_16 (CScript() << height uses the
    # small-integer opcodes), and 0 as OP_0; larger heights as a minimal little-endian push.
    if not script:
        return None
    if script[0] == 0x00:
        return 0
    if 0x51 <= script[0] <= 0x60:
        return script[0] - 0x50
    if not 1 <= script[0] <= 8 or len(script) < 1 + script[0]:
        return None
    return int.from_bytes(script[1 : 1 + script[0]], "little")


# A transaction as the parser reads it, before any object is built: txid, wtxid, version,
# inputs as (previous txid in internal byte order, vout, scriptSig, sequence), one witness
# stack per input, outputs as (value, scriptPubKey), locktime, size, size without witness.
# ``LedgerStore`` turns these straight into columns (see :func:`iter_file_rows`).
TxRow = tuple[str, str, int, list[tuple[bytes, int, bytes, int]], list[tuple[bytes, ...]],
              list[tuple[int, bytes]], int, int, int]
COINBASE_PREV = bytes(32)


def _to_transaction(row: TxRow) -> Transaction:
    txid, wtxid, version, raw_inputs, witnesses, outputs, locktime, size, base_size = row
    inputs = tuple(
        TxIn(prev[::-1].hex(), vout, script, seq, wit)
        for (prev, vout, script, seq), wit in zip(raw_inputs, witnesses, strict=True)
    )
    return Transaction(txid, wtxid, version, inputs,
                       tuple([TxOut(value, script) for value, script in outputs]), locktime,
                       size, base_size)


def tx_row(tx: Transaction) -> TxRow:
    """The row of a transaction object (the inverse of what the parser builds it from)."""
    return (tx.txid, tx.wtxid, tx.version,
            [(bytes.fromhex(i.prev_txid)[::-1], i.prev_vout, i.script_sig, i.sequence)
             for i in tx.inputs],
            [i.witness for i in tx.inputs], [(o.value, o.script_pubkey) for o in tx.outputs],
            tx.locktime, tx.size, tx.base_size)


def is_coinbase_row(row: TxRow) -> bool:
    inputs = row[3]
    return len(inputs) == 1 and inputs[0][1] == 0xFFFFFFFF and inputs[0][0] == COINBASE_PREV


@dataclass(frozen=True, slots=True)
class RawBlock:
    """A block whose transactions are left as :data:`TxRow` tuples: what the store reads."""

    header: BlockHeader
    rows: list[TxRow]
    size: int
    source: str = ""
    offset: int = 0
    network: str | None = None

    @property
    def hash(self) -> str:
        return self.header.hash

    @property
    def height(self) -> int | None:
        """As :attr:`Block.height`."""
        if self.header.version < 2 or not self.rows or not is_coinbase_row(self.rows[0]):
            return None
        return _bip34_height(self.rows[0][3][0][2])


def merkle_root(txids: list[bytes]) -> bytes:
    """Merkle root over internal-order (little-endian) hashes, Bitcoin's odd-duplicate rule."""
    if not txids:
        raise ValueError("a block has at least one transaction")
    level = txids
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class _Reader:
    """Reads one buffer; ``pos`` is a plain int attribute for speed."""

    __slots__ = ("buf", "end", "pos", "source")

    def __init__(self, buf: memoryview, pos: int, end: int, source: str) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end
        self.source = source

    def fail(self, message: str, offset: int | None = None) -> ParseError:
        return ParseError(message, source=self.source, offset=self.pos if offset is None
                          else offset)

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise self.fail(f"truncated {what}: needs {n} bytes, {self.end - self.pos} left")

    def varint(self, what: str) -> int:
        self.need(1, what)
        buf = self.buf
        first = buf[self.pos]
        if first < 0xFD:
            self.pos += 1
            return first
        size = 2 if first == 0xFD else 4 if first == 0xFE else 8
        self.need(1 + size, what)
        value = int.from_bytes(buf[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return value

    def blob(self, what: str) -> bytes:
        n = self.varint(what)
        if self.pos + n > self.end:
            raise self.fail(f"{what} claims {n} bytes, only {self.end - self.pos} left")
        start = self.pos
        self.pos = start + n
        return bytes(self.buf[start : start + n])

    def transaction(self) -> Transaction:
        return _to_transaction(self.tx_row())

    def tx_row(self) -> TxRow:
        # The hot loop: locals instead of attributes, one-byte varints inline; the slow
        # path (``self.varint`` / ``self.blob``) handles the rest and every bounds error.
        buf = self.buf
        start = self.pos
        end_all = self.end
        self.need(10, "transaction")
        version = _I32.unpack_from(buf, start)[0]
        pos = start + 4
        segwit = buf[pos] == 0 and buf[pos + 1] == 1
        if segwit:
            pos += 2
        self.pos = pos
        body_start = pos
        n_in = self.varint("input count")
        if n_in > (end_all - self.pos) // 41:
            raise self.fail(f"input count {n_in} cannot fit in the bytes left", pos)
        raw_inputs: list[tuple[bytes, int, bytes, int]] = []
        u32 = _U32.unpack_from
        pos = self.pos
        for _ in range(n_in):
            if pos + 41 > end_all:
                self.pos = pos
                raise self.fail("truncated input")
            prev = bytes(buf[pos : pos + 32])
            vout = u32(buf, pos + 32)[0]
            size = buf[pos + 36]
            if size < 0xFD:
                pos += 37
                if pos + size + 4 > end_all:
                    self.pos = pos
                    raise self.fail(f"scriptSig claims {size} bytes, {end_all - pos} left")
                script = bytes(buf[pos : pos + size])
                pos += size
            else:
                self.pos = pos + 36
                script = self.blob("scriptSig")
                pos = self.pos
                if pos + 4 > end_all:
                    raise self.fail("truncated sequence")
            raw_inputs.append((prev, vout, script, u32(buf, pos)[0]))
            pos += 4
        self.pos = pos
        n_out = self.varint("output count")
        pos = self.pos
        if n_out > (end_all - pos) // 9:
            raise self.fail(f"output count {n_out} cannot fit in the bytes left")
        outputs: list[tuple[int, bytes]] = []
        q64 = _U64.unpack_from
        for _ in range(n_out):
            if pos + 9 > end_all:
                self.pos = pos
                raise self.fail("truncated output")
            value = q64(buf, pos)[0]
            size = buf[pos + 8]
            if size < 0xFD:
                pos += 9
                if pos + size > end_all:
                    self.pos = pos
                    raise self.fail(f"scriptPubKey claims {size} bytes, {end_all - pos} left")
                outputs.append((value, bytes(buf[pos : pos + size])))
                pos += size
            else:
                self.pos = pos + 8
                outputs.append((value, self.blob("scriptPubKey")))
                pos = self.pos
        self.pos = body_end = pos
        witnesses: list[tuple[bytes, ...]]
        if segwit:
            if n_in == 0:
                raise self.fail("segwit marker on a transaction without inputs", start)
            witnesses = []
            pos = self.pos
            for _ in range(n_in):
                if pos < end_all and buf[pos] < 0xFD:
                    count = buf[pos]
                    pos += 1
                else:
                    self.pos = pos
                    count = self.varint("witness item count")
                    pos = self.pos
                if count > end_all - pos:
                    self.pos = pos
                    raise self.fail(f"witness claims {count} items, too many for the bytes left")
                items = []
                for _ in range(count):
                    size = buf[pos] if pos < end_all else 0xFF
                    if size < 0xFD and pos + 1 + size <= end_all:
                        items.append(bytes(buf[pos + 1 : pos + 1 + size]))
                        pos += 1 + size
                    else:
                        self.pos = pos
                        items.append(self.blob("witness item"))
                        pos = self.pos
                witnesses.append(tuple(items))
            self.pos = pos
        else:
            witnesses = [()] * n_in
        self.need(4, "locktime")
        locktime = u32(buf, self.pos)[0]
        self.pos += 4
        end = self.pos
        raw = buf[start:end]
        if segwit:
            stripped = b"".join((buf[start : start + 4], buf[body_start:body_end],
                                 buf[end - 4 : end]))
            txid = dsha256(stripped)[::-1].hex()
            wtxid = dsha256(raw)[::-1].hex()
            base_size = len(stripped)
        else:
            txid = wtxid = dsha256(raw)[::-1].hex()
            base_size = end - start
        return (txid, wtxid, version, raw_inputs, witnesses, outputs, locktime, end - start,
                base_size)

    def block_rows(self, check_merkle: bool) -> tuple[BlockHeader, list[TxRow], int]:
        """The header and the transaction rows of the block at ``pos``, and where it began."""
        start = self.pos
        self.need(81, "block header")
        buf = self.buf
        version, prev, merkle, ts, bits, nonce = _HEADER.unpack_from(buf, start)
        block_hash = dsha256(buf[start : start + 80])[::-1].hex()
        header = BlockHeader(version, prev[::-1].hex(), merkle[::-1].hex(), ts, bits, nonce,
                             block_hash)
        self.pos = start + 80
        count = self.varint("transaction count")
        if count == 0 or count > (self.end - self.pos) // 60:
            raise self.fail(f"block {block_hash}: transaction count {count} is impossible "
                            f"for the {self.end - self.pos} bytes left", start + 80)
        txs: list[TxRow] = []
        for _ in range(count):
            tx_at = self.pos
            try:
                txs.append(self.tx_row())
            except ParseError as exc:
                raise ParseError(f"block {block_hash}, transaction {len(txs)}: "
                                 f"{exc.args[0].split(': ', 1)[-1]}", source=self.source,
                                 offset=exc.offset if exc.offset is not None else tx_at) from None
        if check_merkle:
            computed = merkle_root([bytes.fromhex(t[0])[::-1] for t in txs])
            if computed != merkle:
                raise self.fail(
                    f"block {block_hash}: merkle root of its transactions "
                    f"{computed[::-1].hex()} differs from the header's {merkle[::-1].hex()}",
                    start)
        return header, txs, start

    def block(self, *, check_merkle: bool = True, network: str | None = None) -> Block:
        header, rows, start = self.block_rows(check_merkle)
        return Block(header, tuple(map(_to_transaction, rows)), self.pos - start, self.source,
                     start, network)

    def raw_block(self, *, check_merkle: bool = True, network: str | None = None) -> RawBlock:
        header, rows, start = self.block_rows(check_merkle)
        return RawBlock(header, rows, self.pos - start, self.source, start, network)


def parse_transaction(data: bytes | memoryview, *, source: str = "") -> Transaction:
    """One serialized transaction; every byte must belong to it."""
    view = memoryview(data)
    reader = _Reader(view, 0, len(view), source)
    tx = reader.transaction()
    if reader.pos != len(view):
        raise reader.fail(f"{len(view) - reader.pos} bytes after the transaction")
    return tx


_B = TypeVar("_B", Block, RawBlock)
# How a reader positioned on a block turns it into a Block or a RawBlock.
_Make = Callable[[_Reader, bool, str | None], _B]


def _make_block(reader: _Reader, check_merkle: bool, network: str | None) -> Block:
    return reader.block(check_merkle=check_merkle, network=network)


def _make_raw(reader: _Reader, check_merkle: bool, network: str | None) -> RawBlock:
    return reader.raw_block(check_merkle=check_merkle, network=network)


def _one_block(data: bytes | memoryview, source: str, check_merkle: bool,
               make: _Make[_B]) -> _B:
    view = memoryview(data)
    reader = _Reader(view, 0, len(view), source)
    block = make(reader, check_merkle, None)
    if reader.pos != len(view):
        raise reader.fail(f"{len(view) - reader.pos} bytes after block {block.hash}")
    return block


def parse_block(data: bytes | memoryview, *, source: str = "", check_merkle: bool = True) -> Block:
    """One serialized block; every byte must belong to it."""
    return _one_block(data, source, check_merkle, _make_block)


def iter_blk(data: bytes | memoryview, *, source: str = "",
             check_merkle: bool = True) -> Iterator[Block]:
    """Blocks of a Bitcoin Core ``blk*.dat`` file: (magic, length, block) records in any order.

    Zero bytes at the end (Core pre-allocates its files) end the file. A record with an
    unknown magic or a length that points past the end raises :class:`ParseError` after the
    blocks before it were yielded.
    """
    yield from _iter_blk(data, source, check_merkle, _make_block)


def _iter_blk(data: bytes | memoryview, source: str, check_merkle: bool,
              make: _Make[_B]) -> Iterator[_B]:
    view = memoryview(data)
    pos, end = 0, len(view)
    while pos < end:
        if pos + 8 > end:
            if not any(view[pos:end]):
                return
            raise ParseError(f"truncated record header ({end - pos} bytes)", source=source,
                             offset=pos)
        magic = bytes(view[pos : pos + 4])
        if magic == b"\0\0\0\0" and not any(view[pos:end]):
            return
        network = MAGICS.get(magic)
        if network is None:
            raise ParseError(f"unknown magic {magic.hex()} (not a blk*.dat record)",
                             source=source, offset=pos)
        length = _U32.unpack_from(view, pos + 4)[0]
        if length < 81 or length > MAX_BLOCK_SIZE or pos + 8 + length > end:
            raise ParseError(f"record length {length} is impossible ({end - pos - 8} bytes "
                             f"left)", source=source, offset=pos + 4)
        reader = _Reader(view, pos + 8, pos + 8 + length, source)
        block = make(reader, check_merkle, network)
        if reader.pos != pos + 8 + length:
            raise ParseError(f"block {block.hash} ends {pos + 8 + length - reader.pos} bytes "
                             f"before its record", source=source, offset=reader.pos)
        yield block
        pos += 8 + length


def _maybe_hex(data: bytes) -> bytes | None:
    text = data.strip()
    if len(text) < 20 or len(text) % 2:
        return None
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def parse_bytes(data: bytes, *, source: str = "",
                check_merkle: bool = True) -> Iterator[Block | Transaction]:
    """Whatever ``data`` holds: blk framing, a raw block, a raw transaction, or their hex."""
    yield from _parse_bytes(data, source, check_merkle, _make_block)


def _parse_bytes(data: bytes, source: str, check_merkle: bool,
                 make: _Make[_B]) -> Iterator[_B | Transaction]:
    decoded = _maybe_hex(data)
    if decoded is not None:
        data = decoded
    if data[:4] in MAGICS:
        yield from _iter_blk(data, source, check_merkle, make)
        return
    block_error: ParseError | None = None
    try:
        block = _one_block(data, source, check_merkle, make)
    except ParseError as exc:
        block_error = exc
    else:
        yield block
        return
    try:
        tx = parse_transaction(data, source=source)
    except ParseError:
        raise block_error from None
    yield tx


def _read(path: str | Path) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror or exc}", source=str(p)) from None
    if not data:
        raise ParseError("empty file", source=str(p))
    return data


def parse_file(path: str | Path, *, check_merkle: bool = True) -> Iterator[Block | Transaction]:
    """Blocks (or a lone transaction) of one file, read once into memory."""
    yield from _parse_bytes(_read(path), str(Path(path)), check_merkle, _make_block)


def iter_file_rows(path: str | Path, *,
                   check_merkle: bool = True) -> Iterator[RawBlock | Transaction]:
    """As :func:`parse_file`, with each block's transactions left as :data:`TxRow` tuples.

    The same parser and the same checks, without building a ``Transaction``, ``TxIn`` and
    ``TxOut`` per transaction, input and output: what bulk ingestion reads.
    """
    yield from _parse_bytes(_read(path), str(Path(path)), check_merkle, _make_raw)
