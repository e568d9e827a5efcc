"""File type by content signature and the extension-mismatch flag."""

from __future__ import annotations

import gzip
import io
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from dalil.engine.forensics.filetype import (
    extension_of,
    identify,
    identify_file,
    identify_head,
    libmagic_available,
)


def picture(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, fmt)
    return buffer.getvalue()


def ooxml(parts: list[str], content_types_first: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        names = ["[Content_Types].xml", *parts] if content_types_first else [
            *parts, "[Content_Types].xml"]
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


def sqlite_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    return path.read_bytes()


def test_signatures(tmp_path: Path) -> None:
    samples = {
        "jpeg": picture("JPEG"), "png": picture("PNG"), "gif": picture("GIF"),
        "bmp": picture("BMP"), "tiff": picture("TIFF"), "webp": picture("WEBP"),
        "pdf": b"%PDF-1.7\n%\xe2\xe3\n1 0 obj<<>>endobj\n%%EOF\n",
        "docx": ooxml(["word/document.xml"]), "xlsx": ooxml(["xl/workbook.xml"]),
        "pptx": ooxml(["ppt/presentation.xml"]), "sqlite": sqlite_bytes(tmp_path),
        "evtx": b"ElfFile\x00" + bytes(120), "regf": b"regf" + bytes(508),
        "gzip": gzip.compress(b"hello"), "7z": b"7z\xbc\xaf\x27\x1c" + bytes(30),
        "rar": b"Rar!\x1a\x07\x01\x00" + bytes(30),
        "mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(40),
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40),
        "ole": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(100),
    }
    pe = bytearray(256)
    pe[:2] = b"MZ"
    pe[60:64] = (128).to_bytes(4, "little")
    pe[128:132] = b"PE\x00\x00"
    samples["pe"] = bytes(pe)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("notes.txt", "hi")
    samples["zip"] = zipped.getvalue()
    for label, data in samples.items():
        assert identify_head(data).label == label, label
    assert identify_head(b"").label == "empty"


def test_ooxml_found_by_central_directory(tmp_path: Path) -> None:
    # [Content_Types].xml written last: the local headers in the head do not show it.
    data = ooxml(["word/document.xml"] + [f"word/media/image{i}.png" for i in range(3)],
                 content_types_first=False)
    path = tmp_path / "report.docx"
    path.write_bytes(data)
    assert identify_file(path).label == "docx"
    assert identify(data[:64]).label == "zip"  # head alone: a plain zip
    # A damaged archive keeps what the head said, without raising.
    cut = tmp_path / "cut.docx"
    cut.write_bytes(data[: len(data) // 2])
    assert identify_file(cut).label in ("zip", "docx")


@pytest.mark.parametrize(("name", "data", "flagged"), [
    ("holiday.jpg", picture("JPEG"), False),
    ("HOLIDAY.JPEG", picture("JPEG"), False),
    ("invoice.txt", picture("JPEG"), True),   # a photo hidden as text
    ("report.docx", picture("PNG"), True),
    ("noextension", picture("JPEG"), False),  # no extension: nothing to contradict
    ("budget.xlsx", ooxml(["xl/workbook.xml"]), False),
    ("budget.pdf", ooxml(["xl/workbook.xml"]), True),
    ("readme.jpg", b"just some words in a text file\n", False),  # text is never flagged
    ("photo.jpg:Zone.Identifier", b"[ZoneTransfer]\nZoneId=3\n", False),
])
def test_extension_mismatch(name: str, data: bytes, flagged: bool) -> None:
    assert identify_head(data).mismatch(name) is flagged


def test_extension_of() -> None:
    assert extension_of("a/b/Photo.JPG") == "jpg"
    assert extension_of(".bashrc") == ""
    assert extension_of("dir.d/file") == ""
    assert extension_of("x.tar.gz") == "gz"


def test_libmagic_covers_the_rest(tmp_path: Path) -> None:
    if not libmagic_available():
        pytest.skip("needs libmagic1 and python-magic")
    kind = identify_head(b"wOFF\x00\x01\x00\x00" + bytes(60))
    assert kind.source == "libmagic" and kind.known
    text = identify_head(b"#!/bin/sh\necho hello\n")
    assert text.label == "text" and not text.mismatch("x.jpg")


def test_plain_text_is_told_without_libmagic() -> None:
    for head in (b"hello\r\nworld\t1\n", "Привет, мир".encode(), "ж".encode() * 100 + b"\xd0"):
        kind = identify_head(head)
        assert (kind.label, kind.source) == ("text", "signature"), head
    assert identify_head(b"text\x00with NUL").source != "signature"
    assert identify_head(b"bad utf8 \xc3\x28 inside a text").source != "signature"


def test_real_executable() -> None:
    ls = shutil.which("ls")
    if ls is None:
        pytest.skip("needs ls")
    assert identify_file(ls).label == "elf"
