"""Seeded sample files of every carved type, decoys, and images with files planted in them.

For tests, the carving benchmark and training labs: the same seed gives the same bytes
(with the same Pillow and SQLite). Each planted item is recorded with its offset and hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import sqlite3
import tempfile
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KINDS = ("jpg", "png", "gif", "pdf", "zip", "sqlite")
SECTOR = 512


def _picture(rng: random.Random, mode: str = "RGB") -> Any:
    from PIL import Image, ImageDraw

    width, height = rng.randint(48, 320), rng.randint(48, 240)
    colour = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(5, 30)):
        box = sorted(rng.randrange(width) for _ in range(2)), sorted(
            rng.randrange(height) for _ in range(2))
        fill = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((box[0][0], box[1][0], box[0][1], box[1][1]), fill=fill)
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    img = Image.blend(img, Image.merge("RGB", (noise, noise, noise)), 0.2)
    return img.convert(mode) if mode != "RGB" else img


def make_jpg(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    _picture(rng).save(buf, "JPEG", quality=rng.randint(50, 95),
                       progressive=rng.random() < 0.3, optimize=False)
    return buf.getvalue()


def make_png(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    _picture(rng, rng.choice(["RGB", "RGBA", "L"])).save(buf, "PNG")
    return buf.getvalue()


def make_gif(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    frames = [_picture(rng).convert("P") for _ in range(rng.choice([1, 1, 2, 3]))]
    size = frames[0].size
    frames = [f.resize(size) for f in frames]
    frames[0].save(buf, "GIF", save_all=len(frames) > 1, append_images=frames[1:],
                   duration=100, loop=0)
    return buf.getvalue()


def make_pdf(rng: random.Random) -> bytes:
    """A small PDF written by hand: catalog, pages, a font, Flate content streams."""
    pages = rng.randint(1, 3)
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font = 3 + 2 * pages
    for i in range(pages):
        words = " ".join(rng.choice(["evidence", "seized", "ledger", "wallet", "report",
                                     "custody", "exhibit", "hash"]) for _ in range(40))
        text = f"BT /F1 11 Tf 40 780 Td ({words[:90]}) Tj ET\n" * rng.randint(1, 30)
        stream = zlib.compress(text.encode())
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                       f"/Resources << /Font << /F1 {font} 0 R >> >> "
                       f"/Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
                       + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def make_zip(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    docx = rng.random() < 0.5
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        names = (["[Content_Types].xml", "_rels/.rels", "word/document.xml"] if docx
                 else [f"notes/{i}.txt" for i in range(rng.randint(1, 5))])
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            words = " ".join(rng.choice(["transfer", "account", "meeting", "bitcoin",
                                         "address", "phone"]) for _ in range(200))
            archive.writestr(info, f"<x>{words}</x>" if docx else words)
        if rng.random() < 0.3:  # a stored member: its bytes are carvable on their own
            info = zipfile.ZipInfo("blob.bin", date_time=(2024, 5, 1, 12, 0, 0))
            archive.writestr(info, rng.randbytes(rng.randint(100, 4000)))
    return buf.getvalue()


def make_sqlite(rng: random.Random) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dalil-sample-") as tmp:
        path = Path(tmp) / "sample.db"
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
            connection.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, sender TEXT, "
                               "body TEXT, sent INTEGER)")
            connection.executemany(
                "INSERT INTO messages (sender, body, sent) VALUES (?, ?, ?)",
                [(f"+99655{rng.randrange(10**6):06d}", rng.randbytes(rng.randint(10, 200)).hex(),
                  1_700_000_000 + rng.randrange(10**7)) for _ in range(rng.randint(10, 400))])
            connection.commit()
        finally:
            connection.close()
        return path.read_bytes()


MAKERS = {"jpg": make_jpg, "png": make_png, "gif": make_gif, "pdf": make_pdf,
          "zip": make_zip, "sqlite": make_sqlite}


def make_sample(kind: str, rng: random.Random) -> bytes:
    return MAKERS[kind](rng)


def truncated(data: bytes, rng: random.Random) -> bytes:
    """The first 30-70 % of a file: its end marker is gone."""
    return data[: max(16, int(len(data) * rng.uniform(0.3, 0.7)))]


def corrupted(data: bytes, rng: random.Random) -> bytes:
    """The file with a run of random bytes over its middle (same length, same end)."""
    middle = len(data) // 2
    span = max(64, len(data) // 5)
    start = max(16, middle - span // 2)
    end = min(len(data) - 32, start + span)
    if end <= start:
        return truncated(data, rng)
    return data[:start] + rng.randbytes(end - start) + data[end:]


@dataclass(frozen=True)
class Planted:
    type: str
    offset: int
    length: int
    sha256: str
    md5: str
    valid: bool  # False: a decoy (truncated or corrupted)
    decoy: str | None = None  # truncated, corrupted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plant(path: str | os.PathLike[str], size: int, items: list[tuple[str, bytes, str | None]],
          rng: random.Random, *, filler: str = "mixed") -> list[Planted]:
    """Write an image of ``size`` bytes of filler with ``items`` (kind, bytes, decoy)
    placed at spread-out sector-aligned offsets; returns them with offsets and hashes."""
    need = sum(-(-len(data) // SECTOR) * SECTOR for _, data, _ in items)
    if need > size // 2:
        raise ValueError(f"{need} bytes of planted files do not fit in half of {size}")
    gap_total = size - need
    cuts = sorted(rng.randrange(gap_total // SECTOR) * SECTOR for _ in items)
    planted: list[Planted] = []
    with open(path, "wb") as handle:
        pos = 0
        previous = 0
        for (kind, data, decoy), cut in zip(items, cuts, strict=True):
            gap = cut - previous
            previous = cut
            _fill(handle, gap, rng, filler)
            pos += gap
            planted.append(Planted(kind, pos, len(data), hashlib.sha256(data).hexdigest(),
                                   hashlib.md5(data).hexdigest(), decoy is None, decoy))
            padded = -(-len(data) // SECTOR) * SECTOR
            handle.write(data)
            _fill(handle, padded - len(data), rng, filler)
            pos += padded
        _fill(handle, size - pos, rng, filler)
    return planted


_TEXT = (b"The quick brown fox jumps over the lazy dog. 0123456789 "
         b"lorem ipsum dolor sit amet, consectetur adipiscing elit.\n")


def _fill(handle: Any, length: int, rng: random.Random, filler: str) -> None:
    """Random bytes, zeros, and text, in blocks (``mixed``), or only ``random``/``zero``."""
    while length > 0:
        step = min(length, rng.choice([4096, 65536, 1 << 20]))
        kind = filler if filler != "mixed" else rng.choice(["random", "random", "zero",
                                                            "text"])
        if kind == "random":
            handle.write(rng.randbytes(step))
        elif kind == "text":
            handle.write((_TEXT * (step // len(_TEXT) + 1))[:step])
        else:
            handle.write(bytes(step))
        length -= step


def sample_items(rng: random.Random, per_type: int, decoys_per_type: int,
                 kinds: tuple[str, ...] = KINDS) -> list[tuple[str, bytes, str | None]]:
    """``per_type`` valid files and ``decoys_per_type`` decoys of each kind, shuffled."""
    items: list[tuple[str, bytes, str | None]] = []
    for kind in kinds:
        for _ in range(per_type):
            items.append((kind, make_sample(kind, rng), None))
        for number in range(decoys_per_type):
            data = make_sample(kind, rng)
            how = "truncated" if number % 2 == 0 else "corrupted"
            items.append((kind, truncated(data, rng) if how == "truncated"
                          else corrupted(data, rng), how))
    rng.shuffle(items)
    return items
