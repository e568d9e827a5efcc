"""Evidence generator: a protocol-valid regtest Bitcoin chain with a planted laundering flow.

``build_chain(seed, start=...)`` returns a :class:`ChainScenario`: the bytes of a Bitcoin
Core ``blk00000.dat`` (regtest magic ``fabfb5da`` + length framing, starting with the
regtest genesis block), a Dalil tag list (CSV, the format of
:mod:`dalil.engine.ledger.tags`) attributing exchange addresses, and an answer key of what
was planted and how. ``ChainScenario.write(directory)`` puts them on disk.

Everything a node checks is real:

- secp256k1 keys derived from the seed (``sha256("dalil.scenarios.chain:<seed>:<label>")``),
  signatures by ``cryptography`` with RFC 6979 deterministic nonces, normalised to low S and
  strict DER; P2PKH inputs signed with the legacy sighash, P2WPKH and P2SH-P2WPKH inputs
  with the BIP-143 sighash (SIGHASH_ALL);
- blocks with a correct merkle root, a BIP-34 height in the coinbase (``CScript() << height
  << OP_0``, as Core's miner writes it), the BIP-141 witness commitment, the regtest subsidy
  (50 BTC halving every 150 blocks) plus fees, coinbase outputs spent only after 100
  confirmations, strictly increasing times, and proof of work: nBits ``207fffff`` with the
  nonce ground until the header hash is below the target (two tries on average);
- wallets behave as wallets do: fees from a fee rate and the virtual size, change at a
  random position, anti-fee-sniping locktime, RBF-signalling sequence numbers.

The planted flow: victims (funded by exchange withdrawals) pay a ransom address; the
perpetrator consolidates the ransom address and earlier campaign addresses in one
multi-input transaction; a peeling chain of N hops pays small amounts to cash-out
addresses; the remainder enters an equal-output CoinJoin with other participants; the
perpetrator's mixed output is deposited at an exchange deposit address, which the exchange
sweeps into its hot wallet. Background users move coins between themselves and to other
exchanges, so that the planted flow is not the only thing on the chain.

Determinism: every choice comes from ``random.Random("dalil.scenarios.chain:<seed>")``
and every time from ``start``; signatures are deterministic. The same seed and start give
byte-identical output on any machine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dalil.engine.ledger.bitcoin.address import (
    REGTEST,
    Network,
    base58check_encode,
    hash160,
    segwit_encode,
)

KEY_FORMAT = "dalil-chain-key/1"
REGTEST_MAGIC = bytes.fromhex("fabfb5da")
BITS = 0x207FFFFF
TARGET = 0x7FFFFF << (8 * (0x20 - 3))
SUBSIDY = 50 * 100_000_000
HALVING = 150  # regtest's halving interval
MATURITY = 100
COIN = 100_000_000
BLOCK_VERSION = 0x20000000
SEQUENCE_RBF = 0xFFFFFFFD
SIGHASH_ALL = 1
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1 order

# The regtest genesis block (Bitcoin Core chainparams): the first record of blk00000.dat.
GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
_GENESIS_TX = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d"
    "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f7220"
    "6f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff01"
    "00f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61"
    "deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000")
_GENESIS_TIME, _GENESIS_NONCE = 1296688602, 2

EXCHANGES = ("Tengri Exchange", "Caspian Coin", "Pamir Bit", "Oasis Crypto", "Altyn Trade",
             "Silk Ledger", "Aral Exchange", "Samruk Digital", "Karakum Pay", "Issyk Bit",
             "Zarafshan Crypto", "Tulpar Exchange")
KINDS = ("p2pkh", "p2wpkh", "p2sh-p2wpkh")
# Virtual size of an input / output of each kind, and a transaction's overhead (vbytes).
_IN_VSIZE = {"p2pkh": 148.0, "p2wpkh": 68.0, "p2sh-p2wpkh": 91.0}
_OUT_VSIZE = {"p2pkh": 34.0, "p2wpkh": 31.0, "p2sh-p2wpkh": 32.0}
_DENOMINATIONS = (1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000,
                  100_000_000, 200_000_000)


class ChainError(RuntimeError):
    """The chain could not be built (a bug, never the seed's fault): says which step."""


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def push(data: bytes) -> bytes:
    """The shortest push of ``data`` (up to 255 bytes) in a script."""
    if len(data) < 0x4C:
        return bytes([len(data)]) + data
    if len(data) <= 0xFF:
        return b"\x4c" + bytes([len(data)]) + data
    raise ValueError("push of more than 255 bytes")


def script_number(n: int) -> bytes:
    """``CScript() << n`` for a block height: OP_1..OP_16, or a minimal CScriptNum push."""
    if n == 0:
        return b"\x00"
    if 1 <= n <= 16:
        return bytes([0x50 + n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "little")
    if body[-1] & 0x80:
        body += b"\x00"
    return push(body)


def merkle_root(hashes_: Sequence[bytes]) -> bytes:
    level = list(hashes_)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# --- keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A secp256k1 key of one wallet address; ``kind`` is p2pkh, p2wpkh or p2sh-p2wpkh."""

    label: str
    kind: str
    private: ec.EllipticCurvePrivateKey = field(repr=False)
    pubkey: bytes  # compressed SEC1

    @property
    def h160(self) -> bytes:
        return hash160(self.pubkey)

    @property
    def redeem_script(self) -> bytes:
        return b"\x00\x14" + self.h160

    @property
    def script_pubkey(self) -> bytes:
        if self.kind == "p2pkh":
            return b"\x76\xa9\x14" + self.h160 + b"\x88\xac"
        if self.kind == "p2wpkh":
            return self.redeem_script
        return b"\xa9\x14" + hash160(self.redeem_script) + b"\x87"

    def address(self, network: Network = REGTEST) -> str:
        if self.kind == "p2pkh":
            return base58check_encode(network.p2pkh, self.h160)
        if self.kind == "p2wpkh":
            return segwit_encode(network.hrp, 0, self.h160)
        return base58check_encode(network.p2sh, hash160(self.redeem_script))

    def sign(self, digest: bytes) -> bytes:
        """DER signature (low S, RFC 6979 nonce) of a 32-byte sighash, plus SIGHASH_ALL."""
        der = self.private.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()),
                                                 deterministic_signing=True))
        r, s = decode_dss_signature(der)
        if s > N // 2:
            s = N - s
        return encode_dss_signature(r, s) + bytes([SIGHASH_ALL])


def derive_key(seed: int | str, label: str, kind: str) -> Key:
    if kind not in KINDS:
        raise ValueError(f"unknown key kind {kind!r}; one of {', '.join(KINDS)}")
    digest = hashlib.sha256(f"dalil.scenarios.chain:{seed}:{label}".encode()).digest()
    secret = int.from_bytes(digest, "big") % (N - 1) + 1
    private = ec.derive_private_key(secret, ec.SECP256K1())
    pub = private.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return Key(label, kind, private, pub)


# --- transactions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Utxo:
    txid: str
    vout: int
    value: int
    key: Key
    height: int  # of the block that holds it (for coinbase maturity); -1 while pending
    coinbase: bool = False


@dataclass
class BuiltTx:
    txid: str
    wtxid: str
    raw: bytes
    inputs: list[Utxo]
    outputs: list[tuple[int, bytes]]
    keys: list[Key | None]  # the key of each output, None for data outputs
    fee: int
    sighashes: list[bytes]
    label: str

    def utxo(self, vout: int, height: int = -1) -> Utxo:
        key = self.keys[vout]
        if key is None:
            raise ChainError(f"{self.label}: output {vout} has no key")
        return Utxo(self.txid, vout, self.outputs[vout][0], key, height)

    def vout_of(self, key: Key) -> int:
        return self.keys.index(key)


def _outpoint(u: Utxo) -> bytes:
    return bytes.fromhex(u.txid)[::-1] + struct.pack("<I", u.vout)


def _outputs_bytes(outputs: Sequence[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("<q", v) + varint(len(s)) + s for v, s in outputs)


def legacy_sighash(version: int, inputs: Sequence[Utxo], sequences: Sequence[int],
                   outputs: Sequence[tuple[int, bytes]], locktime: int, index: int,
                   script_code: bytes) -> bytes:
    """The original (pre-segwit) SIGHASH_ALL digest of input ``index``."""
    raw = struct.pack("<i", version) + varint(len(inputs))
    for i, (u, seq) in enumerate(zip(inputs, sequences, strict=True)):
        script = script_code if i == index else b""
        raw += _outpoint(u) + varint(len(script)) + script + struct.pack("<I", seq)
    raw += varint(len(outputs)) + _outputs_bytes(outputs)
    raw += struct.pack("<I", locktime) + struct.pack("<I", SIGHASH_ALL)
    return dsha256(raw)


def bip143_sighash(version: int, inputs: Sequence[Utxo], sequences: Sequence[int],
                   outputs: Sequence[tuple[int, bytes]], locktime: int, index: int,
                   script_code: bytes) -> bytes:
    """The BIP-143 (witness v0) SIGHASH_ALL digest of input ``index``."""
    hash_prevouts = dsha256(b"".join(_outpoint(u) for u in inputs))
    hash_sequence = dsha256(b"".join(struct.pack("<I", s) for s in sequences))
    hash_outputs = dsha256(_outputs_bytes(outputs))
    u = inputs[index]
    raw = (struct.pack("<i", version) + hash_prevouts + hash_sequence + _outpoint(u)
           + varint(len(script_code)) + script_code + struct.pack("<q", u.value)
           + struct.pack("<I", sequences[index]) + hash_outputs
           + struct.pack("<I", locktime) + struct.pack("<I", SIGHASH_ALL))
    return dsha256(raw)


def p2pkh_script_code(key: Key) -> bytes:
    return b"\x76\xa9\x14" + key.h160 + b"\x88\xac"


def serialize(version: int, inputs: Sequence[Utxo], script_sigs: Sequence[bytes],
              sequences: Sequence[int], outputs: Sequence[tuple[int, bytes]],
              witnesses: Sequence[Sequence[bytes]], locktime: int) -> tuple[bytes, bytes]:
    """(full serialisation, serialisation without witness)."""
    body = varint(len(inputs))
    for u, script, seq in zip(inputs, script_sigs, sequences, strict=True):
        body += _outpoint(u) + varint(len(script)) + script + struct.pack("<I", seq)
    body += varint(len(outputs)) + _outputs_bytes(outputs)
    head, tail = struct.pack("<i", version), struct.pack("<I", locktime)
    stripped = head + body + tail
    if not any(witnesses):
        return stripped, stripped
    wit = b"".join(varint(len(w)) + b"".join(varint(len(x)) + x for x in w) for w in witnesses)
    return head + b"\x00\x01" + body + wit + tail, stripped


def sign_transaction(inputs: Sequence[Utxo], outputs: Sequence[tuple[int, bytes]], *,
                     version: int = 2, locktime: int = 0,
                     sequence: int = SEQUENCE_RBF) -> tuple[bytes, bytes, list[bytes]]:
    """Sign every input with its key; returns (raw, stripped, sighash of each input)."""
    sequences = [sequence] * len(inputs)
    script_sigs: list[bytes] = []
    witnesses: list[list[bytes]] = []
    sighashes: list[bytes] = []
    for i, u in enumerate(inputs):
        key = u.key
        code = p2pkh_script_code(key)
        if key.kind == "p2pkh":
            digest = legacy_sighash(version, inputs, sequences, outputs, locktime, i, code)
            sig = key.sign(digest)
            script_sigs.append(push(sig) + push(key.pubkey))
            witnesses.append([])
        else:
            digest = bip143_sighash(version, inputs, sequences, outputs, locktime, i, code)
            sig = key.sign(digest)
            script_sigs.append(push(key.redeem_script) if key.kind == "p2sh-p2wpkh" else b"")
            witnesses.append([sig, key.pubkey])
        sighashes.append(digest)
    raw, stripped = serialize(version, inputs, script_sigs, sequences, outputs, witnesses,
                              locktime)
    return raw, stripped, sighashes


def estimate_vsize(in_kinds: Sequence[str], out_kinds: Sequence[str]) -> int:
    segwit = any(k != "p2pkh" for k in in_kinds)
    size = 10.0 + (0.5 if segwit else 0.0)
    size += sum(_IN_VSIZE[k] for k in in_kinds) + sum(_OUT_VSIZE[k] for k in out_kinds)
    return math.ceil(size)


# --- the chain ---------------------------------------------------------------------------


@dataclass
class _Block:
    height: int
    hash: str
    time: int
    raw: bytes
    txids: list[str]


class ChainBuilder:
    """Wallet-like transactions mined into regtest blocks; see the module docstring."""

    def __init__(self, seed: int | str, start_time: int) -> None:
        self.seed = seed
        self.time = start_time
        self.keys: dict[str, Key] = {}
        self.blocks: list[_Block] = []
        self.pending: list[BuiltTx] = []
        self.txs: dict[str, BuiltTx] = {}
        self.tx_height: dict[str, int] = {}
        self.spent: set[tuple[str, int]] = set()
        genesis_header = (struct.pack("<i", 1) + b"\0" * 32 + dsha256(_GENESIS_TX)
                          + struct.pack("<III", _GENESIS_TIME, BITS, _GENESIS_NONCE))
        genesis_hash = dsha256(genesis_header)[::-1].hex()
        if genesis_hash != GENESIS_HASH:
            raise ChainError(f"regtest genesis hashes to {genesis_hash}")
        self.blocks.append(_Block(0, genesis_hash, _GENESIS_TIME,
                                  genesis_header + b"\x01" + _GENESIS_TX,
                                  [dsha256(_GENESIS_TX)[::-1].hex()]))
        self.miner = self.key("miner", "p2wpkh")
        self.coinbases: list[Utxo] = []

    @property
    def height(self) -> int:
        return self.blocks[-1].height

    def key(self, label: str, kind: str) -> Key:
        if label not in self.keys:
            self.keys[label] = derive_key(self.seed, label, kind)
        return self.keys[label]

    def tx(self, label: str, inputs: Sequence[Utxo], payments: Sequence[tuple[Key, int]], *,
           change: Key | None = None, fee_rate: float = 5.0, rng: random.Random | None = None,
           fee_from: int | None = None) -> BuiltTx:
        """A signed transaction paying ``payments``; the rest minus the fee goes to ``change``.

        Without ``change`` the fee comes out of the payment at index ``fee_from`` (a sweep).
        The change goes to a random position when ``rng`` is given (wallets do that).
        """
        for u in inputs:
            if (u.txid, u.vout) in self.spent:
                raise ChainError(f"{label}: {u.txid}:{u.vout} is already spent")
            if u.coinbase and self.height + 1 - u.height < MATURITY:
                raise ChainError(f"{label}: coinbase {u.txid} is not mature")
        out_kinds = [k.kind for k, _ in payments] + ([change.kind] if change else [])
        fee = math.ceil(fee_rate * estimate_vsize([u.key.kind for u in inputs], out_kinds))
        total_in = sum(u.value for u in inputs)
        outs: list[tuple[Key, int]] = list(payments)
        if change is not None:
            rest = total_in - sum(v for _, v in payments) - fee
            if rest < 1000:
                raise ChainError(f"{label}: change of {rest} sat")
            position = rng.randint(0, len(outs)) if rng is not None else len(outs)
            outs.insert(position, (change, rest))
        elif fee_from is not None:
            key, value = outs[fee_from]
            outs[fee_from] = (key, total_in - sum(v for _, v in payments) + value - fee)
        if any(v <= 546 for _, v in outs):
            raise ChainError(f"{label}: an output at or below the dust limit")
        fee = total_in - sum(v for _, v in outs)
        if fee <= 0:
            raise ChainError(f"{label}: outputs exceed inputs by {-fee} sat")
        outputs = [(v, k.script_pubkey) for k, v in outs]
        raw, stripped, sighashes = sign_transaction(inputs, outputs, locktime=self.height)
        built = BuiltTx(dsha256(stripped)[::-1].hex(), dsha256(raw)[::-1].hex(), raw,
                        list(inputs), outputs, [k for k, _ in outs], fee, sighashes, label)
        for u in inputs:
            self.spent.add((u.txid, u.vout))
        self.pending.append(built)
        self.txs[built.txid] = built
        return built

    def mine(self, gap: int) -> _Block:
        """Mine the pending transactions ``gap`` seconds after the previous block."""
        height = self.height + 1
        self.time += max(1, gap)
        fees = sum(t.fee for t in self.pending)
        reward = (SUBSIDY >> (height // HALVING)) + fees
        wtxids = [b"\0" * 32] + [bytes.fromhex(t.wtxid)[::-1] for t in self.pending]
        reserved = b"\0" * 32
        commitment = b"\x6a\x24\xaa\x21\xa9\xed" + dsha256(merkle_root(wtxids) + reserved)
        script_sig = script_number(height) + b"\x00"
        coinbase_in = Utxo("00" * 32, 0xFFFFFFFF, 0, self.miner, -1)
        outputs = [(reward, self.miner.script_pubkey), (0, commitment)]
        raw, stripped = serialize(2, [coinbase_in], [script_sig], [0xFFFFFFFF], outputs,
                                  [[reserved]], 0)
        cb = BuiltTx(dsha256(stripped)[::-1].hex(), dsha256(raw)[::-1].hex(), raw,
                     [], outputs, [self.miner, None], 0, [], f"coinbase {height}")
        txs = [cb, *self.pending]
        root = merkle_root([bytes.fromhex(t.txid)[::-1] for t in txs])
        prev = bytes.fromhex(self.blocks[-1].hash)[::-1]
        head = struct.pack("<i", BLOCK_VERSION) + prev + root + struct.pack("<II", self.time,
                                                                            BITS)
        nonce = 0
        while True:
            header = head + struct.pack("<I", nonce)
            digest = dsha256(header)
            if int.from_bytes(digest, "little") <= TARGET:
                break
            nonce += 1
        raw_block = header + varint(len(txs)) + b"".join(t.raw for t in txs)
        block = _Block(height, digest[::-1].hex(), self.time, raw_block, [t.txid for t in txs])
        self.blocks.append(block)
        for t in txs:
            self.tx_height[t.txid] = height
            self.txs[t.txid] = t
        self.coinbases.append(Utxo(cb.txid, 0, reward, self.miner, height, coinbase=True))
        self.pending = []
        return block

    def blk(self) -> bytes:
        if self.pending:
            raise ChainError("transactions are pending: mine them first")
        return b"".join(REGTEST_MAGIC + struct.pack("<I", len(b.raw)) + b.raw
                        for b in self.blocks)


# --- the scenario ------------------------------------------------------------------------


@dataclass
class ChainScenario:
    """A generated chain: blk bytes, the tag list, and the answer key (a JSON document)."""

    seed: int | str
    blk: bytes
    tags_csv: str
    key: dict[str, Any]
    builder: ChainBuilder = field(repr=False)

    def write(self, directory: Path, *, blk_name: str = "blk00000.dat",
              tags_name: str = "tags.csv", key_name: str | None = "chain-key.json") -> None:
        """Write the blk file, the tags and (unless ``key_name`` is None) the answer key."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / blk_name).write_bytes(self.blk)
        (directory / tags_name).write_text(self.tags_csv, encoding="utf-8", newline="")
        if key_name is not None:
            (directory / key_name).write_text(
                json.dumps(self.key, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                encoding="utf-8")


def _btc(sat: int) -> float:
    return round(sat / COIN, 8)


def _hours(rng: random.Random, low: float, high: float) -> int:
    return int(rng.uniform(low, high) * 3600)


def build_chain(seed: int | str, *, start: datetime | None = None,
                exchange: str | None = None) -> ChainScenario:
    """The chain of ``seed``; its first block is mined about 35 days before ``start``."""
    rng = random.Random(f"dalil.scenarios.chain:{seed}")  # noqa: S311 - reproducible data
    start = start or datetime(2025, 3, 1, tzinfo=UTC)
    t0 = int(start.timestamp()) - rng.randint(30, 40) * 86400 - rng.randint(0, 86399)
    b = ChainBuilder(seed, t0)

    def kind(*choices: str) -> str:
        return rng.choice(choices)

    # 1. "generatetoaddress 101": the miner's first coinbase becomes spendable.
    for _ in range(MATURITY + 1):
        b.mine(rng.randint(1, 3))

    # 2. The miner funds three exchanges' hot wallets.
    names = list(EXCHANGES)
    rng.shuffle(names)
    if exchange is not None:
        names = [exchange, *[n for n in names if n != exchange]]
    target, others = names[0], names[1:3]
    exchanges = [target, *others]
    hot = {name: b.key(f"exchange:{name}:hot", "p2wpkh") for name in exchanges}
    cb = b.coinbases[0]
    funding = b.tx("miner funds the exchanges", [cb],
                   [(hot[name], 15 * COIN) for name in exchanges], change=b.miner, rng=rng)
    b.mine(_hours(rng, 0.1, 2))
    hot_utxo = {name: funding.utxo(funding.vout_of(hot[name])) for name in exchanges}

    # 3. Who takes part, and how much each needs.
    n_victims = rng.randint(3, 6)
    victims = [b.key(f"victim:{i}", kind("p2pkh", "p2wpkh")) for i in range(n_victims)]
    ransom = b.key("perp:ransom", "p2wpkh")
    n_earlier = rng.randint(1, 3)
    earlier = [b.key(f"perp:earlier:{i}", kind("p2pkh", "p2wpkh")) for i in range(n_earlier)]
    earlier_victims = [(b.key(f"earlier-victim:{i}:{j}", kind("p2pkh", "p2wpkh")), i)
                       for i in range(n_earlier) for j in range(rng.randint(1, 2))]
    ransom_amounts = [rng.randrange(4_000_000, 40_000_000, 10_000) for _ in victims]
    earlier_amounts = [rng.randrange(4_000_000, 30_000_000, 10_000) for _ in earlier_victims]
    n_users = rng.randint(6, 9)
    users = [b.key(f"user:{i}", kind("p2pkh", "p2wpkh", "p2wpkh")) for i in range(n_users)]
    user_amounts = [rng.randrange(1_000_000, 80_000_000, 1000) for _ in users]
    n_mixers = rng.randint(3, 6)  # other CoinJoin participants
    mixers = [b.key(f"coinjoin:{i}:in", "p2wpkh") for i in range(n_mixers)]

    # Denomination of the CoinJoin: planned from the perpetrator's funds (see step 7).
    perp_total = sum(ransom_amounts) + sum(earlier_amounts)
    n_hops = rng.randint(3, 8)
    peel_shares = [rng.uniform(0.03, 0.09) for _ in range(n_hops)]
    expected_left = perp_total * math.prod(1 - s for s in peel_shares) - 50_000
    denomination = max(d for d in _DENOMINATIONS if d <= 0.85 * expected_left)
    mixer_amounts = [denomination + rng.randrange(200_000, 5_000_000, 1000) for _ in mixers]

    # 4. Exchange withdrawals (batched): victims, users and mixers buy their coins.
    customers: list[tuple[Key, int]] = [
        *[(k, a + rng.randrange(300_000, 3_000_000, 1000)) for k, a in zip(
            victims, ransom_amounts, strict=True)],
        *[(k, a + rng.randrange(300_000, 3_000_000, 1000)) for (k, _), a in zip(
            earlier_victims, earlier_amounts, strict=True)],
        *zip(users, user_amounts, strict=True), *zip(mixers, mixer_amounts, strict=True)]
    rng.shuffle(customers)
    wallet: dict[str, Utxo] = {}
    for n, name in enumerate(exchanges):
        batch = customers[n::len(exchanges)]
        if not batch:
            continue
        t = b.tx(f"{name} withdrawals", [hot_utxo[name]], batch, change=hot[name], rng=rng,
                 fee_rate=rng.choice((3.0, 4.0, 6.0)))
        hot_utxo[name] = t.utxo(t.vout_of(hot[name]))
        for k, _ in batch:
            wallet[k.label] = t.utxo(t.vout_of(k))
    b.mine(_hours(rng, 0.2, 3))

    # Background traffic: users pay each other and deposit at the other exchanges.
    deposits_of: dict[str, list[Key]] = {name: [] for name in exchanges}
    deposit_utxos: dict[str, list[Utxo]] = {name: [] for name in exchanges}
    user_change = dict.fromkeys((u.label for u in users), 0)

    def background(count: int) -> None:
        for _ in range(count):
            payer = rng.choice(users)
            coin = wallet.get(payer.label)
            if coin is None or coin.value < 2_000_000:
                continue
            amount = rng.randrange(coin.value // 10, coin.value // 2, 1000)
            if rng.random() < 0.4:
                name = rng.choice(exchanges)
                payee = b.key(f"exchange:{name}:deposit:{len(deposits_of[name])}",
                              "p2sh-p2wpkh")
                deposits_of[name].append(payee)
            else:
                other = rng.choice([u for u in users if u is not payer])
                payee = b.key(f"user:{other.label}:recv:{rng.getrandbits(32)}",
                              kind("p2pkh", "p2wpkh"))
            user_change[payer.label] += 1
            change = b.key(f"{payer.label}:change:{user_change[payer.label]}", payer.kind)
            t = b.tx(f"{payer.label} pays", [coin], [(payee, amount)], change=change,
                     rng=rng, fee_rate=rng.choice((2.0, 3.0, 5.0, 8.0)))
            wallet[payer.label] = t.utxo(t.vout_of(change))
            if payee.kind == "p2sh-p2wpkh":
                deposit_utxos[payee.label.split(":")[1]].append(t.utxo(t.vout_of(payee)))

    # 5. Victims pay: first the earlier campaign's addresses, then the ransom address.
    victim_payments: list[dict[str, Any]] = []
    ransom_utxos: list[Utxo] = []
    for (k, i), amount in zip(earlier_victims, earlier_amounts, strict=True):
        change = b.key(f"{k.label}:change", k.kind)
        t = b.tx(f"earlier victim pays {earlier[i].label}", [wallet[k.label]],
                 [(earlier[i], amount)], change=change, rng=rng)
        ransom_utxos.append(t.utxo(t.vout_of(earlier[i])))
        background(rng.randint(0, 2))
        b.mine(_hours(rng, 2, 30))
    for n, (k, amount) in enumerate(zip(victims, ransom_amounts, strict=True)):
        change = b.key(f"{k.label}:change", k.kind)
        t = b.tx(f"victim {n + 1} pays the ransom", [wallet[k.label]], [(ransom, amount)],
                 change=change, rng=rng, fee_rate=rng.choice((4.0, 8.0, 12.0)))
        ransom_utxos.append(t.utxo(t.vout_of(ransom)))
        block = b.mine(_hours(rng, 2, 30))
        victim_payments.append({
            "victim": k.label, "victim_address": k.address(), "txid": t.txid,
            "amount_btc": _btc(amount), "amount_sat": amount, "block": block.height,
            "time": datetime.fromtimestamp(block.time, UTC).isoformat()})
        background(rng.randint(0, 2))

    # 6. Consolidation: every ransom UTXO in one transaction (common-input ownership).
    rng.shuffle(ransom_utxos)
    consolidated = b.key("perp:consolidated", "p2wpkh")
    total_in = sum(u.value for u in ransom_utxos)
    consolidation = b.tx("consolidation", ransom_utxos, [(consolidated, total_in)],
                         fee_from=0, fee_rate=3.0)
    b.mine(_hours(rng, 20, 70))
    coin = consolidation.utxo(0)

    # 7. The peeling chain: each hop pays a little to a cash-out address, keeps the change.
    hops: list[dict[str, Any]] = []
    for n, share in enumerate(peel_shares, start=1):
        payee = b.key(f"cashout:{n}", kind("p2pkh", "p2wpkh", "p2sh-p2wpkh"))
        keep = b.key(f"perp:peel:{n}", "p2wpkh")
        amount = int(coin.value * share) // 1000 * 1000
        t = b.tx(f"peel hop {n}", [coin], [(payee, amount)], change=keep, rng=rng,
                 fee_rate=rng.choice((3.0, 5.0)))
        coin = t.utxo(t.vout_of(keep))
        hops.append({"hop": n, "txid": t.txid, "paid_to": payee.address(),
                     "paid_btc": _btc(amount), "change_address": keep.address(),
                     "change_btc": _btc(coin.value)})
        if rng.random() < 0.3:
            background(1)
        b.mine(_hours(rng, 0.3, 6))
    if coin.value - 50_000 < denomination:
        raise ChainError(f"the peeled coin {coin.value} cannot buy the {denomination} "
                         "denomination")

    # 8. The CoinJoin: equal outputs of one denomination, a change output per participant.
    participants: list[tuple[Utxo, Key, Key]] = [
        (coin, b.key("perp:mixed", "p2wpkh"), b.key("perp:coinjoin-change", "p2wpkh"))]
    for i, k in enumerate(mixers):
        participants.append((wallet[k.label], b.key(f"coinjoin:{i}:out", "p2wpkh"),
                             b.key(f"coinjoin:{i}:change", "p2wpkh")))
    rng.shuffle(participants)
    vsize = estimate_vsize(["p2wpkh"] * len(participants), ["p2wpkh"] * 2 * len(participants))
    share_fee = math.ceil(vsize * 6.0 / len(participants))
    cj_outs = [(out, denomination) for _, out, _ in participants]
    cj_outs += [(chg, u.value - denomination - share_fee) for u, _, chg in participants]
    rng.shuffle(cj_outs)
    coinjoin = b.tx("coinjoin", [u for u, _, _ in participants], cj_outs)
    b.mine(_hours(rng, 0.5, 4))
    mixed = b.keys["perp:mixed"]

    # 9. The deposit at the exchange, and the exchange's sweep into its hot wallet.
    deposit_key = b.key(f"exchange:{target}:deposit:{len(deposits_of[target])}",
                        "p2sh-p2wpkh")
    deposits_of[target].append(deposit_key)
    deposit = b.tx("deposit", [coinjoin.utxo(coinjoin.vout_of(mixed))],
                   [(deposit_key, denomination)], fee_from=0,
                   fee_rate=rng.choice((3.0, 4.0, 5.0, 7.0, 9.0)))
    deposit_amount = deposit.outputs[0][0]
    background(rng.randint(1, 3))
    b.mine(_hours(rng, 1, 30))
    sweep_in = [deposit.utxo(0), *deposit_utxos[target]]
    sweep = b.tx(f"{target} sweeps its deposits", sweep_in, [(hot[target], 1)], fee_from=0,
                 fee_rate=2.0)
    b.mine(_hours(rng, 0.5, 3))

    # Tags: what the exchanges told the police, or what is public about them.
    tag_rows: list[dict[str, str]] = []
    for name in exchanges:
        source = ("response to a production order" if name == target
                  else "public attribution (exchange's proof of reserves)")
        for k in [hot[name], *deposits_of[name]]:
            tag_rows.append({"address": k.address(), "label": name, "category": "exchange",
                             "source": source, "confidence": "high"})
    tag_rows.sort(key=lambda r: (r["label"], r["address"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["address", "label", "category", "source", "confidence"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(tag_rows)

    earlier_addresses = [k.address() for k in earlier]
    cluster = sorted([ransom.address(), *earlier_addresses])
    perp_wallet = sorted({k.address() for label, k in b.keys.items()
                          if label.startswith("perp:")})
    received = sum(ransom_amounts)
    key: dict[str, Any] = {
        "format": KEY_FORMAT, "seed": str(seed), "network": "regtest",
        "blocks": len(b.blocks), "transactions": sum(len(x.txids) for x in b.blocks),
        "ransom_address": ransom.address(),
        "ransom_received_btc": _btc(received), "ransom_received_sat": received,
        "victim_payments": victim_payments,
        "perpetrator_cluster": cluster,
        "perpetrator_wallet": perp_wallet,
        "consolidation_txid": consolidation.txid,
        "peeling_hops": len(hops), "peeling_chain": hops,
        "coinjoin_txid": coinjoin.txid, "coinjoin_participants": len(participants),
        "coinjoin_denomination_btc": _btc(denomination),
        "mixed_address": mixed.address(),
        "deposit_txid": deposit.txid, "deposit_address": deposit_key.address(),
        "deposit_btc": _btc(deposit_amount), "deposit_sat": deposit_amount,
        "exchange": target, "sweep_txid": sweep.txid,
        "hot_wallet": hot[target].address(),
        "planted": {
            "ransom_address": (
                f"{n_victims} victims, funded by exchange withdrawals, each paid the P2WPKH "
                f"address {ransom.address()} from their own wallet (change back to a new "
                f"address of theirs): transactions "
                + ", ".join(p["txid"] for p in victim_payments)),
            "ransom_received": (
                f"sum of the {n_victims} payments to {ransom.address()}: "
                + " + ".join(f"{p['amount_sat']}" for p in victim_payments)
                + f" = {received} sat"),
            "perpetrator_cluster": (
                f"consolidation {consolidation.txid} spends every coin received by the ransom "
                f"address and by {n_earlier} address(es) of an earlier campaign "
                f"({', '.join(earlier_addresses)}) in one transaction: the multi-input "
                f"heuristic links them. The perpetrator's other addresses (consolidation, "
                f"peel changes, CoinJoin outputs) are only linked by change heuristics or "
                f"by following the flow"),
            "peeling_chain": (
                f"{len(hops)} transactions, each spending the previous change: one small "
                f"payment (3-9 %) to a cash-out address and the large change to a fresh "
                f"perpetrator address: " + ", ".join(h["txid"] for h in hops)),
            "coinjoin": (
                f"{len(participants)} participants each put in one coin and got "
                f"{_btc(denomination)} BTC plus their change ({2 * len(participants)} outputs, "
                f"JoinMarket-like); the perpetrator's input is the last peel change "
                f"{hops[-1]['change_address']}"),
            "deposit": (
                f"the perpetrator's equal output {mixed.address()} was sent whole (minus "
                f"the fee) to {deposit_key.address()}, a P2SH-P2WPKH deposit address of "
                f"{target} (tags.csv); {target} swept it into {hot[target].address()} in "
                f"{sweep.txid}"),
        },
    }
    return ChainScenario(seed, b.blk(), buf.getvalue(), key, b)
