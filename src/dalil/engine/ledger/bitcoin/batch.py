"""Address encoding for many destinations at once, with numpy across the batch.

Encoding one address in pure Python costs several microseconds (one division per base-58
digit, one loop per bech32 symbol). At ingest time thousands of addresses are encoded per
block, so the arithmetic runs here on arrays, one row per address: the same algorithms as
:mod:`dalil.engine.ledger.bitcoin.address` (tested against each other and the BIP vectors).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
import numpy.typing as npt

from dalil.engine.ledger.bitcoin.address import B58, CHARSET, Encoding, Network

# A destination is how an address is made, independent of the network:
#   ("p2pkh" | "p2sh", 20-byte hash)  or  ("w<version>", witness program)
Destination = tuple[str, bytes]

_B58_ALPHABET = np.frombuffer(B58.encode("ascii"), dtype=np.uint8)
_BECH32_ALPHABET = np.frombuffer(CHARSET.encode("ascii"), dtype=np.uint8)
_GEN = np.array([0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3], dtype=np.uint32)
U8 = npt.NDArray[np.uint8]


def _base58_rows(rows: U8) -> list[str]:
    """Base58 of each row of an (n, 25) byte matrix (leading zero bytes become '1')."""
    n = rows.shape[0]
    # Big-endian 32-bit limbs (the 25 bytes left-padded to 28) so that each step of the
    # long division by 58 is 7 vectorised operations rather than 25. Limbs and digits are
    # kept one row per position (contiguous across addresses): three times faster than
    # walking the columns of an (n, 7) matrix.
    padded = np.zeros((n, 28), dtype=np.uint8)
    padded[:, 3:] = rows
    limbs = np.ascontiguousarray(padded.view(">u4").astype(np.uint64).T)
    # Divide by 58**5 (< 2**30, so remainder << 32 | limb fits in 64 bits): 7 chunks of five
    # digits each, then split every chunk into its digits.
    big, shift, base = np.uint64(58**5), np.uint64(32), np.uint32(58)
    digits = np.empty((35, n), dtype=np.uint8)  # 58**35 > 256**25
    for done, c in enumerate(range(6, -1, -1)):
        rem = np.zeros(n, dtype=np.uint64)
        # After ``done`` divisions the value is below 2**(200 - 29.3 * done) <= 2**(224 -
        # 32 * done): its top ``done`` limbs are zero and need no dividing.
        for j in range(done, 7):
            cur = (rem << shift) | limbs[j]
            quotient = cur // big
            limbs[j] = quotient
            rem = cur - quotient * big
        small = rem.astype(np.uint32)  # < 58**5 < 2**30
        for d in range(4, -1, -1):
            small, digits[c * 5 + d] = np.divmod(small, base)
    text = _B58_ALPHABET[digits.T].tobytes().decode("ascii")
    # Each address is one slice of ``text``: its 35 digits without the leading zero digits
    # ('1'), then as many '1's as the row has leading zero bytes. Those '1's are zero digits
    # too (z zero bytes leave at least z + 1 zero digits in front when z >= 1), so the slice
    # simply starts z characters before the first non-zero digit.
    nonzero = digits != 0
    first = np.where(nonzero.any(axis=0), nonzero.argmax(axis=0), 35)
    byte_nonzero = rows != 0
    zero_bytes = np.where(byte_nonzero.any(axis=1), byte_nonzero.argmax(axis=1), 25)
    ends = np.arange(1, n + 1) * 35
    starts = (ends - 35 + first - zero_bytes).tolist()
    return [text[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]


def base58check_many(version: int, payloads: list[bytes]) -> list[str]:
    if not payloads:
        return []
    sha = hashlib.sha256
    v = bytes([version])
    datas = [v + p for p in payloads]
    checks = [sha(sha(d).digest()).digest()[:4] for d in datas]
    if set(map(len, payloads)) != {20}:
        from dalil.engine.ledger.bitcoin.address import base58_encode

        return [base58_encode(d + c) for d, c in zip(datas, checks, strict=True)]
    rows = np.empty((len(datas), 25), dtype=np.uint8)
    rows[:, :21] = np.frombuffer(b"".join(datas), dtype=np.uint8).reshape(-1, 21)
    rows[:, 21:] = np.frombuffer(b"".join(checks), dtype=np.uint8).reshape(-1, 4)
    return _base58_rows(rows)


# The five generator terms that the top five bits of the checksum select, XORed together
# ahead of time: one table lookup per symbol instead of five conditional XORs.
_GEN_TABLE = np.array([np.bitwise_xor.reduce(np.where((t >> np.arange(5)) & 1, _GEN, 0))
                       for t in range(32)], dtype=np.uint32)


def _polymod(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    columns = np.ascontiguousarray(values.T)  # one contiguous row per symbol position
    chk = np.ones(values.shape[0], dtype=np.uint32)
    shift, low, five = np.uint32(25), np.uint32(0x1FFFFFF), np.uint32(5)
    for column in columns:
        top = chk >> shift
        chk = ((chk & low) << five) ^ column ^ _GEN_TABLE[top]
    return chk


def segwit_many(hrp: str, version: int, programs: list[bytes]) -> list[str]:
    """bech32 (v0) / bech32m (v1+) addresses of programs that all have the same length."""
    if not programs:
        return []
    n, length = len(programs), len(programs[0])
    raw = np.frombuffer(b"".join(programs), dtype=np.uint8).reshape(n, length)
    bits = np.unpackbits(raw, axis=1)
    groups = -(-bits.shape[1] // 5)
    spread = np.zeros((n, groups * 5), dtype=np.uint8)
    spread[:, : bits.shape[1]] = bits
    # Bit k of every group at once: five shifted, strided slices ORed together (a weighted
    # sum over a length-5 axis is ten times slower).
    data = spread[:, 0::5] << 4
    for k in range(1, 5):
        data |= spread[:, k::5] << (4 - k)
    data = data.astype(np.uint32)
    expand = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values = np.zeros((n, len(expand) + 1 + groups + 6), dtype=np.uint32)
    values[:, : len(expand)] = expand
    values[:, len(expand)] = version
    values[:, len(expand) + 1 : len(expand) + 1 + groups] = data
    const = (Encoding.BECH32 if version == 0 else Encoding.BECH32M).value
    polymod = _polymod(values) ^ np.uint32(const)
    checksum = np.stack([(polymod >> np.uint32(5 * (5 - i))) & np.uint32(31)
                         for i in range(6)], axis=1)
    symbols = np.concatenate([np.full((n, 1), version, dtype=np.uint32), data, checksum],
                             axis=1)
    text = _BECH32_ALPHABET[symbols].tobytes().decode("ascii")
    width = symbols.shape[1]
    prefix = hrp + "1"
    return [prefix + text[i * width : (i + 1) * width] for i in range(n)]


def encode_many(destinations: list[Destination | None], network: Network) -> list[str | None]:
    """The address of each destination (None stays None), in order.

    Each distinct destination is encoded once: an address that receives or spends several
    times in a batch costs one dictionary lookup after the first.
    """
    unique = dict.fromkeys(destinations)
    unique.pop(None, None)
    groups: dict[tuple[str, int], list[Destination]] = defaultdict(list)
    for dest in unique:
        assert dest is not None
        groups[(dest[0], len(dest[1]))].append(dest)
    encoded: dict[Destination | None, str] = {}
    for (kind, _length), dests in groups.items():
        payloads = [d[1] for d in dests]
        if kind == "p2pkh":
            texts = base58check_many(network.p2pkh, payloads)
        elif kind == "p2sh":
            texts = base58check_many(network.p2sh, payloads)
        else:
            texts = segwit_many(network.hrp, int(kind[1:]), payloads)
        encoded.update(zip(dests, texts, strict=True))
    get = encoded.get
    return [get(d) for d in destinations]
