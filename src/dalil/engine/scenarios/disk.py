"""Evidence generator: a suspect's disk image with planted items and its answer key.

``build_disk(path, seed=..., filesystem="ext4"|"fat32", size_mib=64)`` writes an image
holding a Windows user's profile (the image is the suspect's backup disk): documents
(``.docx``, ``.txt``, ``.pdf``), photos with EXIF (one with GPS coordinates), a Chrome
``History`` database with web searches, a Telegram Desktop ``result.json`` export and a
``setupapi.dev.log`` recording the USB storage device that was attached; some files are
deleted afterwards (their content stays in place, recoverable through the file system)
and some are only recoverable by carving (their bytes sit in unallocated space with no
name or metadata pointing at them). It returns a :class:`DiskKey`: every planted item with
path, inode (read back with The Sleuth Kit after building), deleted flag, MD5/SHA-1/
SHA-256 and times in UTC, plus the facts a lab asks about.

Determinism: everything comes from ``random.Random("dalil.scenarios.disk:<seed>")`` and
from the reference time; no clock is read. ext4 is built with ``mke2fs -d`` under
``E2FSPROGS_FAKE_TIME`` with a UUID and directory-hash seed drawn from the seed, then every
inode's owner and times are pinned with ``debugfs set_inode_field`` (``mke2fs -d`` copies
the staging files' ctimes, which nobody can set). FAT32 is written in pure Python
(:mod:`dalil.engine.scenarios.fat32`). The same seed thus gives byte-identical images.

The image file is sparse: only metadata and planted data are written, so a 64 MiB variant
costs a few hundred milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dalil.engine.scenarios import artifacts as art
from dalil.engine.scenarios.fat32 import Fat32File, build_fat32

KEY_FORMAT = "dalil-disk-key/1"
FILESYSTEMS = ("ext4", "fat32")
DEFAULT_SIZE_MIB = 64
EXT4_BLOCK = 4096
_UID = 1000


class DiskError(RuntimeError):
    """The image could not be built; the message names the step and the cause."""


@dataclass(frozen=True)
class Place:
    """A place a photo can be taken: its name, coordinates and other spellings."""

    name: str
    latitude: float
    longitude: float
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Persona:
    """Who owns the disk and where they live: drawn from a national pool by the caller."""

    owner: str = "Aidar Seitkali"
    phone: str = "+7 701 555 12 34"
    contacts: tuple[tuple[str, str], ...] = (
        ("Erlan Akhmetov", "+7 702 318 44 10"), ("Asel Omarova", "+7 705 220 19 87"),
        ("Timur Iskakov", "+7 777 410 63 02"))
    places: tuple[Place, ...] = (
        Place("Almaty", 43.2389, 76.8897, ("Алматы",)),
        Place("Astana", 51.1694, 71.4491, ("Астана",)),
        Place("Shymkent", 42.3417, 69.5901, ("Шымкент",)))
    utc_offset: timedelta = timedelta(hours=5)
    currency: str = "KZT"
    city: str = "Almaty"


@dataclass
class PlantedItem:
    """One planted item: where it goes, its bytes, its times (aware UTC) and its fate."""

    kind: str
    path: str | None  # ``/``-separated, no leading slash; None when carving-only
    data: bytes
    mtime: datetime
    atime: datetime
    ctime: datetime
    crtime: datetime
    description: str
    deleted: bool = False
    dtime: datetime | None = None
    carve_only: bool = False


@dataclass
class DiskPlan:
    """The content of a disk before it is laid out in a file system."""

    items: list[PlantedItem]
    formatted: datetime
    label: str
    facts: dict[str, Any]


@dataclass
class DiskKey:
    """The ground truth of one image: every planted item and the facts of the story."""

    seed: str
    filesystem: str
    size: int
    label: str
    volume_id: str
    utc_offset: str
    formatted: str
    items: list[dict[str, Any]]
    facts: dict[str, Any]
    image_sha256: str | None = None
    tools: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEY_FORMAT, "seed": self.seed, "filesystem": self.filesystem,
                "size": self.size, "label": self.label, "volume_id": self.volume_id,
                "utc_offset": self.utc_offset, "formatted": self.formatted,
                "image_sha256": self.image_sha256, "tools": self.tools,
                "items": self.items, "facts": self.facts}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    def item(self, kind: str) -> dict[str, Any]:
        """The first item of ``kind`` (``document-target``, ``photo-gps``, ...)."""
        for item in self.items:
            if item["kind"] == kind:
                return item
        raise KeyError(kind)


# --- the story ---------------------------------------------------------------------------

_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m",
                      "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "sch",
                      "", "y", "", "e", "yu", "ya", "a", "g", "q", "n", "o", "u", "u", "h",
                      "i"], strict=True))


def login_name(person: str) -> str:
    """A Windows account name from a person's given name: ``Айдар Сейткали`` -> ``aidar``."""
    given = person.split()[0].casefold() if person.split() else "user"
    latin = "".join(_CYRILLIC.get(c, c) for c in given)
    clean = re.sub(r"[^a-z0-9]", "", latin.encode("ascii", "ignore").decode("ascii"))
    replacements = {"ş": "s", "ç": "c", "ä": "a", "ö": "o", "ü": "u", "ý": "y", "ň": "n",
                    "ž": "z", "ğ": "g", "'": ""}
    if not clean:
        clean = re.sub(r"[^a-z0-9]", "", "".join(replacements.get(c, c) for c in given))
    return clean or "user"


_SEARCHES = (
    "как обналичить USDT в {city}", "купить сим карту без паспорта",
    "how to wipe a usb flash drive", "удалить историю браузера навсегда",
    "p2p обмен {currency} на USDT", "как проверить есть ли розыск",
    "аренда квартиры посуточно {city} без документов", "vpn for telegram free",
    "сколько лет дают за мошенничество", "create fake bank receipt",
    "дроп карты купить", "how to recover deleted files",
    "курс USDT {currency} сегодня", "обменник криптовалюты {city} наличные",
    "как отправить деньги без комиссии", "anonymous crypto wallet without kyc",
)
_PLAIN_VISITS = (
    ("https://www.youtube.com/", "YouTube"), ("https://mail.google.com/mail/u/0/", "Inbox"),
    ("https://web.telegram.org/k/", "Telegram Web"), ("https://www.binance.com/en/p2p",
                                                      "P2P Trading | Binance"),
    ("https://www.olx.kz/", "OLX"), ("https://kaspi.kz/", "Kaspi.kz"),
    ("https://www.wikipedia.org/", "Wikipedia"), ("https://2gis.kz/", "2GIS"),
)
_USB_DEVICES = (
    ("SanDisk", "Cruzer Blade", "0781", "5567"), ("Kingston", "DataTraveler 3.0", "0951",
                                                  "1666"),
    ("JetFlash", "Transcend 32GB", "8564", "1000"), ("Samsung", "Flash Drive FIT", "090C",
                                                     "1000"),
    ("Verbatim", "STORE N GO", "18A5", "0302"), ("SP", "Silicon-Power16G", "13FE", "4200"),
    ("Generic", "Flash Disk", "058F", "6387"), ("ADATA", "USB Flash Drive", "125F", "DB8A"),
)
_PHONES = (("samsung", "SM-A546E"), ("Xiaomi", "Redmi Note 12"), ("Apple", "iPhone 13"),
           ("HUAWEI", "NOVA 11"))
_DOC_STEMS = ("dogovor", "raspiska", "plan", "otchet", "spisok", "zayavlenie", "akt",
              "perevod", "kvitanciya", "grafik")
_SECRET_STEMS = ("paroli", "koshelki", "karty", "kontakty", "skhema", "drop", "seed",
                 "kody")
_CHAT_LINES = (
    "Деньги пришли, проверь", "Скинь номер карты", "Завтра в {time} у {place}",
    "Сколько USDT по курсу?", "Флешку забери, там всё", "Удали переписку после",
    "Новые сим-карты готовы", "Клиент перевёл {amount} {currency}", "Ок", "Понял",
    "Не звони на этот номер больше", "Отправил скрин", "Где встречаемся?",
)


def _utc_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def plan_disk(rng: random.Random, persona: Persona, start: datetime, *,
              even_seconds: bool = False) -> DiskPlan:
    """Draw the story: files, times, searches, chats, the USB device, what gets deleted.

    ``start`` (aware) is the reference time: the seizure; activity happens in the weeks
    before, deletions on the day before. ``even_seconds`` rounds file times to 2 s (FAT).
    """
    start = _utc_seconds(start)
    zone = persona.utc_offset
    login = login_name(persona.owner)
    home = f"Users/{login}"
    formatted = start - timedelta(days=rng.randint(70, 120), minutes=rng.randrange(1440))
    deleted_at = start - timedelta(days=1, minutes=rng.randrange(60, 600))

    def moment(days_from: int, days_to: int) -> datetime:
        """A working-hours local time ``days_from``..``days_to`` days before the start."""
        local_day = (start + zone).date() - timedelta(days=rng.randint(days_to, days_from))
        local = datetime(local_day.year, local_day.month, local_day.day,
                         rng.randint(9, 22), rng.randrange(60), rng.randrange(60))
        utc = (local - zone).replace(tzinfo=UTC)
        if even_seconds:
            utc -= timedelta(seconds=utc.second % 2)
        return utc

    def local(utc: datetime) -> datetime:
        return (utc + zone).replace(tzinfo=None)

    items: list[PlantedItem] = []

    def add(kind: str, path: str | None, data: bytes, mtime: datetime, description: str,
            *, created: datetime | None = None, deleted: bool = False,
            carve_only: bool = False) -> PlantedItem:
        crtime = created or mtime
        atime = mtime + timedelta(minutes=rng.randint(1, 600))
        if atime >= deleted_at:
            atime = mtime
        if even_seconds:  # FAT keeps the access date only
            atime_local = local(atime)
            atime = (datetime(atime_local.year, atime_local.month, atime_local.day)
                     - zone).replace(tzinfo=UTC)
        item = PlantedItem(kind, path, data, mtime, atime, mtime, crtime, description,
                           deleted=deleted, dtime=deleted_at if deleted else None,
                           carve_only=carve_only)
        items.append(item)
        return item

    contacts = list(persona.contacts)
    boss = contacts[0] if contacts else ("Contact", "")
    city = persona.city

    # Documents: the target .docx (last modified = a task), notes, an invoice.
    stems = rng.sample(_DOC_STEMS, 3)
    doc_created = moment(40, 20)
    doc_modified = moment(12, 3)
    doc_name = f"{stems[0]}_{rng.randint(10, 99)}.docx"
    amount = rng.randrange(500, 9000) * 1000
    paragraphs = [
        f"{stems[0].capitalize()} № {rng.randint(10, 999)}",
        f"{city}, {local(doc_created).date().isoformat()}",
        f"{persona.owner} — {boss[0]}",
        f"Сумма: {amount:,} {persona.currency}".replace(",", " "),
        f"Карта получателя: 4400 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} "
        f"{rng.randint(1000, 9999)}",
    ]
    add("document-target", f"{home}/Documents/{doc_name}",
        art.docx(paragraphs, author=persona.owner, title=stems[0], created=doc_created,
                 modified=doc_modified),
        doc_modified, "Word document whose last modification a lab asks for",
        created=doc_created)
    notes_time = moment(30, 5)
    add("document", f"{home}/Documents/{stems[1]}.txt", art.text_file([
        f"{c[0]} {c[1]}" for c in contacts] + [f"встреча {city} {rng.randint(10, 20)}:00"]),
        notes_time, "plain-text notes with contacts")
    invoice_time = moment(35, 8)
    add("document", f"{home}/Documents/{stems[2]}_{rng.randint(100, 999)}.pdf", art.pdf([
        f"Invoice {rng.randint(1000, 9999)}", f"Client: {login}",
        f"Amount: {rng.randrange(100, 5000) * 10} {persona.currency}"],
        title=f"Invoice {stems[2]}", author=login, created=invoice_time),
        invoice_time, "PDF invoice")

    # Photos: one with GPS (a task), one without.
    place = rng.choice(persona.places)
    latitude = round(place.latitude + rng.uniform(-0.02, 0.02), 5)
    longitude = round(place.longitude + rng.uniform(-0.02, 0.02), 5)
    make, model = rng.choice(_PHONES)
    gps_time = moment(25, 4)
    gps_name = f"IMG_{local(gps_time):%Y%m%d_%H%M%S}.jpg"
    add("photo-gps", f"{home}/Pictures/{gps_name}",
        art.jpeg(rng, taken=local(gps_time), make=make, model=model,
                 gps=(latitude, longitude)),
        gps_time, f"photo with EXIF GPS {latitude}, {longitude} near {place.name}")
    plain_time = moment(28, 6)
    add("photo", f"{home}/Pictures/IMG_{local(plain_time):%Y%m%d_%H%M%S}.jpg",
        art.jpeg(rng, taken=local(plain_time), make=make, model=model, gps=None),
        plain_time, "photo without GPS")

    # Browser history with web searches.
    searches = [s.format(city=city, currency=persona.currency)
                for s in rng.sample(_SEARCHES, rng.randint(3, 5))]
    visits = [art.google_search(term, moment(20, 2)) for term in searches]
    for url, title in rng.sample(_PLAIN_VISITS, 5):
        visits.append(art.Visit(url, title, moment(25, 2)))
    history_time = max(v.at for v in visits)
    add("browser-history", f"{home}/AppData/Local/Google/Chrome/User Data/Default/History",
        art.chrome_history(visits), history_time,
        f"Chrome History (SQLite) with {len(searches)} Google searches in "
        "keyword_search_terms and urls, Chrome timestamps", created=formatted + timedelta(
            days=1))

    # Telegram export.
    owner_id = rng.randint(10**8, 7 * 10**9)
    chats = []
    for name, _phone in contacts[: rng.randint(2, max(2, len(contacts)))]:
        lines = []
        for _ in range(rng.randint(4, 9)):
            at = moment(20, 1)
            text = rng.choice(_CHAT_LINES).format(
                time=f"{rng.randint(10, 21)}:00", place=rng.choice(persona.places).name,
                amount=rng.randrange(50, 900) * 1000, currency=persona.currency)
            mine = rng.random() < 0.5
            sender_id = owner_id if mine else rng.randint(10**8, 7 * 10**9)
            lines.append(art.Message(persona.owner if mine else name, sender_id, text, at))
        chats.append(art.Chat(name, rng.randint(10**8, 7 * 10**9), tuple(lines)))
    export_time = start - timedelta(days=1, hours=rng.randint(2, 8))
    export_time = moment(1, 1) if even_seconds else export_time
    add("chat-export", f"{home}/Downloads/Telegram Desktop/"
        f"DataExport_{local(export_time):%Y-%m-%d}/result.json",
        art.telegram_export(persona.owner, owner_id, persona.phone, chats, zone),
        export_time, f"Telegram Desktop export with {len(chats)} chats")

    # USB device trace.
    vendor, product, vid, pid = rng.choice(_USB_DEVICES)
    serial = "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.choice((16, 20))))
    device = art.UsbDevice(vendor, product, vid, pid, serial)
    usb_time = moment(15, 2)
    boot = formatted + timedelta(minutes=rng.randint(5, 50))
    events = [
        (local(boot) + timedelta(minutes=3), "USB\\VID_046D&PID_C077\\5&2b6c3a2&0&2",
         "USB Input Device"),
        (local(boot) + timedelta(minutes=4), "HID\\VID_046D&PID_C077\\6&1f2e0b5&0&0000",
         "HID-compliant mouse"),
        (local(usb_time), device.usb_id, "USB Mass Storage Device"),
        (local(usb_time) + timedelta(seconds=2), device.usbstor_id,
         f"{vendor} {product} USB Device"),
    ]
    add("usb-trace", "Windows/INF/setupapi.dev.log", art.setupapi_log(events, boot=local(boot)),
        usb_time + timedelta(seconds=4), f"setupapi.dev.log: USB storage {device.usbstor_id}",
        created=boot)

    # Deleted afterwards: a photo (its SHA-256 is a task), a PDF, a text or two.
    secret = rng.sample(_SECRET_STEMS, 2)
    deleted_photo_time = moment(18, 3)
    add("deleted-photo", f"{home}/Pictures/IMG_{local(deleted_photo_time):%Y%m%d_%H%M%S}.jpg",
        art.jpeg(rng, taken=local(deleted_photo_time), make=make, model=model, gps=None),
        deleted_photo_time, "photo deleted the day before the seizure", deleted=True)
    pdf_time = moment(22, 4)
    add("deleted-document", f"{home}/Documents/{secret[0]}_{rng.randint(1, 99):02d}.pdf",
        art.pdf([f"{secret[0].upper()}", *[f"{c[0]}: {c[1]}" for c in contacts]],
                title=secret[0], author=login, created=pdf_time),
        pdf_time, "PDF deleted the day before the seizure", deleted=True)
    for stem in secret[1:] + (rng.sample([s for s in _SECRET_STEMS if s not in secret], 1)
                              if rng.random() < 0.5 else []):
        text_time = moment(20, 3)
        add("deleted-document", f"{home}/Desktop/{stem}_{rng.randint(100, 999)}.txt",
            art.text_file([f"{stem}: {rng.randint(10**7, 10**8)}",
                           f"pin {rng.randint(0, 9999):04d}"]),
            text_time, "text file deleted the day before the seizure", deleted=True)

    # Carving only: no name, no metadata; bytes in unallocated space.
    carved_time = moment(50, 30)
    add("carved-photo", None,
        art.jpeg(rng, taken=local(carved_time), make=make, model=model,
                 gps=(round(place.latitude + rng.uniform(-0.05, 0.05), 5),
                      round(place.longitude + rng.uniform(-0.05, 0.05), 5))),
        carved_time, "JPEG in unallocated space: only carving finds it", carve_only=True)
    carved_pdf_time = moment(55, 30)
    add("carved-document", None, art.pdf(
        [f"Receipt {rng.randint(10**5, 10**6)}", f"{rng.randrange(100, 900) * 1000} "
         f"{persona.currency}"], title="receipt", author=login, created=carved_pdf_time),
        carved_pdf_time, "PDF in unallocated space: only carving finds it", carve_only=True)

    facts = {
        "searches": searches,
        "usb": {"vendor": vendor, "product": product, "vid": vid, "pid": pid,
                "serial": serial, "usbstor_id": device.usbstor_id, "usb_id": device.usb_id,
                "attached_local": local(usb_time).isoformat(),
                "attached_utc": _iso(usb_time)},
        "photo_gps": {"latitude": latitude, "longitude": longitude, "place": place.name,
                      "aliases": list(place.aliases), "camera": f"{make} {model}"},
        "deleted_at_utc": _iso(deleted_at),
    }
    label = "BACKUP" if rng.random() < 0.5 else f"DISK{rng.randint(1, 9)}"
    return DiskPlan(items, formatted, label, facts)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- building ----------------------------------------------------------------------------


def _run(cmd: Sequence[str], env: dict[str, str], step: str) -> str:
    try:
        done = subprocess.run(list(cmd), env=env, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise DiskError(f"{step}: {cmd[0]} is not installed (apt-get install e2fsprogs)"
                        ) from exc
    if done.returncode != 0:
        raise DiskError(f"{step}: {' '.join(cmd[:2])} ... exited {done.returncode}: "
                        f"{done.stderr.decode('utf-8', 'replace').strip()[-400:]}")
    return done.stdout.decode("utf-8", "replace")


def _env(epoch: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    env.update({"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch),
                "TZ": "UTC", "LC_ALL": "C", "E2FSPROGS_SKIP_PROGRESS": "1"})
    return env


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _walk_entries(path: Path) -> dict[str, Any]:
    from dalil.engine.forensics.filesystem import open_file_system, select_volume
    from dalil.engine.forensics.image import open_image
    from dalil.engine.forensics.walk import walk

    found: dict[str, Any] = {}
    with open_image(path) as image:
        fs = open_file_system(image, select_volume(image, None))
        for entry in walk(fs):
            found.setdefault(entry.path, entry)
    return found


def _build_ext4(path: Path, plan: DiskPlan, size: int, rng: random.Random,
                work: Path) -> tuple[str, dict[str, int]]:
    fs_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    hash_seed = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    env = _env(_epoch(plan.formatted))
    stage = work / "stage"
    stage.mkdir()
    dirs: dict[str, datetime] = {}
    for item in plan.items:
        if item.path is None:
            continue
        target = stage / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
        parts = item.path.split("/")
        for depth in range(1, len(parts)):
            key = "/".join(parts[:depth])
            dirs[key] = min(dirs.get(key, item.crtime), item.crtime)
    with open(path, "wb") as handle:
        handle.truncate(size)
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", str(EXT4_BLOCK), "-L", plan.label,
          "-U", fs_uuid, "-E", f"hash_seed={hash_seed},root_owner=0:0,nodiscard",
          "-d", str(stage), str(path)], env, "mke2fs")
    inodes = {p: e.inode for p, e in _walk_entries(path).items()}
    script: list[str] = []

    def times(inode: int, a: datetime, m: datetime, c: datetime, cr: datetime,
              owner: int) -> None:
        for name, value in (("atime", a), ("mtime", m), ("ctime", c), ("crtime", cr)):
            script.append(f"sif <{inode}> {name} @{_epoch(value)}")
            script.append(f"sif <{inode}> {name}_extra 0")
        script.append(f"sif <{inode}> uid {owner}")
        script.append(f"sif <{inode}> gid {owner}")

    times(2, plan.formatted, plan.formatted, plan.formatted, plan.formatted, 0)
    for directory, when in sorted(dirs.items()):
        owner = _UID if directory.startswith("Users/") else 0
        times(inodes[directory], when, when, when, when, owner)
    deleted: list[tuple[str, PlantedItem]] = []
    for item in plan.items:
        if item.path is None:
            continue
        owner = _UID if item.path.startswith("Users/") else 0
        times(inodes[item.path], item.atime, item.mtime, item.ctime, item.crtime, owner)
        if item.deleted:
            deleted.append((item.path, item))
    for item_path, item in deleted:
        if " " in item_path:
            raise DiskError(f"a deleted file's path may not contain spaces: {item_path}")
        inode = inodes[item_path]
        assert item.dtime is not None
        script.append(f"rm {item_path}")
        # What the kernel leaves behind: dtime and ctime of the deletion, no links.
        script.append(f"sif <{inode}> dtime @{_epoch(item.dtime)}")
        script.append(f"sif <{inode}> ctime @{_epoch(item.dtime)}")
        script.append(f"sif <{inode}> links_count 0")
        item.ctime = item.dtime
    commands = work / "debugfs.cmd"
    commands.write_text("\n".join(script) + "\n", encoding="utf-8")
    _run(["debugfs", "-w", "-f", str(commands), str(path)], env, "debugfs")
    return fs_uuid, inodes


def _free_ext4_run(path: Path, first: int, count: int, env: dict[str, str]) -> bool:
    out = _run(["debugfs", "-R", f"testb {first} {count}", str(path)], env, "debugfs testb")
    return "marked in use" not in out and out.count("not in use") == count


def _place_carved(path: Path, plan: DiskPlan, size: int, rng: random.Random,
                  block: int, first_free_block: int, env: dict[str, str] | None,
                  ) -> dict[int, int]:
    """Write carving-only items into free blocks past the used area; item index -> offset."""
    total = size // block
    offsets: dict[int, int] = {}
    cursor = max(first_free_block + 64, int(total * 0.55) + rng.randrange(total // 10))
    with open(path, "r+b") as handle:
        for index, item in enumerate(plan.items):
            if not item.carve_only:
                continue
            count = -(-len(item.data) // block)
            for _ in range(64):
                if cursor + count >= total:
                    raise DiskError("no room for the carving-only items: make the image larger")
                if env is None or _free_ext4_run(path, cursor, count, env):
                    break
                cursor += count + 8
            else:
                raise DiskError("no free run of blocks for a carving-only item")
            os.pwrite(handle.fileno(), item.data, cursor * block)
            offsets[index] = cursor * block
            cursor += count + rng.randint(16, 256)
    return offsets


def _digests(data: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in ("md5", "sha1", "sha256")}


def build_disk(path: str | os.PathLike[str], *, seed: int | str, filesystem: str = "ext4",
               size_mib: int = DEFAULT_SIZE_MIB, persona: Persona | None = None,
               start: datetime | None = None, hash_image: bool = True) -> DiskKey:
    """Build the image at ``path`` (overwritten) and return its answer key.

    ``start`` (aware) is the seizure time; by default a time derived from the seed.
    """
    if filesystem not in FILESYSTEMS:
        raise DiskError(f"unknown file system {filesystem!r}; one of {', '.join(FILESYSTEMS)}")
    if isinstance(size_mib, bool) or not isinstance(size_mib, int) or not 36 <= size_mib <= 4096:
        raise DiskError(f"size_mib is a whole number of MiB from 36 to 4096, not {size_mib!r}")
    persona = persona or Persona()
    # Reproducible evidence, not secrets: a seeded Mersenne Twister is the point.
    rng = random.Random(f"dalil.scenarios.disk:{seed}")  # noqa: S311
    if start is None:
        day = date(2025, 1, 15) + timedelta(days=rng.randint(0, 330))
        start = datetime(day.year, day.month, day.day, rng.randint(4, 12), rng.randrange(60),
                         tzinfo=UTC)
    if start.tzinfo is None:
        raise DiskError("start must be an aware datetime")
    fat = filesystem == "fat32"
    plan = plan_disk(rng, persona, start, even_seconds=fat)
    size = size_mib * 1024 * 1024
    target = Path(path)
    work = Path(tempfile.mkdtemp(prefix="dalil-disk-"))
    tools: dict[str, str] = {}
    try:
        if fat:
            volume_id = rng.getrandbits(32)
            layout = build_fat32(target, [
                Fat32File(i.path, i.data, _naive_local(i.mtime, persona),
                          _naive_local(i.crtime, persona), _naive_local(i.atime, persona),
                          i.deleted)
                for i in plan.items if i.path is not None
            ], size=size, volume_id=volume_id, label=plan.label,
                formatted=_naive_local(plan.formatted, persona))
            used_end = layout.cluster_offset(layout.next_free) // layout.cluster_size
            offsets = _place_carved(target, plan, size, rng, layout.cluster_size, used_end,
                                    None)
            volume = f"{volume_id:08X}"
            tools["writer"] = "dalil.engine.scenarios.fat32"
        else:
            volume, _ = _build_ext4(target, plan, size, rng, work)
            offsets = _place_carved(target, plan, size, rng, EXT4_BLOCK, 0,
                                    _env(_epoch(plan.formatted)))
            tools["mke2fs"] = _tool_version("mke2fs")
        entries = _walk_entries(target)
        items = []
        for index, item in enumerate(plan.items):
            entry = entries.get(item.path) if item.path else None
            if item.path is not None and entry is None:
                raise DiskError(f"read-back: {item.path} is not in the built image")
            if entry is not None and bool(entry.deleted) != item.deleted:
                raise DiskError(f"read-back: {item.path} deleted={entry.deleted}, "
                                f"planned {item.deleted}")
            items.append({
                "kind": item.kind,
                "path": item.path,
                "name": item.path.rsplit("/", 1)[-1] if item.path else None,
                "inode": entry.inode if entry is not None else None,
                "deleted": item.deleted,
                "recoverable": "carving" if item.carve_only else "filesystem",
                "offset": offsets.get(index),
                "size": len(item.data),
                **_digests(item.data),
                "mtime": _iso(item.mtime),
                "atime": _iso(item.atime),
                "ctime": None if fat else _iso(item.ctime),
                "crtime": _iso(item.crtime),
                "dtime": None if fat else _iso(item.dtime),
                "description": item.description,
            })
        image_sha256 = None
        if hash_image:
            with open(target, "rb") as handle:
                image_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    offset = persona.utc_offset
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return DiskKey(seed=str(seed), filesystem=filesystem, size=size, label=plan.label,
                   volume_id=volume, utc_offset=f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
                   formatted=_iso(plan.formatted) or "", items=items, facts=plan.facts,
                   image_sha256=image_sha256, tools=tools)


def _naive_local(moment: datetime, persona: Persona) -> datetime:
    return (moment.astimezone(UTC) + persona.utc_offset).replace(tzinfo=None)


def _tool_version(tool: str) -> str:
    try:
        done = subprocess.run([tool, "-V"], capture_output=True, check=False)
    except FileNotFoundError:
        return "missing"
    text = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
    return text[0] if text else "unknown"
