"""File type by content signature, with an extension-mismatch flag.

Two layers, both reading only the head of a file (and, for ZIP, its central directory):

1. A small signature table kept here for the types an examiner acts on (pictures,
   documents, archives, databases, Windows artefacts, executables, media). It is written
   by hand on purpose: libmagic (python-magic) labels OOXML documents as plain
   ``application/zip`` unless ``[Content_Types].xml`` is the very first member, calls a
   registry hive ``text/plain``, and answers ``???`` for the extensions of MP4, PE, ELF,
   DOCX... The mismatch flag needs a stable short label and the extensions each type is
   allowed to carry, identical on every Debian release whatever its magic database.
2. libmagic through python-magic (a well-kept binding of ``file``'s database, thousands of
   types) for everything the table does not know, when libmagic is installed; its MIME
   type gives the allowed extensions through :mod:`mimetypes`.

A mismatch is only claimed when the type is known, the name has an extension and that
extension is not one the type may carry: plain text, unknown data and files without an
extension are never flagged.
"""

from __future__ import annotations

import io
import mimetypes
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HEAD_SIZE = 8192
"""Bytes of the head that :func:`identify` needs (more is harmless, less may miss types)."""


@dataclass(frozen=True)
class FileType:
    """What the content says a file is."""

    label: str  # short stable name: jpeg, png, docx, sqlite, evtx, regf, pe, ... or "unknown"
    mime: str
    description: str
    extensions: tuple[str, ...] = ()  # lower case, without the dot; () when any will do
    source: str = "signature"  # signature (the table here), libmagic, or none

    @property
    def known(self) -> bool:
        return self.label not in ("unknown", "empty")

    def mismatch(self, name: str) -> bool:
        """True when ``name``'s extension is not one this type may carry."""
        extension = extension_of(name)
        if not extension or not self.known or not self.extensions:
            return False
        return extension not in self.extensions

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "mime": self.mime, "description": self.description,
                "extensions": list(self.extensions), "source": self.source}


def extension_of(name: str) -> str:
    """The lower-case extension of the last path component (``""`` when none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].split(":", 1)[0]  # no NTFS stream
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem.strip(".") or not extension or len(extension) > 16:
        return ""
    return extension.lower()


def _t(label: str, mime: str, description: str, *extensions: str) -> FileType:
    return FileType(label, mime, description, extensions)


JPEG = _t("jpeg", "image/jpeg", "JPEG image", "jpg", "jpeg", "jpe", "jfif", "jfi", "thm")
PNG = _t("png", "image/png", "PNG image", "png")
GIF = _t("gif", "image/gif", "GIF image", "gif")
BMP = _t("bmp", "image/bmp", "BMP image", "bmp", "dib")
TIFF = _t("tiff", "image/tiff", "TIFF image", "tif", "tiff", "dng", "nef", "cr2", "arw")
WEBP = _t("webp", "image/webp", "WebP image", "webp")
PDF = _t("pdf", "application/pdf", "PDF document", "pdf", "ai")
ZIP = _t("zip", "application/zip", "ZIP archive", "zip", "jar", "apk", "xpi", "crx", "ipa",
         "kmz", "epub", "odt", "ods", "odp", "docx", "xlsx", "pptx", "docm", "xlsm", "pptm",
         "whl", "nupkg", "aar", "war", "ear", "cbz", "zipx", "xps", "vsix", "appx",
         "msix", "3mf", "idml")
DOCX = _t("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          "Word document (OOXML)", "docx", "docm", "dotx", "dotm")
XLSX = _t("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "Excel workbook (OOXML)", "xlsx", "xlsm", "xltx", "xltm")
PPTX = _t("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
          "PowerPoint presentation (OOXML)", "pptx", "pptm", "potx", "potm", "ppsx", "ppsm")
OOXML = _t("ooxml", "application/vnd.openxmlformats-officedocument", "Office Open XML package",
           "docx", "xlsx", "pptx", "vsdx", "docm", "xlsm", "pptm")
ODF = _t("odf", "application/vnd.oasis.opendocument", "OpenDocument file", "odt", "ods",
         "odp", "odg", "ott", "ots", "otp")
EPUB = _t("epub", "application/epub+zip", "EPUB book", "epub")
APK = _t("apk", "application/vnd.android.package-archive", "Android package", "apk", "aab")
JAR = _t("jar", "application/java-archive", "Java archive", "jar", "war", "ear")
OLE = _t("ole", "application/x-ole-storage", "OLE2 compound file (legacy Office, MSI...)",
         "doc", "xls", "ppt", "msi", "msg", "dot", "xlt", "pot", "pps", "vsd", "pub", "db",
         "mst", "msp", "ost")
SQLITE = _t("sqlite", "application/vnd.sqlite3", "SQLite 3 database", "sqlite", "sqlite3",
            "db", "db3", "sdb", "s3db", "sqlitedb", "dat")
EVTX = _t("evtx", "application/x-ms-evtx", "Windows event log (EVTX)", "evtx")
EVT = _t("evt", "application/x-ms-evt", "Windows event log (EVT)", "evt")
REGF = _t("regf", "application/x-ms-registry", "Windows registry hive", "dat", "hve", "hiv",
          "sav")
LNK = _t("lnk", "application/x-ms-shortcut", "Windows shortcut", "lnk")
PF = _t("prefetch", "application/x-ms-prefetch", "Windows prefetch file", "pf")
PE = _t("pe", "application/vnd.microsoft.portable-executable", "Windows executable (PE)",
        "exe", "dll", "sys", "scr", "cpl", "ocx", "drv", "efi", "mui", "com", "ax", "tlb",
        "node", "pyd", "winmd", "msstyles", "acm", "tsp")
MZ = _t("mz", "application/x-dosexec", "DOS executable", "exe", "com", "dll", "sys", "drv")
ELF = _t("elf", "application/x-executable", "ELF executable or library", "so", "o", "ko",
         "elf", "bin", "axf", "prx", "mod", "debug", "out")
MACHO = _t("macho", "application/x-mach-binary", "Mach-O executable", "dylib", "bundle",
           "so", "o")
GZIP = _t("gzip", "application/gzip", "gzip compressed data", "gz", "tgz", "svgz", "z")
BZIP2 = _t("bzip2", "application/x-bzip2", "bzip2 compressed data", "bz2", "tbz", "tbz2")
XZ = _t("xz", "application/x-xz", "xz compressed data", "xz", "txz")
ZSTD = _t("zstd", "application/zstd", "Zstandard compressed data", "zst", "tzst")
SEVENZIP = _t("7z", "application/x-7z-compressed", "7-Zip archive", "7z")
RAR = _t("rar", "application/vnd.rar", "RAR archive", "rar", "r00", "cbr")
TAR = _t("tar", "application/x-tar", "tar archive", "tar")
CAB = _t("cab", "application/vnd.ms-cab-compressed", "Microsoft cabinet", "cab", "msu")
MP4 = _t("mp4", "video/mp4", "MP4 / ISO media", "mp4", "m4v", "m4a", "m4b", "m4p", "f4v",
         "3gp", "3g2", "mov", "heic", "heif", "avif", "mj2", "qt")
QUICKTIME = _t("mov", "video/quicktime", "QuickTime movie", "mov", "qt", "mp4", "m4v")
HEIC = _t("heic", "image/heic", "HEIF/HEIC image", "heic", "heif", "hif", "avif")
AVI = _t("avi", "video/x-msvideo", "AVI video", "avi")
WAV = _t("wav", "audio/wav", "WAVE audio", "wav")
MKV = _t("matroska", "video/x-matroska", "Matroska / WebM media", "mkv", "webm", "mka", "mk3d")
MP3 = _t("mp3", "audio/mpeg", "MP3 audio", "mp3")
OGG = _t("ogg", "audio/ogg", "Ogg media", "ogg", "oga", "ogv", "opus", "spx")
FLAC = _t("flac", "audio/flac", "FLAC audio", "flac")
RTF = _t("rtf", "application/rtf", "RTF document", "rtf", "doc")
PST = _t("pst", "application/vnd.ms-outlook", "Outlook PST/OST", "pst", "ost")
EWF = _t("ewf", "application/x-ewf", "EWF evidence image", "e01", "ex01", "l01", "lx01",
         "s01", "e02", "e03")
QCOW = _t("qcow2", "application/x-qemu-disk", "QCOW disk image", "qcow2", "qcow", "img")
VMDK = _t("vmdk", "application/x-vmdk", "VMware disk", "vmdk")
VHDX = _t("vhdx", "application/x-vhdx", "Hyper-V disk", "vhdx")
PCAP = _t("pcap", "application/vnd.tcpdump.pcap", "tcpdump capture", "pcap", "cap", "dmp")
PCAPNG = _t("pcapng", "application/x-pcapng", "pcapng capture", "pcapng", "pcap", "ntar")
KDBX = _t("kdbx", "application/x-keepass2", "KeePass database", "kdbx", "kdb")
PLIST = _t("bplist", "application/x-bplist", "binary property list", "plist", "bplist")
ESE = _t("ese", "application/x-ms-ese", "Extensible Storage Engine database", "edb", "dat",
         "db", "sdb")
CLASS = _t("class", "application/java-vm", "Java class file", "class")
DEX = _t("dex", "application/vnd.android.dex", "Android Dalvik executable", "dex")
EMPTY = FileType("empty", "application/x-empty", "empty file", (), "signature")
UNKNOWN = FileType("unknown", "application/octet-stream", "data", (), "none")

# (offset, magic, type) checked in order; first match wins. Longer magic first where one
# is the prefix of another.
_SIGNATURES: tuple[tuple[int, bytes, FileType], ...] = (
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (0, b"%PDF-", PDF),
    (0, b"SQLite format 3\x00", SQLITE),
    (0, b"ElfFile\x00", EVTX),
    (4, b"LfLe", EVT),
    (0, b"regf", REGF),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F", LNK),
    (0, b"MAM\x04", PF),
    (4, b"SCCA", PF),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (0, b"\x7fELF", ELF),
    (0, b"\xcf\xfa\xed\xfe", MACHO),
    (0, b"\xce\xfa\xed\xfe", MACHO),
    (0, b"\xfe\xed\xfa\xcf", MACHO),
    (0, b"\xfe\xed\xfa\xce", MACHO),
    (0, b"\x1f\x8b", GZIP),
    (0, b"BZh", BZIP2),
    (0, b"\xfd7zXZ\x00", XZ),
    (0, b"\x28\xb5\x2f\xfd", ZSTD),
    (0, b"7z\xbc\xaf\x27\x1c", SEVENZIP),
    (0, b"Rar!\x1a\x07", RAR),
    (257, b"ustar", TAR),
    (0, b"MSCF\x00\x00\x00\x00", CAB),
    (0, b"{\\rtf", RTF),
    (0, b"!BDN", PST),
    (0, b"EVF\x09\x0d\x0a\xff\x00", EWF),
    (0, b"EVF2\x0d\x0a\x81\x00", EWF),
    (0, b"LVF\x09\x0d\x0a\xff\x00", EWF),
    (0, b"QFI\xfb", QCOW),
    (0, b"KDMV", VMDK),
    (0, b"vhdxfile", VHDX),
    (0, b"\xd4\xc3\xb2\xa1", PCAP),
    (0, b"\xa1\xb2\xc3\xd4", PCAP),
    (0, b"\x4d\x3c\xb2\xa1", PCAP),
    (0, b"\x0a\x0d\x0d\x0a", PCAPNG),
    (0, b"\x03\xd9\xa2\x9a\x67\xfb\x4b\xb5", KDBX),
    (0, b"bplist0", PLIST),
    (4, b"\xef\xcd\xab\x89", ESE),
    (0, b"\xca\xfe\xba\xbe", CLASS),
    (0, b"dex\n", DEX),
    (0, b"\x1a\x45\xdf\xa3", MKV),
    (0, b"OggS", OGG),
    (0, b"fLaC", FLAC),
    (0, b"ID3", MP3),
    (0, b"\xff\xfb", MP3),
    (0, b"\xff\xf3", MP3),
    (0, b"II*\x00", TIFF),
    (0, b"MM\x00*", TIFF),
    (0, b"BM", BMP),  # checked further in _confirm: two letters alone are too weak
)

# The signatures that can match a head starting with each byte value, in table order: those
# at offset 0 starting with that byte, and those further in.
_SIGNATURES_BY_FIRST_BYTE = tuple(
    tuple(s for s in _SIGNATURES if s[0] != 0 or s[1][0] == first) for first in range(256))

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
                b"avif", b"avis"}


def _confirm(kind: FileType, head: bytes) -> bool:
    if kind is BMP:
        # BM, then the file size, two reserved words, and a header size that exists.
        return len(head) >= 18 and int.from_bytes(head[14:18], "little") in (
            12, 40, 52, 56, 64, 108, 124)
    if kind is MP3 and head[:2] != b"ID":
        return len(head) >= 4 and (head[2] >> 4) not in (0, 15)
    return True


def _riff(head: bytes) -> FileType | None:
    if head[:4] != b"RIFF" or len(head) < 12:
        return None
    return {b"WEBP": WEBP, b"AVI ": AVI, b"WAVE": WAV}.get(head[8:12])


def _iso_media(head: bytes) -> FileType | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return HEIC
    if brand == b"qt  ":
        return QUICKTIME
    return MP4


def _pe(head: bytes) -> FileType | None:
    if head[:2] != b"MZ":
        return None
    if len(head) >= 64:
        pe_offset = int.from_bytes(head[60:64], "little")
        if pe_offset + 4 <= len(head) and head[pe_offset:pe_offset + 4] == b"PE\x00\x00":
            return PE
        if pe_offset + 4 > len(head) and pe_offset < 1 << 20:
            return PE  # header beyond the head we were given: trust the DOS stub
    return MZ


def zip_kind(names: list[str]) -> FileType:
    """Refine a ZIP by its member names: OOXML (by ``[Content_Types].xml`` and the part
    folders), OpenDocument and EPUB (``mimetype``), Android and Java packages."""
    members = set(names)
    if "[Content_Types].xml" in members:
        tops = {name.split("/", 1)[0] for name in names}
        if "word" in tops:
            return DOCX
        if "xl" in tops:
            return XLSX
        if "ppt" in tops:
            return PPTX
        return OOXML
    if "AndroidManifest.xml" in members and any(n.endswith(".dex") for n in names):
        return APK
    if "META-INF/MANIFEST.MF" in members:
        return JAR
    if "mimetype" in members:
        if "META-INF/container.xml" in members:
            return EPUB
        return ODF
    return ZIP


def _zip_names_from_head(head: bytes) -> list[str]:
    """Member names of the local headers found in ``head`` (the central directory may be
    far away; writers put ``[Content_Types].xml`` and ``mimetype`` first)."""
    names: list[str] = []
    position = 0
    while position + 30 <= len(head) and head[position:position + 4] == b"PK\x03\x04":
        flags = int.from_bytes(head[position + 6:position + 8], "little")
        compressed = int.from_bytes(head[position + 18:position + 22], "little")
        name_length = int.from_bytes(head[position + 26:position + 28], "little")
        extra_length = int.from_bytes(head[position + 28:position + 30], "little")
        start = position + 30
        names.append(head[start:start + name_length].decode("utf-8", "replace"))
        if flags & 0x08:  # sizes after the data: the next header cannot be found cheaply
            break
        position = start + name_length + extra_length + compressed
    return names


def identify_head(head: bytes, *, describe: bool = True, libmagic: bool = True) -> FileType:
    """The type from the first bytes only (``HEAD_SIZE`` is enough), table then libmagic.

    ``describe=False`` spares libmagic's second call (its human description, ``file``'s
    text): a type found by libmagic then has its MIME type as description. Label, MIME
    type and extensions are the same either way. ``libmagic=False`` returns
    :data:`NEEDS_LIBMAGIC` instead of asking it (the caller asks :func:`libmagic_type`
    later, for instance in another thread: python-magic releases the GIL).
    """
    if not head:
        return EMPTY
    if head.startswith(_ZIP_MAGIC):
        return zip_kind(_zip_names_from_head(head))
    for finder in (_riff, _iso_media, _pe):
        found = finder(head)
        if found is not None:
            return found
    for offset, magic, kind in _SIGNATURES_BY_FIRST_BYTE[head[0]]:
        if head[offset:offset + len(magic)] == magic and _confirm(kind, head):
            return kind
    if _plain_text(head):
        return PLAIN_TEXT
    if not libmagic:
        return NEEDS_LIBMAGIC
    return _libmagic(head, describe)


# Bytes of ordinary text: tab, newlines, form feed, escape, printable ASCII and UTF-8's high
# bytes. A head made only of these (and valid UTF-8) is text; asking libmagic would cost
# two calls of ~0.3 ms for a verdict that never flags a mismatch anyway.
_TEXT_BYTES = bytes([7, 8, 9, 10, 12, 13, 27, *range(0x20, 0x7F), *range(0x80, 0x100)])
PLAIN_TEXT = FileType("text", "text/plain", "text", (), "signature")
NEEDS_LIBMAGIC = FileType("unknown", "application/octet-stream", "libmagic not asked yet", (),
                          "none")


def _plain_text(head: bytes) -> bool:
    if head.translate(None, _TEXT_BYTES):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut by the end of the head
    return True


def identify(
    head: bytes,
    *,
    open_stream: Callable[[], io.RawIOBase | io.BufferedIOBase] | None = None,
    describe: bool = True,
    libmagic: bool = True,
) -> FileType:
    """The type of a file whose first bytes are ``head``.

    ``open_stream`` (optional) gives a seekable binary stream over the whole file: a ZIP
    is then classified by its central directory (only that is read), not only by the
    local headers inside ``head``. ``describe``: see :func:`identify_head`.
    """
    kind = identify_head(head, describe=describe, libmagic=libmagic)
    if open_stream is not None and kind in (ZIP, OOXML) and head.startswith(b"PK\x03\x04"):
        try:
            with open_stream() as stream, zipfile.ZipFile(stream) as archive:
                kind = zip_kind(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass  # a damaged or truncated archive: what the local headers said stands
    return kind


def identify_file(path: str | os.PathLike[str]) -> FileType:
    """The type of a file on disk (reads its head, and a ZIP's central directory)."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_SIZE)
    return identify(head, open_stream=lambda: open(path, "rb"))


# --- libmagic (optional) -------------------------------------------------------------

_local = threading.local()  # a libmagic cookie is not thread-safe: one per thread
_WEAK_MIMES = {"application/octet-stream", "text/plain", "application/x-empty"}


def _magic_cookies() -> tuple[Any, Any] | None:
    if not hasattr(_local, "cookies"):
        cookies: tuple[Any, Any] | None
        try:
            import magic

            cookies = (magic.Magic(mime=True), magic.Magic())
        except (ImportError, OSError):  # python-magic or libmagic1 not installed
            cookies = None
        _local.cookies = cookies
    found: tuple[Any, Any] | None = _local.cookies
    return found


def libmagic_available() -> bool:
    return _magic_cookies() is not None


def libmagic_type(head: bytes, *, describe: bool = True) -> FileType:
    """What libmagic says of ``head`` (:data:`UNKNOWN` without libmagic)."""
    return _libmagic(head, describe)


def _libmagic(head: bytes, describe: bool = True) -> FileType:
    cookies = _magic_cookies()
    if cookies is None:
        return UNKNOWN
    try:
        mime = str(cookies[0].from_buffer(head))
        description = str(cookies[1].from_buffer(head)) if describe else mime
    except Exception:  # python-magic raises its own MagicException on odd input
        return UNKNOWN
    if mime in _WEAK_MIMES or mime.startswith("text/"):
        # Text has no reliable extension: never flag it as a mismatch.
        label = "text" if mime.startswith("text/") else "unknown"
        return FileType(label, mime, description, (), "libmagic")
    extensions = tuple(sorted({e.lstrip(".").lower()
                               for e in mimetypes.guess_all_extensions(mime)}))
    label = mime.split("/", 1)[-1].removeprefix("x-").removeprefix("vnd.")
    return FileType(label, mime, description, extensions, "libmagic")
