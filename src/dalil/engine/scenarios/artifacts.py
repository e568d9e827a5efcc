"""The bytes of planted artifacts: documents, photos, browser history, chats, USB traces.

Every function is deterministic: same arguments, same bytes (no clock, no random state of
its own; the caller passes a seeded ``random.Random`` where variety is wanted). Formats are
the real ones, minimal but valid, so that Dalil's parsers and the field's tools read them:
OOXML (``.docx``, a ZIP with fixed member dates), PDF 1.4 with a correct xref table, JPEG
with an EXIF APP1 segment (GPS IFD) written by Pillow, a Chrome ``History`` SQLite
database, a Telegram Desktop ``result.json`` export and a Windows ``setupapi.dev.log``.
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

CHROME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def chrome_time(moment: datetime) -> int:
    """Chrome/WebKit time: microseconds since 1601-01-01 UTC."""
    delta = moment.astimezone(UTC) - CHROME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    m = moment.astimezone(UTC)
    return (m.year, m.month, m.day, m.hour, m.minute, m.second - m.second % 2)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- documents ---------------------------------------------------------------------------


def docx(paragraphs: Sequence[str], *, author: str, title: str, created: datetime,
         modified: datetime) -> bytes:
    """A minimal Word document (OOXML) whose core properties carry author and times."""
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(p)}</w:t></w:r></w:p>"
                   for p in paragraphs)
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxml'
            'formats-officedocument.wordprocessingml.document.main+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxml'
            'formats-package.core-properties+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            '</Relationships>'),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
            f'main"><w:body>{body}</w:body></w:document>'),
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(author)}</dc:creator>"
            f"<cp:lastModifiedBy>{escape(author)}</cp:lastModifiedBy>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{_iso_z(created)}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_iso_z(modified)}'
            "</dcterms:modified></cp:coreProperties>"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=_zip_time(modified))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def pdf(lines: Sequence[str], *, title: str, author: str, created: datetime) -> bytes:
    """A one-page PDF 1.4 (Helvetica, Latin text; other letters become ``?``)."""

    def text(value: str) -> str:
        raw = value.encode("latin-1", "replace").decode("latin-1")
        return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 12 Tf 72 760 Td 16 TL " + " ".join(
        f"({text(line)}) '" for line in lines) + " ET"
    stamp = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 "
        "4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
        f"<< /Title ({text(title)}) /Author ({text(author)}) /CreationDate ({stamp}) "
        f"/ModDate ({stamp}) /Producer (Dalil scenario generator) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode("ascii")
    return bytes(out)


def text_file(lines: Sequence[str]) -> bytes:
    """Windows-style text: UTF-8 with CRLF line ends."""
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- photos ------------------------------------------------------------------------------


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = round((minutes_full - minutes) * 60 * 10000)
    return Fraction(degrees, 1), Fraction(minutes, 1), Fraction(seconds, 10000)


def jpeg(rng: random.Random, *, taken: datetime, make: str, model: str,
         gps: tuple[float, float] | None, width: int = 480, height: int = 360) -> bytes:
    """A photo-like JPEG (a drawn scene) with EXIF: camera, DateTimeOriginal, maybe GPS.

    ``taken`` is the camera's local time (naive), as EXIF stores it.
    """
    sky = (rng.randrange(90, 200), rng.randrange(140, 220), rng.randrange(200, 256))
    ground = (rng.randrange(60, 160), rng.randrange(80, 160), rng.randrange(30, 90))
    image = Image.new("RGB", (width, height), sky)
    draw = ImageDraw.Draw(image)
    horizon = rng.randrange(height // 3, 2 * height // 3)
    draw.rectangle((0, horizon, width, height), fill=ground)
    for _ in range(rng.randint(4, 9)):
        x, w = rng.randrange(width), rng.randrange(20, 90)
        h = rng.randrange(30, horizon)
        shade = rng.randrange(80, 240)
        draw.rectangle((x, horizon - h, x + w, horizon), fill=(shade, shade - 20, shade - 40))
        for wy in range(horizon - h + 6, horizon - 8, 14):
            draw.rectangle((x + 5, wy, x + 11, wy + 6), fill=(250, 240, 170))
    sun = rng.randrange(width - 40)
    draw.ellipse((sun, 10, sun + 40, 50), fill=(255, 240, 160))
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0132] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9004] = taken.strftime("%Y:%m:%d %H:%M:%S")
    if gps is not None:
        lat, lon = gps
        info = exif.get_ifd(0x8825)
        info[0x0000] = b"\x02\x03\x00\x00"
        info[0x0001] = "N" if lat >= 0 else "S"
        info[0x0002] = _dms(lat)
        info[0x0003] = "E" if lon >= 0 else "W"
        info[0x0004] = _dms(lon)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=82, exif=exif.tobytes())
    return buffer.getvalue()


# --- Chrome history ----------------------------------------------------------------------

_CHROME_SCHEMA = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE urls(id INTEGER PRIMARY KEY AUTOINCREMENT, url LONGVARCHAR, title LONGVARCHAR,
  visit_count INTEGER DEFAULT 0 NOT NULL, typed_count INTEGER DEFAULT 0 NOT NULL,
  last_visit_time INTEGER NOT NULL, hidden INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visits(id INTEGER PRIMARY KEY AUTOINCREMENT, url INTEGER NOT NULL,
  visit_time INTEGER NOT NULL, from_visit INTEGER, external_referrer_url TEXT,
  transition INTEGER DEFAULT 0 NOT NULL, segment_id INTEGER,
  visit_duration INTEGER DEFAULT 0 NOT NULL, incremented_omnibox_typed_score BOOLEAN
  DEFAULT FALSE NOT NULL, opener_visit INTEGER, originator_cache_guid TEXT,
  originator_visit_id INTEGER, originator_from_visit INTEGER,
  originator_opener_visit INTEGER, is_known_to_sync BOOLEAN DEFAULT FALSE NOT NULL,
  consider_for_ntp_most_visited BOOLEAN DEFAULT FALSE NOT NULL, visited_link_id INTEGER
  DEFAULT 0 NOT NULL, app_id TEXT);
CREATE TABLE keyword_search_terms(keyword_id INTEGER NOT NULL, url_id INTEGER NOT NULL,
  term LONGVARCHAR NOT NULL, normalized_term LONGVARCHAR NOT NULL);
CREATE INDEX urls_url_index ON urls(url);
CREATE INDEX visits_url_index ON visits(url);
CREATE INDEX visits_time_index ON visits(visit_time);
CREATE INDEX keyword_search_terms_index1 ON keyword_search_terms(keyword_id,
  normalized_term);
CREATE INDEX keyword_search_terms_index2 ON keyword_search_terms(url_id);
CREATE INDEX keyword_search_terms_index3 ON keyword_search_terms(term);
"""
_TRANSITION_LINK, _TRANSITION_TYPED, _TRANSITION_GENERATED = 0, 1, 5
_CHAIN_ENDS = 0x30000000  # CHAIN_START | CHAIN_END


@dataclass(frozen=True)
class Visit:
    """One visit: a URL with its title and time; ``search`` when it is a web search."""

    url: str
    title: str
    at: datetime  # aware
    search: str | None = None


def google_search(term: str, at: datetime) -> Visit:
    url = f"https://www.google.com/search?q={quote_plus(term)}&sourceid=chrome&ie=UTF-8"
    return Visit(url, f"{term} - Google Search", at, term)


def chrome_history(visits: Sequence[Visit]) -> bytes:
    """A Chrome ``History`` database (SQLite) with urls, visits and keyword_search_terms."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(_CHROME_SCHEMA)
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("mmap_status", "-1"), ("version", "66"), ("last_compatible_version", "16")])
        url_ids: dict[str, int] = {}
        for visit in sorted(visits, key=lambda v: v.at):
            when = chrome_time(visit.at)
            if visit.url not in url_ids:
                cursor = connection.execute(
                    "INSERT INTO urls (url, title, visit_count, typed_count, last_visit_time, "
                    "hidden) VALUES (?, ?, 0, 0, ?, 0)", (visit.url, visit.title, when))
                url_ids[visit.url] = int(cursor.lastrowid or 0)
                if visit.search is not None:
                    connection.execute(
                        "INSERT INTO keyword_search_terms VALUES (2, ?, ?, ?)",
                        (url_ids[visit.url], visit.search, visit.search.casefold()))
            url_id = url_ids[visit.url]
            typed = visit.search is not None
            transition = (_TRANSITION_GENERATED if typed else _TRANSITION_LINK) | _CHAIN_ENDS
            connection.execute(
                "INSERT INTO visits (url, visit_time, from_visit, transition, segment_id, "
                "visit_duration) VALUES (?, ?, 0, ?, 0, ?)",
                (url_id, when, transition, 15_000_000))
            connection.execute(
                "UPDATE urls SET visit_count = visit_count + 1, typed_count = typed_count + ?, "
                "last_visit_time = ? WHERE id = ?", (int(typed), when, url_id))
        connection.commit()
        return bytes(connection.serialize())
    finally:
        connection.close()


# --- Telegram Desktop export -------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    sender: str
    sender_id: int
    text: str
    at: datetime  # aware


@dataclass(frozen=True)
class Chat:
    name: str
    chat_id: int
    messages: tuple[Message, ...]


def telegram_export(owner: str, owner_id: int, phone: str, chats: Sequence[Chat],
                    zone: timedelta) -> bytes:
    """A Telegram Desktop "Export chat history" ``result.json`` (machine-readable JSON).

    Telegram writes ``date`` in the exporting computer's local time and ``date_unixtime``
    in seconds since the epoch; ``zone`` is that computer's UTC offset.
    """
    first, _, last = owner.partition(" ")
    chat_list = []
    message_id = 1000
    for chat in chats:
        messages = []
        for m in sorted(chat.messages, key=lambda m: m.at):
            message_id += 1
            local = (m.at.astimezone(UTC) + zone).replace(tzinfo=None)
            unix = int(m.at.timestamp())
            messages.append({
                "id": message_id, "type": "message",
                "date": local.strftime("%Y-%m-%dT%H:%M:%S"), "date_unixtime": str(unix),
                "from": m.sender, "from_id": f"user{m.sender_id}", "text": m.text,
                "text_entities": [{"type": "plain", "text": m.text}],
            })
        chat_list.append({"name": chat.name, "type": "personal_chat", "id": chat.chat_id,
                          "messages": messages})
    document = {
        "about": "Here is the data you requested. Remember: Telegram is ad free, it doesn't "
                 "use your data for ad targeting and doesn't sell it to others.",
        "personal_information": {"user_id": owner_id, "first_name": first,
                                 "last_name": last, "phone_number": phone, "username": "",
                                 "bio": ""},
        "chats": {"about": "This page lists all chats from this export.", "list": chat_list},
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# --- Windows USB trace -------------------------------------------------------------------


@dataclass(frozen=True)
class UsbDevice:
    vendor: str
    product: str
    vid: str
    pid: str
    serial: str
    revision: str = "1.00"

    @property
    def usbstor_id(self) -> str:
        ven = self.vendor.replace(" ", "_")[:8]
        prod = self.product.replace(" ", "_")[:16]
        return f"USBSTOR\\Disk&Ven_{ven}&Prod_{prod}&Rev_{self.revision}\\{self.serial}&0"

    @property
    def usb_id(self) -> str:
        return f"USB\\VID_{self.vid}&PID_{self.pid}\\{self.serial}"


def _section(title: str, start: datetime, lines: Sequence[str], end: datetime) -> list[str]:
    stamp = "%Y/%m/%d %H:%M:%S.{ms:03d}"
    return [
        f">>>  [{title}]",
        f">>>  Section start {start.strftime(stamp).format(ms=start.microsecond // 1000)}",
        *[f"     {line}" for line in lines],
        f"<<<  Section end {end.strftime(stamp).format(ms=end.microsecond // 1000)}",
        "<<<  [Exit status: SUCCESS]",
        "",
    ]


def setupapi_log(events: Sequence[tuple[datetime, str, str]], *, boot: datetime) -> bytes:
    """``C:\\Windows\\INF\\setupapi.dev.log``: device installs, in the PC's local time.

    ``events`` are (naive local time, device instance id, device description).
    """
    lines = [
        "[Device Install Log]",
        "     OS Version = 10.0.19045",
        "     Service Pack = 0.0",
        "     Suite = 0x0100",
        "     ProductType = 1",
        "     Architecture = amd64",
        "",
        "[BeginLog]",
        "",
        f"[Boot Session: {boot.strftime('%Y/%m/%d %H:%M:%S')}.500]",
        "",
    ]
    for at, instance, description in sorted(events):
        end = at + timedelta(seconds=1, milliseconds=437)
        lines += _section(f"Device Install (Hardware initiated) - {instance}", at, [
            f"ump: Creating Install Process: DrvInst.exe {at.strftime('%H:%M:%S')}.{321:03d}",
            "ndv: Retrieving device info...",
            "ndv: Setting device parameters...",
            f"dvi: Device Description: {description}",
            "dvi: {Build Driver List} " + at.strftime("%H:%M:%S") + ".512",
            "dvi: {DIF_INSTALLDEVICE} - exit(0x00000000)",
            "ndv: Device install status=0x00000000",
        ], end)
    return "\r\n".join(lines).encode("utf-8")
