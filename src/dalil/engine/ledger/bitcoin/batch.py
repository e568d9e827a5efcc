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
    # long division by 58 is 7 vectorised operations rather than 25.
    padded = np.zeros((n, 28), dtype=np.uint8)
    padded[:, 3:] = rows
    limbs = padded.view(">u4").astype(np.uint64)
    # Divide by 58**5 (< 2**30, so remainder << 32 | limb fits in 64 bits): 7 chunks of five
    # digits each, then split every chunk into its digits.
    big = np.uint64(58**5)
    digits = np.zeros((n, 35), dtype=np.uint8)  # 58**35 > 256**25
    for c in range(6, -1, -1):
        rem = np.zeros(n, dtype=np.uint64)
        for j in range(limbs.shape[1]):
            cur = (rem << np.uint64(32)) | limbs[:, j]
            limbs[:, j] = cur // big
            rem = cur - limbs[:, j] * big
        for d in range(4, -1, -1):
            digits[:, c * 5 + d] = rem % np.uint64(58)
            rem //= np.uint64(58)
    text = _B58_ALPHABET[digits].tobytes().decode("ascii")
    zeros = (np.cumprod(rows == 0, axis=1) != 0).sum(axis=1).tolist()
    return ["1" * z + text[i * 35 : (i + 1) * 35].lstrip("1") for i, z in enumerate(zeros)]


def base58check_many(version: int, payloads: list[bytes]) -> list[str]:
    if not payloads:
        return []
    sha = hashlib.sha256
    v = bytes([version])
    blobs = []
    for p in payloads:
        data = v + p
        blobs.append(data + sha(sha(data).digest()).digest()[:4])
    width = len(blobs[0])
    if any(len(b) != width for b in blobs) or width != 25:
        from dalil.engine.ledger.bitcoin.address import base58_encode

        return [base58_encode(b) for b in blobs]
    rows = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(-1, 25)
    return _base58_rows(rows)


def _polymod(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    chk = np.ones(values.shape[0], dtype=np.uint32)
    for k in range(values.shape[1]):
        top = chk >> np.uint32(25)
        chk = ((chk & np.uint32(0x1FFFFFF)) << np.uint32(5)) ^ values[:, k]
        for i in range(5):
            chk ^= np.where((top >> np.uint32(i)) & np.uint32(1), _GEN[i], np.uint32(0))
    return chk


def segwit_many(hrp: str, version: int, programs: list[bytes]) -> list[str]:
    """bech32 (v0) / bech32m (v1+) addresses of programs that all have the same length."""
    if not programs:
        return []
    n, length = len(programs), len(programs[0])
    raw = np.frombuffer(b"".join(programs), dtype=np.uint8).reshape(n, length)
    bits = np.unpackbits(raw, axis=1)
    groups = -(-bits.shape[1] // 5)
    padded = np.zeros((n, groups * 5), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    weights = np.array([16, 8, 4, 2, 1], dtype=np.uint32)
    data = (padded.reshape(n, groups, 5).astype(np.uint32) * weights).sum(axis=2,
                                                                         dtype=np.uint32)
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
    """The address of each destination (None stays None), in order."""
    result: list[str | None] = [None] * len(destinations)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, dest in enumerate(destinations):
        if dest is not None:
            groups[(dest[0], len(dest[1]))].append(index)
    for (kind, _length), indexes in groups.items():
        payloads = [destinations[i][1] for i in indexes]  # type: ignore[index]
        if kind == "p2pkh":
            encoded = base58check_many(network.p2pkh, payloads)
        elif kind == "p2sh":
            encoded = base58check_many(network.p2sh, payloads)
        else:
            encoded = segwit_many(network.hrp, int(kind[1:]), payloads)
        for i, text in zip(indexes, encoded, strict=True):
            result[i] = text
    return result
