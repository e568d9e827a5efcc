"""Evidence generators that a scenario template calls, and the facts each one plants.

A generator writes files into the variant's directory and returns *facts*: the values the
answer key grades against, each with a sentence saying how it was planted. Everything is
drawn from ``ctx.rng`` (seeded from template, version, seed and the evidence id) and from
``ctx.start`` (a fixed time derived from the seed): no global random, no clock.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dalil.engine.evidence.scene import VOLATILITY
from dalil.engine.scenarios.chain import build_chain
from dalil.engine.scenarios.disk import DEFAULT_SIZE_MIB, FILESYSTEMS, Persona, build_disk
from dalil.engine.scenarios.places import places_for
from dalil.engine.training.fatimage import FatFile, build_fat12
from dalil.engine.training.pools import Pool


@dataclass(frozen=True)
class Fact:
    """A planted value: what a trainee must find, grader options, and how it got there."""

    value: Any
    planted: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenContext:
    rng: random.Random
    pool: Pool
    params: dict[str, str]
    start: datetime  # aware UTC; the scene's reference time, derived from the seed
    out_dir: Path
    output: str
    options: dict[str, Any]
    facts: dict[str, Fact]  # facts of the evidence generated before, "<id>.<fact>"


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    run: Callable[[GenContext], dict[str, Fact]]
    facts: tuple[str, ...]
    requires: tuple[str, ...] = ()  # template parameters it reads
    option_types: dict[str, type] = field(default_factory=dict)
    refs: tuple[str, ...] = ()  # options naming an earlier evidence id
    description: str = ""


def write_json(path: Path, document: Any) -> None:
    """Sorted, indented UTF-8 JSON with a final newline: the same bytes everywhere."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def _digests(data: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest()
            for name in ("md5", "sha1", "sha256", "sha512")}


# --- USB image ---------------------------------------------------------------------------


def _usb_files(ctx: GenContext) -> list[FatFile]:
    rng, pool = ctx.rng, ctx.pool
    local = ctx.start.astimezone(pool.fixed_offset()).replace(tzinfo=None)
    people = sorted({pool.person(rng) for _ in range(rng.randint(6, 9))})
    contacts = "name;phone\r\n" + "".join(f"{p};{pool.phone(rng)}\r\n" for p in people)
    payments = ["date;amount;currency;recipient"]
    for day in sorted(rng.sample(range(2, 40), rng.randint(4, 7)), reverse=True):
        when = (local - timedelta(days=day)).date().isoformat()
        amount = rng.randrange(50, 5000) * 100
        payments.append(f"{when};{amount};{pool.currency};{rng.choice(people)}")
    meet = (f"{rng.choice(pool.streets)}, {rng.randint(1, 150)} — "
            f"{(local + timedelta(days=rng.randint(1, 5))).date().isoformat()} "
            f"{rng.randint(9, 20):02d}:{rng.choice(('00', '15', '30', '45'))}")
    notes = (f"{ctx.params.get('suspect', people[0])}\r\n{meet}\r\n"
             f"pin {rng.randint(0, 9999):04d}\r\n")

    def stamp(days: int) -> datetime:
        return (local - timedelta(days=days, minutes=rng.randint(0, 600))).replace(
            microsecond=0, second=rng.randrange(0, 60, 2))

    return [
        FatFile("CONTACTS.CSV", contacts.encode("utf-8"), stamp(rng.randint(20, 60))),
        FatFile("PAYMENTS.CSV", ("\r\n".join(payments) + "\r\n").encode("utf-8"), stamp(2)),
        FatFile("NOTES.TXT", notes.encode("utf-8"), stamp(1)),
    ]


def usb_image(ctx: GenContext) -> dict[str, Fact]:
    size = int(ctx.options.get("size_kib", 2048))
    files = _usb_files(ctx)
    data = build_fat12(files, rng=ctx.rng, label=str(ctx.options.get("label", "USB")),
                       size_kib=size)
    (ctx.out_dir / ctx.output).write_bytes(data)
    digests = _digests(data)
    how = (f"{ctx.output}: a {size} KiB FAT12 volume written by dalil.engine.training.fatimage "
           f"with {', '.join(f.name for f in files)} (names and numbers from the "
           f"{ctx.pool.country} pool); free clusters filled with the seed's random bytes")
    return {
        "sha256": Fact(digests["sha256"], f"SHA-256 of {how}", {"digests": digests}),
        "files": Fact(sorted(f.name for f in files), f"root directory of {how}"),
        "path": Fact(ctx.output, f"the image file of {how}"),
    }


# --- first-responder scene ---------------------------------------------------------------

_TEXT = dict[str, str]

# One concrete source per RFC 3227 tier; {phone} {laptop} {router} {drive} are device ids.
_VOLATILE_SOURCES: dict[str, list[tuple[str, _TEXT]]] = {
    "registers_cache": [("{laptop}-cpu", {
        "en": "CPU registers and cache of laptop {laptop}",
        "ru": "регистры и кэш процессора ноутбука {laptop}"})],
    "memory": [
        ("{laptop}-ram", {"en": "RAM of laptop {laptop} (asleep, memory still powered)",
                          "ru": "оперативная память ноутбука {laptop} (спящий режим)"}),
        ("{phone}-ram", {"en": "RAM and running apps of phone {phone}",
                         "ru": "оперативная память и запущенные приложения телефона {phone}"}),
        ("{router}-arp", {"en": "ARP cache and routing table of router {router}",
                          "ru": "ARP-кэш и таблица маршрутизации роутера {router}"}),
        ("{laptop}-net", {"en": "open network connections of laptop {laptop}",
                          "ru": "открытые сетевые соединения ноутбука {laptop}"})],
    "temporary_files": [("{laptop}-tmp", {
        "en": "temporary files and swap of laptop {laptop}",
        "ru": "временные файлы и файл подкачки ноутбука {laptop}"})],
    "disk": [
        ("{laptop}-disk", {"en": "internal disk of laptop {laptop}",
                           "ru": "внутренний диск ноутбука {laptop}"}),
        ("{drive}-data", {"en": "contents of external drive {drive}",
                          "ru": "содержимое внешнего накопителя {drive}"}),
        ("{phone}-flash", {"en": "flash storage of phone {phone}",
                           "ru": "флеш-память телефона {phone}"})],
    "remote_logging": [
        ("{router}-syslog", {"en": "logs of router {router} kept by the provider",
                             "ru": "журналы роутера {router} у провайдера"}),
        ("cloud-logs", {"en": "activity logs of the suspect's cloud account",
                        "ru": "журналы активности облачной учётной записи подозреваемого"})],
    "physical_configuration": [("{router}-topology", {
        "en": "physical configuration and cabling around router {router}",
        "ru": "физическая конфигурация и кабельные подключения роутера {router}"})],
    "archival_media": [("backup-dvds", {
        "en": "backup DVDs found in the desk drawer",
        "ru": "резервные DVD-диски в ящике стола"})],
}

_PHONES = [("Samsung", "Galaxy A54"), ("Xiaomi", "Redmi Note 12"), ("Apple", "iPhone 13"),
           ("Huawei", "nova 11"), ("Samsung", "Galaxy S23")]
_LAPTOPS = [("Lenovo", "ThinkPad E14"), ("HP", "ProBook 450"), ("Acer", "Aspire 5"),
            ("ASUS", "VivoBook 15"), ("Dell", "Latitude 5420")]
_DRIVES = [("SanDisk", "Ultra Flair 32GB"), ("Kingston", "DataTraveler 64GB"),
           ("Transcend", "JetFlash 790"), ("Samsung", "BAR Plus 64GB")]
_ROUTERS = [("TP-Link", "Archer C6"), ("Keenetic", "Giga"), ("MikroTik", "hAP ac2"),
            ("ZTE", "ZXHN H298A")]
_ICCID_COUNTRY = {"KZ": "897", "KG": "89996", "TJ": "89992", "TM": "89993", "UZ": "89998"}


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def first_responder_scene(ctx: GenContext) -> dict[str, Fact]:
    rng, pool, p = ctx.rng, ctx.pool, ctx.params
    tz = pool.fixed_offset()
    ids = [f"D{n}" for n in range(1, 6)]
    rng.shuffle(ids)
    phone_id, laptop_id, drive_id, router_id, sim_id = ids
    image_ref = str(ctx.options.get("image_from", ""))
    image_fact = ctx.facts.get(f"{image_ref}.sha256")
    path_fact = ctx.facts.get(f"{image_ref}.path")
    image_name = str(path_fact.value) if path_fact is not None else None

    make, model = rng.choice(_PHONES)
    phone: dict[str, Any] = {"id": phone_id, "type": "phone", "make": make, "model": model,
             "imei": _luhn("35" + _digits(rng, 12)), "power_state": "on", "locked": False,
             "battery_percent": rng.randint(18, 96), "charging": False,
             "network": rng.choice(["4G, Wi-Fi", "LTE", "4G"]),
             "screen": rng.choice(["messenger chat open", "banking app open",
                                   "photo gallery open", "call log open"])}
    make, model = rng.choice(_LAPTOPS)
    laptop: dict[str, Any] = {"id": laptop_id, "type": "laptop", "make": make, "model": model,
              "serial": "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
                                for _ in range(10)),
              "power_state": "sleep", "lid": "closed", "power_led": "pulsing",
              "charger_connected": rng.choice([True, False])}
    make, model = rng.choice(_DRIVES)
    drive: dict[str, Any] = {"id": drive_id, "type": "storage", "make": make, "model": model,
             "serial": _digits(rng, 4) + "".join(rng.choice("0123456789ABCDEF")
                                                 for _ in range(16)),
             "power_state": "off", "where": "on the desk, not connected",
             "image": image_name}
    make, model = rng.choice(_ROUTERS)
    router: dict[str, Any] = {"id": router_id, "type": "router", "make": make, "model": model,
              "serial": _digits(rng, 13), "power_state": "on", "lights": "WAN and Wi-Fi lit"}
    sim: dict[str, Any] = {"id": sim_id, "type": "sim", "iccid": _luhn(
        _ICCID_COUNTRY.get(pool.country, "89") + _digits(rng, 18 - len(
            _ICCID_COUNTRY.get(pool.country, "89")))),
        "power_state": "off", "where": "loose in a drawer, not in a phone"}
    devices: list[dict[str, Any]] = sorted([phone, laptop, drive, router, sim],
                                           key=lambda d: str(d["id"]))

    arrival = ctx.start
    offsets = sorted(rng.sample(range(3, 75), 7))
    events = [("arrival", None, 0), ("scene_secured", None, offsets[0]),
              ("photographs_taken", None, offsets[1]), ("seized", phone_id, offsets[2]),
              ("seized", sim_id, offsets[3]), ("seized", laptop_id, offsets[4]),
              ("seized", drive_id, offsets[5]), ("seized", router_id, offsets[6])]
    log = []
    seized_at: dict[str, datetime] = {}
    for event, dev_id, minutes in events:
        moment = arrival + timedelta(minutes=minutes, seconds=rng.randrange(60) if minutes else 0)
        if dev_id:
            seized_at[dev_id] = moment
        log.append({"at_utc": _iso(moment.astimezone(UTC)).replace("+00:00", "Z"),
                    "event": event, **({"device": dev_id} if dev_id else {})})

    tiers = sorted(rng.sample(range(7), 5))
    by_tier: dict[int, list[str]] = {}
    for name, tier in VOLATILITY.items():
        by_tier.setdefault(tier, []).append(name)
    names = {"phone": phone_id, "laptop": laptop_id, "router": router_id, "drive": drive_id}
    sources: list[dict[str, Any]] = []
    for tier in tiers:
        candidates = [c for name in by_tier[tier] for c in _VOLATILE_SOURCES.get(name, [])]
        item_id, text = rng.choice(candidates)
        category = next(n for n in by_tier[tier] if (item_id, text) in
                        _VOLATILE_SOURCES.get(n, []))
        sources.append({"id": item_id.format(**names), "tier": tier, "category": category,
                        "description": {k: v.format(**names) for k, v in text.items()}})
    order = [s["id"] for s in sources]
    shown = list(sources)
    rng.shuffle(shown)

    case_number = f"{pool.case_prefix}-{arrival.year}-{rng.randint(1000, 99999):05d}"
    authority = f"{rng.choice(['№', 'No.'])} {rng.randint(100, 9999)}/{arrival.year % 100}"
    address = f"{p.get('city', pool.cities[0])}, {p.get('street', pool.streets[0])}, " \
              f"{rng.randint(1, 180)}, {rng.randint(1, 120)}"
    scene = {
        "case_number": case_number,
        "country": pool.country,
        "timezone": pool.timezone,
        "authority": {"type": "warrant", "reference": authority},
        "location": address,
        "persons": [
            {"role": "suspect", "name": p.get("suspect", ""),
             "phone": p.get("suspect_phone", "")},
            {"role": "officer", "name": p.get("officer", "")},
            {"role": "witness", "name": p.get("witness", "")},
        ],
        "devices": devices,
        "dispatch_log": {"note": "times are UTC, as the radio dispatch system records them",
                         "entries": log},
        "volatile_sources": [{"id": s["id"], "description": s["description"]} for s in shown],
    }
    write_json(ctx.out_dir / ctx.output, scene)

    laptop_local = pool.local(seized_at[laptop_id])  # the declared offset, or a clear error
    isolation = "airplane" if not phone["locked"] else "faraday"
    officer = p.get("officer", "officer")
    exhibits: list[dict[str, Any]] = []
    custody: list[dict[str, Any]] = []
    for n, device in enumerate(devices, start=1):
        number = str(n)
        ident: dict[str, Any] = {k: device[k] for k in ("serial", "imei", "iccid") if k in device}
        seal = f"{pool.case_prefix}-S{rng.randint(100000, 999999)}"
        exhibit: dict[str, Any] = {"number": number, "type": device["type"],
                                   "power_state": device["power_state"], "seal_number": seal,
                                   **ident}
        if device["type"] == "phone":
            exhibit["isolation_method"] = isolation
            exhibit["isolation_justification"] = (
                "unlocked: airplane mode keeps it unlocked and off the network; kept charged")
        exhibits.append(exhibit)
        custody.append({"exhibit": number, "action": "seized",
                        "details": {"seized_by": officer, "place": address}})
        custody.append({"exhibit": number, "action": "sealed", "details": {"seal_number": seal}})
        if device["id"] == drive_id and image_fact is not None:
            custody.append({"exhibit": number, "action": "acquired", "details": {
                "image": image_name, "hashes": {"sha256": image_fact.value},
                "verified": True}})
        custody.append({"exhibit": number, "action": "transferred", "details": {
            "released_by": officer, "received_by": "evidence store",
            "purpose": "laboratory examination", "place": address, "seal_intact": True}})
    record = {
        "case_has_authority": True,
        "scene": {
            "location": address, "authority_reference": authority,
            "arrival_at": _iso(arrival.astimezone(tz)),
            "persons_present": ", ".join(x for x in (p.get("suspect"), p.get("witness")) if x),
            "scene_secured": True, "scene_secured_how": "persons moved away from the devices",
            "photographs_taken": True, "photographs_count": rng.randint(12, 40),
            "device_states_recorded": True, "volatile_decision": "collect",
            "volatile_order": [s["category"] for s in sources if s["tier"] in (1, 2)
                               ] or ["memory"],
            "volatile_justification": "laptop asleep and phone on: memory would be lost",
            "volatile_tools": "memory acquisition tool from the first-responder kit",
            "shutdown_decision": "left_running",
            "shutdown_justification": "kept powered for live acquisition of memory",
            "packaging_labels": ("anti-static bags, phone in airplane mode on a power bank, "
                                 "signed labels"),
            "non_digital_traces": "desk notes photographed and bagged for fingerprints",
        },
        "exhibits": exhibits,
        "custody": custody,
    }
    rubric_devices = [{"id": d["id"], "type": d["type"],
                       "identifier": d.get("serial") or d.get("imei") or d.get("iccid"),
                       "power_state": d["power_state"]} for d in devices]
    ranks = {s["id"]: s["tier"] for s in sources}
    return {
        "volatility_order": Fact(order, "the five volatile sources were drawn one per RFC 3227 "
                                 "tier (" + ", ".join(f"{s['id']}={s['category']}/{s['tier']}"
                                                     for s in sources)
                                 + ") and listed shuffled in volatile_sources",
                                 {"ranks": ranks}),
        "phone_isolation": Fact(isolation, f"phone {phone_id} is on and unlocked "
                                "(locked: false): airplane mode keeps it unlocked and isolated"),
        "laptop_seized_at": Fact(_iso(laptop_local), f"dispatch_log entry 'seized' of laptop "
                                 f"{laptop_id} at {_iso(seized_at[laptop_id])} UTC, local time "
                                 f"in {pool.timezone}", {"timezone": pool.timezone,
                                                         "tolerance_seconds": 60}),
        "scene_record": Fact(record, "a model scene record built from scene.json: every device "
                             "by its serial/IMEI/ICCID, its power state, seized and sealed "
                             "entries, the phone's isolation and the image's SHA-256",
                             {"devices": rubric_devices, "isolation": isolation,
                              "image_device": drive_id,
                              "image_sha256": image_fact.value if image_fact else None}),
    }


# --- forensics: a suspect's disk image -------------------------------------------------


def disk_image(ctx: GenContext) -> dict[str, Fact]:
    """A disk image from :mod:`dalil.engine.scenarios.disk`, persona from the pool."""
    rng, pool, p = ctx.rng, ctx.pool, ctx.params
    filesystem = str(ctx.options.get("filesystem", "ext4"))
    if filesystem not in FILESYSTEMS:
        raise ValueError(f"disk_image: filesystem {filesystem!r} is not one of "
                         f"{', '.join(FILESYSTEMS)}")
    size_mib = int(ctx.options.get("size_mib", DEFAULT_SIZE_MIB))
    owner = p.get("suspect") or pool.person(rng)
    contacts: list[tuple[str, str]] = []
    for _ in range(3):
        name = pool.person(rng)
        while name == owner or any(name == c[0] for c in contacts):
            name = pool.person(rng)
        contacts.append((name, pool.phone(rng)))
    places = places_for(pool.cities)
    offset = pool.fixed_offset().utcoffset(None) or timedelta(0)
    persona = Persona(owner=owner, phone=p.get("suspect_phone") or pool.phone(rng),
                      contacts=tuple(contacts), places=places or Persona().places,
                      utc_offset=offset, currency=pool.currency,
                      city=p.get("city") or pool.cities[0])
    seed = rng.getrandbits(64)
    key = build_disk(ctx.out_dir / ctx.output, seed=seed, filesystem=filesystem,
                     size_mib=size_mib, persona=persona, start=ctx.start, hash_image=False)
    how = (f"{ctx.output}: a {size_mib} MiB {filesystem} image built by "
           f"dalil.engine.scenarios.disk (disk seed {seed})")
    inventory = [{k: item[k] for k in ("path", "inode", "deleted", "recoverable", "offset",
                                       "size", "sha256", "mtime", "kind")}
                 for item in key.items]
    deleted = [i for i in key.items if i["deleted"]]
    photo = key.item("deleted-photo")
    document = key.item("document-target")
    modified = datetime.fromisoformat(document["mtime"].replace("Z", "+00:00"))
    gps_photo = key.item("photo-gps")
    gps = key.facts["photo_gps"]
    usb = key.facts["usb"]
    tz = pool.fixed_offset()
    return {
        "deleted_files": Fact(
            sorted(i["name"] for i in deleted),
            f"{how}; deleted with debugfs rm / FAT 0xE5 marking after they were written, "
            "content left in place: " + ", ".join(
                f"{i['path']} (inode {i['inode']})" for i in deleted)
            + "; two more files sit in unallocated space with no name (carving only)",
            {"inventory": inventory}),
        "deleted_photo_sha256": Fact(
            photo["sha256"], f"{photo['path']} (inode {photo['inode']}), deleted; its "
            f"clusters/blocks keep the content: recover it and hash it",
            {"digests": {k: photo[k] for k in ("md5", "sha1", "sha256")}}),
        "document_modified": Fact(
            modified.astimezone(tz).isoformat(timespec="seconds"),
            f"modification time of {document['path']} (inode {document['inode']}): "
            f"{document['mtime']} UTC, in local time {pool.timezone} (the docx's "
            "dcterms:modified says the same)",
            {"timezone": pool.timezone, "tolerance_seconds": 2 if filesystem == "fat32"
             else 1}),
        "photo_latitude": Fact(
            gps["latitude"], f"EXIF GPS of {gps_photo['path']}: {gps['latitude']}, "
            f"{gps['longitude']} near {gps['place']}", {"tolerance": 0.001}),
        "photo_longitude": Fact(
            gps["longitude"], f"EXIF GPS of {gps_photo['path']}: {gps['latitude']}, "
            f"{gps['longitude']} near {gps['place']}", {"tolerance": 0.001}),
        "searches": Fact(
            list(key.facts["searches"]), "Google searches in the Chrome History database "
            f"({key.item('browser-history')['path']}): tables urls and "
            "keyword_search_terms"),
        "usb_serial": Fact(
            usb["serial"], f"setupapi.dev.log ({key.item('usb-trace')['path']}) records "
            f"{usb['usbstor_id']} at {usb['attached_local']} local time",
            {"synonyms": [usb["usbstor_id"], usb["usb_id"], f"{usb['serial']}&0"]}),
        "path": Fact(ctx.output, f"the image file of {how}"),
    }


# --- cryptocurrency: a regtest chain with a laundering flow ----------------------------


def bitcoin_chain(ctx: GenContext) -> dict[str, Fact]:
    """A regtest ``blk*.dat`` from :mod:`dalil.engine.scenarios.chain`, its tag list and a
    victim's report naming one ransom payment (the trainee's way in)."""
    rng, pool = ctx.rng, ctx.pool
    seed = rng.getrandbits(64)
    scenario = build_chain(seed, start=ctx.start)
    tags_name = str(ctx.options.get("tags", "tags.csv"))
    report_name = str(ctx.options.get("report", "victim-report.txt"))
    for name in (tags_name, report_name):
        if name == ctx.output or "/" in name or name.startswith(("answer-key", "briefing.")):
            raise ValueError(f"bitcoin_chain: option file name {name!r} is not allowed")
    scenario.write(ctx.out_dir, blk_name=ctx.output, tags_name=tags_name, key_name=None)
    k = scenario.key
    payment = rng.choice(k["victim_payments"])
    victim = ctx.params.get("victim") or pool.person(rng)
    paid_local = pool.local(datetime.fromisoformat(payment["time"]))
    stamp = paid_local.strftime("%Y-%m-%d %H:%M")
    report = (
        f"VICTIM REPORT / ЗАЯВЛЕНИЕ ПОТЕРПЕВШЕГО\n\n"
        f"Victim / Потерпевший: {victim}\n"
        f"Paid / Оплачено: {payment['amount_btc']:.8f} BTC, {stamp} ({pool.timezone})\n"
        f"Transaction id from the wallet app / ID транзакции из приложения кошелька:\n"
        f"{payment['txid']}\n\n"
        "The files on my computer were encrypted; the note demanded payment in bitcoin to\n"
        "the address it showed. I paid from my own wallet, bought at an exchange.\n"
        "Файлы на моём компьютере были зашифрованы; в записке требовали оплату в биткоинах\n"
        "на указанный адрес. Я заплатил(а) со своего кошелька, купленного на бирже.\n")
    (ctx.out_dir / report_name).write_text(report, encoding="utf-8", newline="\n")
    how = (f"{ctx.output}: a regtest chain of {k['blocks']} blocks and {k['transactions']} "
           f"transactions built by dalil.engine.scenarios.chain (chain seed {seed}), real "
           f"keys and signatures")
    planted = k["planted"]
    return {
        "ransom_address": Fact(k["ransom_address"], f"{how}; {planted['ransom_address']}; "
                               f"{report_name} names payment {payment['txid']} of "
                               f"{payment['amount_btc']} BTC"),
        "ransom_received": Fact(k["ransom_received_btc"], planted["ransom_received"],
                                {"tolerance": 0.000001}),
        "perpetrator_cluster": Fact(k["perpetrator_cluster"], planted["perpetrator_cluster"],
                                    {"wallet": k["perpetrator_wallet"]}),
        "coinjoin_txid": Fact(k["coinjoin_txid"], planted["coinjoin"]),
        "exchange": Fact(k["exchange"], planted["deposit"]),
        "deposit_address": Fact(k["deposit_address"], planted["deposit"]),
        "deposit_amount": Fact(k["deposit_btc"], f"{planted['deposit']}: the deposit "
                               f"{k['deposit_txid']} credits {k['deposit_sat']} sat",
                               {"tolerance": 0.000001}),
        "peeling_hops": Fact(k["peeling_hops"], planted["peeling_chain"], {"tolerance": 0}),
        "path": Fact(ctx.output, f"the blk file of {how}"),
        "tags": Fact(tags_name, f"the exchange tags of {how}, Dalil CSV tag format"),
    }


GENERATORS: dict[str, GeneratorSpec] = {
    "usb_image": GeneratorSpec(
        "usb_image", usb_image, ("sha256", "files", "path"), ("suspect",),
        {"size_kib": int, "label": str},
        description="a small FAT12 USB image with files drawn from the national pool"),
    "first_responder_scene": GeneratorSpec(
        "first_responder_scene", first_responder_scene,
        ("volatility_order", "phone_isolation", "laptop_seized_at", "scene_record"),
        ("suspect", "suspect_phone", "officer", "witness", "city", "street"),
        {"image_from": str}, refs=("image_from",),
        description="a scene: phone on and unlocked, laptop asleep, external drive, router, "
                    "SIM card, persons, times, dispatch log in UTC"),
    "disk_image": GeneratorSpec(
        "disk_image", disk_image,
        ("deleted_files", "deleted_photo_sha256", "document_modified", "photo_latitude",
         "photo_longitude", "searches", "usb_serial", "path"),
        ("suspect",), {"filesystem": str, "size_mib": int},
        description="a suspect's disk image (ext4 or FAT32) with documents, GPS photos, "
                    "Chrome history, a Telegram export, a USB trace, deleted and "
                    "carving-only files"),
    "bitcoin_chain": GeneratorSpec(
        "bitcoin_chain", bitcoin_chain,
        ("ransom_address", "ransom_received", "perpetrator_cluster", "coinjoin_txid",
         "exchange", "deposit_address", "deposit_amount", "peeling_hops", "path", "tags"),
        (), {"tags": str, "report": str},
        description="a protocol-valid regtest blk*.dat (real keys and signatures) with a "
                    "ransom laundering flow: victims, consolidation, peeling chain, CoinJoin, "
                    "exchange deposit; plus exchange tags and a victim's report"),
}


def lookup(name: str) -> GeneratorSpec | None:
    return GENERATORS.get(name)


def describe(facts: Mapping[str, Fact]) -> dict[str, str]:
    return {name: fact.planted for name, fact in facts.items()}
