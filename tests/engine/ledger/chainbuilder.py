"""A tiny builder of synthetic Bitcoin chains with a known structure, for ledger tests.

Transactions are serialised byte for byte (legacy format, empty scriptSigs: nothing is
signed), grouped into blocks with a correct merkle root and written in blk*.dat framing,
so that they go through the real parser and store. Addresses come from names: the
hash160 of a name is the first 20 bytes of its SHA-256, so ``chain.address("alice")`` is
the same in every test.

    chain = Chain()
    cb = chain.coinbase([("alice", 50_000)])
    t1 = chain.tx([(cb, 0)], [("bob", 30_000), ("alice2", 19_000)])
    chain.mine()
    chain.write(path)
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from dalil.engine.ledger.bitcoin.address import base58check_encode, segwit_encode

MAINNET_MAGIC = bytes.fromhex("f9beb4d9")


def dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def h160(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()[:20]


def script_for(name: str, kind: str = "p2pkh") -> bytes:
    h = h160(name)
    if kind == "p2pkh":
        return b"\x76\xa9\x14" + h + b"\x88\xac"
    if kind == "p2wpkh":
        return b"\x00\x14" + h
    if kind == "p2sh":
        return b"\xa9\x14" + h + b"\x87"
    raise ValueError(kind)


def address_of(name: str, kind: str = "p2pkh") -> str:
    h = h160(name)
    if kind == "p2pkh":
        return base58check_encode(0, h)
    if kind == "p2wpkh":
        return segwit_encode("bc", 0, h)
    if kind == "p2sh":
        return base58check_encode(5, h)
    raise ValueError(kind)


def serialize_tx(inputs: list[tuple[str, int, bytes]], outputs: list[tuple[int, bytes]],
                 *, version: int = 1, locktime: int = 0) -> bytes:
    """Legacy serialisation: inputs (prev txid hex, vout, scriptSig), outputs (value, script)."""
    raw = struct.pack("<i", version) + varint(len(inputs))
    for prev, vout, script_sig in inputs:
        raw += bytes.fromhex(prev)[::-1] + struct.pack("<I", vout) + varint(len(script_sig))
        raw += script_sig + b"\xff\xff\xff\xff"
    raw += varint(len(outputs))
    for value, script in outputs:
        raw += struct.pack("<q", value) + varint(len(script)) + script
    return raw + struct.pack("<I", locktime)


def txid_of(raw: bytes) -> str:
    return dsha(raw)[::-1].hex()


def merkle(hashes: list[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class Chain:
    """Pending transactions are mined into a block by :meth:`mine`, 600 s apart."""

    def __init__(self, start_time: int = 1_600_000_000) -> None:
        self.time = start_time
        self.prev = "00" * 32
        self.pending: list[bytes] = []
        self.blocks: list[bytes] = []
        self.block_times: list[int] = []
        self.kinds: dict[str, str] = {}
        self.values: dict[tuple[str, int], int] = {}
        self.height = 0
        self._coinbases = 0

    def address(self, name: str) -> str:
        return address_of(name, self.kinds.get(name, "p2pkh"))

    def kind(self, name: str, kind: str) -> None:
        """Make ``name``'s outputs use script type ``kind`` (p2pkh, p2wpkh, p2sh)."""
        self.kinds[name] = kind

    def _outputs(self, outputs: list[tuple[str, int]]) -> list[tuple[int, bytes]]:
        return [(value, script_for(name, self.kinds.get(name, "p2pkh")))
                for name, value in outputs]

    def coinbase(self, outputs: list[tuple[str, int]]) -> str:
        self._coinbases += 1
        tag = struct.pack("<I", self._coinbases) + b"dalil-test"
        raw = serialize_tx([("00" * 32, 0xFFFFFFFF, tag)], self._outputs(outputs))
        return self._add(raw, outputs)

    def tx(self, inputs: list[tuple[str, int]], outputs: list[tuple[str, int]]) -> str:
        raw = serialize_tx([(t, v, b"") for t, v in inputs], self._outputs(outputs))
        return self._add(raw, outputs)

    def _add(self, raw: bytes, outputs: list[tuple[str, int]]) -> str:
        self.pending.append(raw)
        txid = txid_of(raw)
        for k, (_name, value) in enumerate(outputs):
            self.values[(txid, k)] = value
        return txid

    def mine(self) -> str:
        """Put the pending transactions into a block; returns its hash."""
        if not self.pending:
            raise ValueError("nothing to mine")
        self.time += 600
        self.height += 1
        root = merkle([dsha(raw) for raw in self.pending])
        header = struct.pack("<i", 1) + bytes.fromhex(self.prev)[::-1] + root + struct.pack(
            "<III", self.time, 0x207FFFFF, self.height)
        block = header + varint(len(self.pending)) + b"".join(self.pending)
        self.prev = dsha(header)[::-1].hex()
        self.blocks.append(block)
        self.block_times.append(self.time)
        self.pending = []
        return self.prev

    def write(self, path: Path) -> Path:
        if self.pending:
            self.mine()
        with open(path, "wb") as handle:
            for block in self.blocks:
                handle.write(MAINNET_MAGIC + struct.pack("<I", len(block)) + block)
        return path


def laundering_chain() -> tuple[Chain, dict[str, str]]:
    """A small laundering flow whose taint is worked out by hand in the tests.

    ::

        cb  (coinbase) -> victim 100,000              cb2 (coinbase) -> clean 100,000
        t1: victim 100,000 -> thief 90,000                               (fee 10,000)
        t2: thief 90,000 + clean 100,000 -> mix_a 120,000, mix_b 60,000 (fee 10,000)
        t3: mix_a 120,000 -> deposit 50,000 (the exchange), mix_c 65,000 (fee 5,000)
        t4: deposit 50,000 -> hot 49,000 (the exchange moves it on)
        p1..p3: a peeling chain from peeler 1,000,000 (coinbase pc):
            p1: peeler -> peeler1 900,000 + shop1 90,000
            p2: peeler1 -> shop2 80,000 + peeler2 810,000
            p3: peeler2 -> peeler3 720,000 + shop3 80,000
    """
    c = Chain()
    ids: dict[str, str] = {}
    ids["cb"] = c.coinbase([("victim", 100_000)])
    ids["cb2"] = c.coinbase([("clean", 100_000)])
    ids["pc"] = c.coinbase([("peeler", 1_000_000)])
    c.mine()
    ids["t1"] = c.tx([(ids["cb"], 0)], [("thief", 90_000)])
    ids["p1"] = c.tx([(ids["pc"], 0)], [("peeler1", 900_000), ("shop1", 90_000)])
    c.mine()
    ids["t2"] = c.tx([(ids["t1"], 0), (ids["cb2"], 0)], [("mix_a", 120_000), ("mix_b", 60_000)])
    ids["p2"] = c.tx([(ids["p1"], 0)], [("shop2", 80_000), ("peeler2", 810_000)])
    c.mine()
    ids["t3"] = c.tx([(ids["t2"], 0)], [("deposit", 50_000), ("mix_c", 65_000)])
    ids["p3"] = c.tx([(ids["p2"], 1)], [("peeler3", 720_000), ("shop3", 80_000)])
    c.mine()
    ids["t4"] = c.tx([(ids["t3"], 0)], [("hot", 49_000)])
    c.mine()
    return c, ids
