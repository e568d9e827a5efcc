"""Classify output scripts and derive their addresses; derive input addresses from spends."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from dalil.engine.ledger.bitcoin.address import (
    MAINNET,
    Network,
    base58check_encode,
    hash160,
    segwit_encode,
)
from dalil.engine.ledger.bitcoin.batch import Destination
from dalil.engine.ledger.bitcoin.parse import TxIn

OP_0, OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x00, 0x4C, 0x4D, 0x4E
OP_1, OP_16, OP_RETURN, OP_DUP, OP_HASH160 = 0x51, 0x60, 0x6A, 0x76, 0xA9
OP_EQUAL, OP_EQUALVERIFY, OP_CHECKSIG, OP_CHECKMULTISIG = 0x87, 0x88, 0xAC, 0xAE


class ScriptType(StrEnum):
    P2PK = "p2pk"
    P2PKH = "p2pkh"
    P2SH = "p2sh"
    P2WPKH = "p2wpkh"
    P2WSH = "p2wsh"
    P2TR = "p2tr"
    WITNESS_UNKNOWN = "witness_unknown"  # a future witness version (v2..v16, or v1 not 32 B)
    MULTISIG = "multisig"
    OP_RETURN = "op_return"
    NONSTANDARD = "nonstandard"


@dataclass(frozen=True, slots=True)
class Classified:
    type: ScriptType
    address: str | None
    pubkeys: tuple[bytes, ...] = ()  # P2PK key, multisig keys


@dataclass(frozen=True, slots=True)
class DerivedInput:
    """An input's address read from its own spending data (scriptSig or witness)."""

    type: ScriptType
    address: str
    derived: bool = True


def is_pubkey(key: bytes) -> bool:
    n = len(key)
    return (n == 33 and key[0] in (2, 3)) or (n == 65 and key[0] in (4, 6, 7))


def pushes(script: bytes) -> list[bytes] | None:
    """The data pushes of a push-only script, None when it has other opcodes or is cut."""
    out: list[bytes] = []
    i, n = 0, len(script)
    while i < n:
        op = script[i]
        i += 1
        if op == 0:
            out.append(b"")
            continue
        if op < OP_PUSHDATA1:
            size = op
        elif op == OP_PUSHDATA1:
            if i + 1 > n:
                return None
            size = script[i]
            i += 1
        elif op == OP_PUSHDATA2:
            if i + 2 > n:
                return None
            size = int.from_bytes(script[i : i + 2], "little")
            i += 2
        elif op == OP_PUSHDATA4:
            if i + 4 > n:
                return None
            size = int.from_bytes(script[i : i + 4], "little")
            i += 4
        elif op == 0x4F or OP_1 <= op <= OP_16:
            out.append(bytes([op]))
            continue
        else:
            return None
        if i + size > n:
            return None
        out.append(script[i : i + size])
        i += size
    return out


def _multisig(script: bytes) -> tuple[bytes, ...] | None:
    n = len(script)
    if n < 37 or script[-1] != OP_CHECKMULTISIG:
        return None
    m_op, n_op = script[0], script[-2]
    if not (OP_1 <= m_op <= OP_16 and OP_1 <= n_op <= OP_16 and m_op <= n_op):
        return None
    keys: list[bytes] = []
    i = 1
    while i < n - 2:
        size = script[i]
        if size not in (33, 65) or i + 1 + size > n - 2:
            return None
        key = script[i + 1 : i + 1 + size]
        if not is_pubkey(key):
            return None
        keys.append(key)
        i += 1 + size
    if len(keys) != n_op - 0x50:
        return None
    return tuple(keys)


@lru_cache(maxsize=1 << 16)
def destination(script: bytes) -> tuple[ScriptType, Destination | None, tuple[bytes, ...]]:
    """Script type, what its address encodes (network-independent) and its public keys.

    Bitcoin Core's ``Solver`` / ``ExtractDestination`` rules.
    """
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return ScriptType.P2PKH, ("p2pkh", script[3:23]), ()
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == OP_EQUAL:
        return ScriptType.P2SH, ("p2sh", script[2:22]), ()
    if 4 <= n <= 42 and script[1] == n - 2 and (script[0] == 0 or OP_1 <= script[0] <= OP_16):
        version = script[0] - 0x50 if script[0] else 0
        program = script[2:]
        dest = (f"w{version}", program)
        if version == 0:
            if n == 22:
                return ScriptType.P2WPKH, dest, ()
            if n == 34:
                return ScriptType.P2WSH, dest, ()
            return ScriptType.NONSTANDARD, None, ()  # v0 of another length: unspendable
        kind = ScriptType.P2TR if version == 1 and n == 34 else ScriptType.WITNESS_UNKNOWN
        return kind, dest, ()
    if (n in (35, 67) and script[0] == n - 2 and script[-1] == OP_CHECKSIG
            and is_pubkey(script[1:-1])):
        key = script[1:-1]
        # The address of a P2PK output is the P2PKH of the *whole* key: all 65 bytes of an
        # uncompressed one (prefix 04 included), all 33 of a compressed one.
        return ScriptType.P2PK, ("p2pkh", hash160(key)), (key,)
    if n and script[0] == OP_RETURN:
        return ScriptType.OP_RETURN, None, ()
    keys = _multisig(script)
    if keys is not None:
        return ScriptType.MULTISIG, None, keys
    return ScriptType.NONSTANDARD, None, ()


def encode(dest: Destination | None, network: Network = MAINNET) -> str | None:
    """The address of a destination on ``network``."""
    if dest is None:
        return None
    kind, payload = dest
    if kind == "p2pkh":
        return base58check_encode(network.p2pkh, payload)
    if kind == "p2sh":
        return base58check_encode(network.p2sh, payload)
    return segwit_encode(network.hrp, int(kind[1:]), payload)


def classify(script: bytes, network: Network = MAINNET) -> Classified:
    """Script type and address of an output script."""
    kind, dest, keys = destination(script)
    return Classified(kind, encode(dest, network), keys)


def derive_destination(txin: TxIn) -> tuple[ScriptType, Destination] | None:
    """What an input spends from, read from its scriptSig or witness where possible.

    P2PKH (``<sig> <pubkey>``), P2WPKH (witness ``[sig, pubkey]``, empty scriptSig) and
    P2SH whose redeem script is a witness program or a multisig. Anything else (P2PK, P2TR,
    bare P2WSH, coinbase) cannot be told from the spend alone: None.
    """
    if txin.prev_vout == 0xFFFFFFFF and txin.is_coinbase:  # the cheap test first
        return None
    return derive_spend(txin.script_sig, txin.witness)


def derive_spend(sig: bytes, wit: tuple[bytes, ...]) -> tuple[ScriptType, Destination] | None:
    """:func:`derive_destination` from a (non-coinbase) input's scriptSig and witness."""
    if not sig:
        if len(wit) == 2 and len(wit[1]) == 33 and is_pubkey(wit[1]) and 9 <= len(wit[0]) <= 73:
            return ScriptType.P2WPKH, ("w0", hash160(wit[1]))
        return None
    # Fast path for the two shapes of nearly every legacy spend, one or two direct pushes
    # (``<sig>`` of P2PK, ``<sig> <pubkey>`` of P2PKH): the same answers as the general
    # rules below without splitting the script or classifying a signature as a script.
    n = len(sig)
    first = sig[0]
    if 0 < first < OP_PUSHDATA1:
        end = 1 + first
        if end == n and not wit:
            return None  # one push, no witness: neither nested segwit nor multisig
        if end < n:
            second = sig[end]
            if 0 < second < OP_PUSHDATA1 and end + 1 + second == n:
                key = sig[end + 1 :]
                if 9 <= first <= 73 and ((second == 33 and key[0] in (2, 3))
                                         or (second == 65 and key[0] in (4, 6, 7))):
                    return ScriptType.P2PKH, ("p2pkh", hash160(key))
                return None  # two non-empty pushes: not nested segwit, not multisig
    items = pushes(sig)
    if not items:
        return None
    last = items[-1]
    if len(items) == 2 and is_pubkey(last) and 9 <= len(items[0]) <= 73:
        return ScriptType.P2PKH, ("p2pkh", hash160(last))
    redeem = destination(last)[0]
    if redeem in (ScriptType.P2WPKH, ScriptType.P2WSH) and len(items) == 1 and wit:
        return ScriptType.P2SH, ("p2sh", hash160(last))
    if redeem is ScriptType.MULTISIG and items[0] == b"" and len(items) >= 3:
        return ScriptType.P2SH, ("p2sh", hash160(last))
    return None


def derive_input(txin: TxIn, network: Network = MAINNET) -> DerivedInput | None:
    """The input's address from its own spending data, marked ``derived`` (see above)."""
    found = derive_destination(txin)
    if found is None:
        return None
    address = encode(found[1], network)
    assert address is not None
    return DerivedInput(found[0], address)
