"""ZIP and OOXML/ODF: local headers, central directory, end of central directory."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dalil.engine.forensics.carve.base import Cursor, Format, ReadAt, u16le, u32le

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
EOCD = b"PK\x05\x06"
ZIP64_EOCD = b"PK\x06\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
MAX_UNCOMPRESSED = 4 * 1024**3  # bytes a validation may inflate (zip bombs)


def _eocd_length(cur: Cursor, pos: int) -> int | None:
    record = cur.get(pos, 22)
    if len(record) < 22:
        return None
    return 22 + u16le(record, 20)


def _scan_for_eocd(cur: Cursor, start: int) -> int | None:
    """With data descriptors the local headers do not give the sizes: find the EOCD whose
    central directory ends right before it, counted from ``start``."""
    pos = start
    while pos < cur.end:
        block = cur.block_at(pos)
        if not block:
            return None
        at = block.find(EOCD)
        while at >= 0:
            eocd = pos + at
            record = cur.get(eocd, 22)
            if len(record) == 22:
                size, offset = u32le(record, 12), u32le(record, 16)
                if offset == 0xFFFFFFFF:
                    locator = cur.get(eocd - 20, 20)
                    if (locator[:4] == ZIP64_LOCATOR and cur.get(
                            start + int.from_bytes(locator[8:16], "little"), 4) == ZIP64_EOCD):
                        length = _eocd_length(cur, eocd)
                        return None if length is None else eocd + length - start
                elif offset + size == eocd - start:
                    length = _eocd_length(cur, eocd)
                    return None if length is None else eocd + length - start
            at = block.find(EOCD, at + 1)
        pos += max(1, len(block) - 3)
    return None


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    cur = Cursor(read, start, limit, block=256 * 1024)
    pos = start
    entries = 0
    while True:
        sig = cur.get(pos, 4)
        if sig == LOCAL:
            head = cur.get(pos, 30)
            if len(head) < 30:
                return None
            flags, csize = u16le(head, 6), u32le(head, 18)
            names, extra = u16le(head, 26), u16le(head, 28)
            if flags & 0x08 or csize == 0xFFFFFFFF:
                return _scan_for_eocd(cur, start)
            if u16le(head, 4) > 63 or u16le(head, 8) not in (0, 1, 6, 8, 9, 12, 14, 93, 95, 98):
                return None
            pos += 30 + names + extra + csize
            entries += 1
        elif sig == CENTRAL:
            head = cur.get(pos, 46)
            if len(head) < 46 or not entries:
                return None
            pos += 46 + u16le(head, 28) + u16le(head, 30) + u16le(head, 32)
        elif sig == ZIP64_EOCD:
            head = cur.get(pos, 12)
            if len(head) < 12:
                return None
            pos += 12 + int.from_bytes(head[4:12], "little")
        elif sig == ZIP64_LOCATOR:
            pos += 20
        elif sig == EOCD:
            length = _eocd_length(cur, pos)
            if length is None or not entries:
                return None
            return pos + length - start
        else:
            return None
        if pos - start > limit:
            return None


def validate(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if not infos:
                return "no entries"
            if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
                return "too large to verify (possible zip bomb)"
            bad = archive.testzip()
            if bad is not None:
                return f"bad CRC in {bad!r}"
    except Exception as exc:  # zipfile raises many kinds on corrupt input
        return f"does not open: {type(exc).__name__}: {exc}"
    return None


def refine_extension(path: Path) -> str:
    """docx/xlsx/pptx (OOXML), odt/ods/odp (ODF), jar/apk, else zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" in names:
                for folder, ext in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
                    if any(n.startswith(folder) for n in names):
                        return ext
            if "mimetype" in names:
                mime = archive.read("mimetype")[:100]
                for suffix, ext in ((b".text", "odt"), (b".spreadsheet", "ods"),
                                    (b".presentation", "odp"), (b"epub+zip", "epub")):
                    if mime.endswith(suffix):
                        return ext
            if "AndroidManifest.xml" in names:
                return "apk"
            if "META-INF/MANIFEST.MF" in names:
                return "jar"
    except Exception:  # noqa: S110 - the plain extension is the answer then
        pass
    return "zip"


FORMAT = Format(
    name="zip",
    extension="zip",
    signatures=(LOCAL,),
    find_end=find_end,
    validate=validate,
    max_size=1024 * 1024 * 1024,
    refine_extension=refine_extension,
)
