"""Evidence for the scanning tests: bytes with known features at known offsets (one in a
gzip stream, one in UTF-16LE), an exhibit holding them, an E01 of them, and feeds."""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dalil.app.cases import services as cases

EMAIL = "suspect.one@mail-example.kz"
WALLET = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
CARD = "4111 1111 1111 1111"
GZIP_EMAIL = "hidden.person@inside-gzip.example"
WIDE_EMAIL = "utf16.user@wide-example.ru"
OFFSETS = {"email": 1000, "bitcoin": 70_000, "ccn": 140_000, "gzip": 200_000,
           "utf16": 260_000, "hostile": 300_000}
SIZE = 320 * 1024


def evidence_bytes() -> bytes:
    """Zeros and random bytes with the planted features; offsets in :data:`OFFSETS`."""
    data = bytearray(SIZE)
    rng = random.Random(4)
    data[20_000:60_000] = bytes(rng.randrange(128, 256) for _ in range(40_000))

    def put(offset: int, blob: bytes) -> None:
        data[offset:offset + len(blob)] = blob

    put(OFFSETS["email"], f" mail to {EMAIL} now ".encode())
    put(OFFSETS["bitcoin"], f" pay {WALLET} today ".encode())
    put(OFFSETS["ccn"], f" card {CARD} exp ".encode())
    put(OFFSETS["gzip"], gzip.compress(f"note: write to {GZIP_EMAIL} soon\n".encode() * 3,
                                       mtime=0))
    put(OFFSETS["utf16"], f" {WIDE_EMAIL} ".encode("utf-16-le"))
    put(OFFSETS["hostile"], b" x <b>contact</b> evil@example.com\"><script>alert(1)</script> ")
    return bytes(data)


def add_bytes_exhibit(case, data: bytes | None = None, number: str = "E5"):
    return cases.add_exhibit(case, number=number, actor="examiner", type="storage",
                             description="USB stick with planted features",
                             content=io.BytesIO(evidence_bytes() if data is None else data),
                             content_name="usb.dd")


def make_e01(folder: Path, data: bytes) -> Path:
    """An EWF image of ``data`` made with ewfacquirestream (skips when not installed)."""
    if shutil.which("ewfacquirestream") is None:
        pytest.skip("needs ewfacquirestream (ewf-tools)")
    target = folder / "usb"
    subprocess.run(["ewfacquirestream", "-q", "-c", "deflate:fast", "-f", "encase6",
                    "-P", "512", "-b", "64", "-S", str(1 << 30), "-t", str(target),
                    "-C", "KZ-1", "-E", "E6", "-e", "examiner"],
                   input=data, check=True, capture_output=True, timeout=120)
    return folder / "usb.E01"


def stix_feed(*emails: str) -> bytes:
    objects: list[dict[str, object]] = [
        {"type": "identity", "id": "identity--1", "name": "Partner CERT",
         "identity_class": "organization"}]
    for index, email in enumerate(emails):
        objects.append({"type": "indicator", "spec_version": "2.1",
                        "id": f"indicator--0000000{index}", "name": f"phishing sender {index}",
                        "pattern": f"[email-addr:value = '{email}']", "pattern_type": "stix",
                        "created_by_ref": "identity--1", "valid_from": "2026-01-01T00:00:00Z"})
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}).encode()


def misp_feed(wallet: str) -> bytes:
    return json.dumps({"Event": {"info": "ransom wallets", "Orgc": {"name": "Bank CSIRT"},
                                 "Attribute": [{"type": "btc", "value": wallet,
                                                "category": "Financial fraud"}]}}).encode()
