"""Windows registry hives (SYSTEM, SAM, SOFTWARE, NTUSER.DAT) written by the scenario
writer, read by the registry parsers: planted devices, accounts, programs and recent
files come back with their times; damaged hives give error records, never a crash."""

from __future__ import annotations

import contextlib
import struct
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.forensics.artifacts import REGISTRY, parse_file, parse_file_system
from dalil.engine.forensics.artifacts.base import (
    ArtifactError,
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    run_parser,
)
from dalil.engine.forensics.artifacts.registry import (
    InstalledProgram,
    RecentFile,
    UsbDevice,
    UserAccount,
)
from dalil.engine.scenarios import regf
from dalil.engine.scenarios.regf import Account, PlantedUsb, Program

T0 = datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC)
INSTALLED = datetime(2023, 11, 2, 6, 0, tzinfo=UTC)

KINGSTON = PlantedUsb("Kingston", "DataTraveler 3.0", "PMAP", "60A44C413C5FF4B0B9CA0D2E",
                      first_install=T0, last_arrival=T0 + timedelta(days=3, minutes=7),
                      last_removal=T0 + timedelta(days=3, hours=2), drive_letter="E")
NO_SERIAL = PlantedUsb("Generic", "Flash Disk", "8.07", "7&2a5f3e1c",
                       first_install=T0 + timedelta(days=1),
                       last_arrival=T0 + timedelta(days=1, seconds=40))
AIBEK = Account("Айбек", 1001, T0 - timedelta(days=20), last_logon=T0 + timedelta(hours=5),
                password_set=T0 - timedelta(days=20, minutes=-3), logon_count=42,
                failed_count=2, last_failed_logon=T0 + timedelta(hours=4),
                full_name="Айбек Сейтказы", comment="бухгалтер")
PROGRAMS = [
    Program("VeraCrypt", "VeraCrypt", "1.26.7", "IDRIX", T0 + timedelta(hours=1),
            "C:\\Program Files\\VeraCrypt", size_kb=38_000),
    Program("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", "Tor Browser", "13.0.9",
            "The Tor Project", T0 + timedelta(days=2, hours=23, minutes=30), wow64=True),
    Program("Electrum", "Electrum", "4.5.4", "Electrum Technologies GmbH",
            T0 + timedelta(days=4), "C:\\Program Files (x86)\\Electrum"),
]
OPENED = [("seed.txt", T0 + timedelta(hours=1)), ("план.docx", T0 + timedelta(hours=2)),
          ("koshelki.txt", T0 + timedelta(hours=3)), ("E:\\", T0 + timedelta(hours=4)),
          ("seed.txt", T0 + timedelta(hours=5))]


def system() -> bytes:
    return regf.system_hive([KINGSTON, NO_SERIAL], computer_name="DESKTOP-7QK2",
                            installed=INSTALLED)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def parsed(path: Path) -> list[ArtifactRecord]:
    return list(parse_file(path))


def test_usb_devices_from_system(tmp_path: Path) -> None:
    records = parsed(write(tmp_path, "SYSTEM", system()))
    devices = {r.serial: r for r in records if isinstance(r, UsbDevice)}
    assert len(records) == 2 and set(devices) == {KINGSTON.serial, NO_SERIAL.serial}
    usb = devices[KINGSTON.serial]
    assert (usb.device_type, usb.vendor, usb.product, usb.revision) == (
        "Disk", "Kingston", "DataTraveler_3.0", "PMAP")
    assert usb.friendly_name == "Kingston DataTraveler 3.0 USB Device" and usb.serial_unique
    assert usb.first_install == T0 and usb.last_connected == KINGSTON.last_arrival
    assert usb.last_removal == KINGSTON.last_removal and usb.key_written == KINGSTON.last_arrival
    assert usb.event_time == KINGSTON.last_arrival and usb.drive_letter == "E"
    assert usb.key_path == ("ControlSet001\\Enum\\USBSTOR\\Disk&Ven_Kingston"
                            "&Prod_DataTraveler_3.0&Rev_PMAP\\60A44C413C5FF4B0B9CA0D2E&0")
    assert usb.disk_id and usb.disk_id.startswith("{")
    other = devices[NO_SERIAL.serial]
    assert not other.serial_unique and other.last_removal is None and other.drive_letter is None
    assert other.first_install == NO_SERIAL.first_install
    assert other.source.parser == "registry.system"
    assert usb.to_dict()["last_connected"] == "2024-03-11T09:37:15Z"


def test_accounts_from_sam(tmp_path: Path) -> None:
    records = parsed(write(tmp_path, "SAM", regf.sam_hive([AIBEK], installed=INSTALLED)))
    accounts = {r.rid: r for r in records if isinstance(r, UserAccount)}
    assert len(records) == 3 and set(accounts) == {500, 501, 1001}
    user = accounts[1001]
    assert user.name == "Айбек" and user.full_name == "Айбек Сейтказы"
    assert user.comment == "бухгалтер" and user.created == AIBEK.created
    assert user.last_logon == AIBEK.last_logon and user.event_time == AIBEK.created
    assert user.last_password_change == AIBEK.password_set
    assert user.last_failed_logon == AIBEK.last_failed_logon
    assert (user.logon_count, user.failed_logon_count) == (42, 2)
    assert user.flags == 0x0210 and user.disabled is False
    assert user.key_path == "SAM\\Domains\\Account\\Users\\000003E9"
    admin = accounts[500]
    assert admin.name == "Administrator" and admin.disabled and admin.last_logon is None
    assert admin.created == INSTALLED


def test_account_name_without_its_rid_key(tmp_path: Path) -> None:
    tree = regf.KeyTree("ROOT", INSTALLED)
    tree.set("SAM\\Domains\\Account\\Users\\Names\\ghost", regf.RegValue("", 1005, b""),
             written=T0)
    [record] = parsed(write(tmp_path, "SAM", regf.write_hive(tree.build())))
    assert isinstance(record, UserAccount)
    assert (record.name, record.rid, record.created, record.last_logon) == (
        "ghost", 1005, T0, None)


def test_installed_programs_from_software(tmp_path: Path) -> None:
    hive = regf.software_hive(PROGRAMS, installed=INSTALLED, owner="aibek",
                              utc_offset=timedelta(hours=5))
    records = parsed(write(tmp_path, "SOFTWARE", hive))
    programs = {r.name: r for r in records if isinstance(r, InstalledProgram)}
    assert len(records) == 3 and set(programs) == {"VeraCrypt", "Tor Browser", "Electrum"}
    vera = programs["VeraCrypt"]
    assert (vera.version, vera.publisher, vera.install_location) == (
        "1.26.7", "IDRIX", "C:\\Program Files\\VeraCrypt")
    assert vera.install_date == "2024-03-08" and vera.key_written == PROGRAMS[0].installed
    assert vera.event_time == PROGRAMS[0].installed and not vera.wow64
    tor = programs["Tor Browser"]
    assert tor.wow64 and tor.install_location is None
    assert tor.install_date == "2024-03-11"  # 23:30 UTC is the next day at UTC+5
    assert tor.key_path == ("Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\"
                            "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}")


def test_recent_files_from_ntuser(tmp_path: Path) -> None:
    hive = regf.ntuser_hive(OPENED, user="aibek", installed=INSTALLED,
                            run=[("cmd", T0), ("powershell", T0 + timedelta(minutes=9))],
                            typed_paths=[("E:\\wallets", T0 + timedelta(minutes=3)),
                                         ("C:\\Users", T0 + timedelta(minutes=1))])
    records = parsed(write(tmp_path, "NTUSER.DAT", hive))
    assert all(isinstance(r, RecentFile) for r in records)
    docs = [r for r in records if r.list_name == "RecentDocs" and r.extension is None]
    assert [(d.name, d.mru_position) for d in docs] == [
        ("seed.txt", 0), ("E:\\", 1), ("koshelki.txt", 2), ("план.docx", 3)]
    assert docs[0].opened == T0 + timedelta(hours=5) == docs[0].event_time
    assert all(d.opened is None and d.key_written == docs[0].opened for d in docs[1:])
    txt = [r for r in records if r.extension == ".txt"]
    assert [(t.name, t.mru_position) for t in txt] == [("seed.txt", 0), ("koshelki.txt", 1)]
    assert txt[0].key_path.endswith("\\RecentDocs\\.txt")
    [docx] = [r for r in records if r.extension == ".docx"]
    assert docx.name == "план.docx" and docx.opened == T0 + timedelta(hours=2)
    [folder] = [r for r in records if r.extension == "Folder"]
    assert folder.name == "E:\\"
    run = [r for r in records if r.list_name == "RunMRU"]
    assert [(r.name, r.mru_position) for r in run] == [("powershell", 0), ("cmd", 1)]
    assert run[0].opened == T0 + timedelta(minutes=9)
    typed = [r for r in records if r.list_name == "TypedPaths"]
    assert [(t.name, t.value_name) for t in typed] == [("E:\\wallets", "url1"),
                                                       ("C:\\Users", "url2")]


def test_index_root_and_big_data_values(tmp_path: Path) -> None:
    many = [Program(f"App{i:04d}", f"App {i}", "1.0", "Vendor", T0 + timedelta(minutes=i))
            for i in range(600)]  # more than one lh leaf: an ri index root
    many.append(Program("Long", "Long", "2.0", "V", T0, "C:\\" + "x" * 9000))  # db data
    hive = regf.software_hive(many, installed=INSTALLED, owner="o")
    records = parsed(write(tmp_path, "SOFTWARE", hive))
    assert len(records) == 601 and all(isinstance(r, InstalledProgram) for r in records)
    [long] = [r for r in records if r.name == "Long"]
    assert long.install_location == "C:\\" + "x" * 9000


def test_hives_inside_a_disk_image(tmp_path: Path) -> None:
    from dalil.engine.forensics.filesystem import open_file_system, select_volume
    from dalil.engine.forensics.image import open_image
    from dalil.engine.scenarios.fat32 import Fat32File, build_fat32

    local = datetime(2024, 3, 12, 10, 0)
    files = [Fat32File(path, data, local, local, local) for path, data in (
        ("Windows/System32/config/SYSTEM", system()),
        ("Windows/System32/config/SAM", regf.sam_hive([AIBEK], installed=INSTALLED)),
        ("Users/aibek/NTUSER.DAT", regf.ntuser_hive(OPENED, user="aibek",
                                                    installed=INSTALLED)))]
    image = tmp_path / "disk.img"
    build_fat32(image, files, size=40 * 1024 * 1024, volume_id=0x1234, label="WIN",
                formatted=local)
    with open_image(image) as opened:
        fs = open_file_system(opened, select_volume(opened, None))
        records = list(parse_file_system(fs))
    kinds = {r.kind for r in records}
    assert kinds == {"usb-device", "user-account", "recent-file"}
    [usb] = [r for r in records if isinstance(r, UsbDevice) and r.serial == KINGSTON.serial]
    assert usb.source.path.endswith("config/SYSTEM") and usb.source.image == str(image)
    assert usb.source.inode is not None and usb.last_connected == KINGSTON.last_arrival


# --- damaged hives --------------------------------------------------------------------


def errors_only(path: Path) -> list[str]:
    records = parsed(path)
    assert records and all(isinstance(r, ArtifactError) for r in records)
    return [r.message for r in records]


@pytest.mark.parametrize("cut", [0, 3, 100, 4095, 4100, 8000, -4096, -8, -1])
def test_truncated_hive(tmp_path: Path, cut: int) -> None:
    data = system()
    path = write(tmp_path, "SYSTEM", data[:cut] if cut >= 0 else data[:len(data) + cut])
    [message] = errors_only(path)
    assert message.startswith(f"{path}: registry.system: ")
    assert "truncated" in message or "empty file" in message


def test_flipped_magic(tmp_path: Path) -> None:
    data = bytearray(system())
    data[0:4] = b"fger"
    [message] = errors_only(write(tmp_path, "SYSTEM", bytes(data)))
    assert "not a registry hive: signature b'fger' at offset 0" in message


@pytest.mark.parametrize("size", [-0x7FFFFFF8, -13, 0, 0x100000])
def test_cell_size_that_lies(tmp_path: Path, size: int) -> None:
    data = bytearray(system())
    struct.pack_into("<i", data, 4096 + 32, size)  # the root key's cell
    [message] = errors_only(write(tmp_path, "SYSTEM", bytes(data)))
    assert f"cell at file offset 0x1020 claims {size} bytes" in message


def test_subkey_list_pointing_nowhere(tmp_path: Path) -> None:
    data = bytearray(system())
    struct.pack_into("<I", data, 4096 + 32 + 4 + 28, 0x28)  # root's subkey list offset
    messages = errors_only(write(tmp_path, "SYSTEM", bytes(data)))
    assert len(messages) == 2  # MountedDevices could not be reached, then nothing could
    assert all("key (root): subkey list: offset 0x28 is not an allocated cell" in m
               for m in messages)


def test_hive_bin_header_damaged(tmp_path: Path) -> None:
    data = bytearray(system())
    data[8192:8196] = b"xbin"
    [message] = errors_only(write(tmp_path, "SYSTEM", bytes(data)))
    assert "no hive bin at file offset 0x2000" in message


def test_one_damaged_entry_the_others_stand(tmp_path: Path) -> None:
    data = bytearray(regf.software_hive(PROGRAMS, installed=INSTALLED, owner="o"))
    names = [i for i in range(len(data)) if data.startswith(b"DisplayName", i)]
    assert len(names) == 3
    data[names[1] - 20:names[1] - 18] = b"xx"  # the vk signature of one DisplayName
    records = parsed(write(tmp_path, "SOFTWARE", bytes(data)))
    errors = [r for r in records if isinstance(r, ArtifactError)]
    programs = [r for r in records if isinstance(r, InstalledProgram)]
    assert len(errors) == 1 and len(programs) == 2
    assert "is not a value (vk)" in errors[0].message
    damaged = errors[0].message.split("Uninstall\\", 1)[1].split(":", 1)[0]
    assert damaged in {p.key for p in PROGRAMS} - {p.uninstall_key for p in programs}


def test_damaged_mounted_devices_costs_only_the_drive_letters(tmp_path: Path) -> None:
    data = bytearray(system())
    at = data.find(b"\\DosDevices\\E:")
    data[at - 20:at - 18] = b"xx"  # the vk signature of the only MountedDevices value
    records = parsed(write(tmp_path, "SYSTEM", bytes(data)))
    [note] = [r.message for r in records if isinstance(r, ArtifactError)]
    assert "MountedDevices" in note and "drive letters not read" in note
    devices = [r for r in records if isinstance(r, UsbDevice)]
    assert len(devices) == 2 and all(d.drive_letter is None for d in devices)


def test_bad_checksum_and_dirty_hive_are_noted_and_read(tmp_path: Path) -> None:
    data = bytearray(regf.sam_hive([AIBEK], installed=INSTALLED))
    data[200] ^= 0xFF  # reserved byte of the base block: the checksum no longer matches
    struct.pack_into("<I", data, 4, 7)  # primary sequence number != secondary
    records = parsed(write(tmp_path, "SAM", bytes(data)))
    notes = [r.message for r in records if isinstance(r, ArtifactError)]
    assert len(notes) == 2 and "checksum" in notes[0] and "dirty hive" in notes[1]
    assert {r.rid for r in records if isinstance(r, UserAccount)} == {500, 501, 1001}


def test_not_a_sam(tmp_path: Path) -> None:
    [message] = errors_only(write(tmp_path, "SAM", system()))
    assert "no SAM\\Domains\\Account\\Users key: not a SAM hive" in message


HIVES = {"SYSTEM": system(), "SAM": regf.sam_hive([AIBEK], installed=INSTALLED),
         "SOFTWARE": regf.software_hive(PROGRAMS, installed=INSTALLED, owner="o"),
         "NTUSER.DAT": regf.ntuser_hive(OPENED, user="u", installed=INSTALLED,
                                        run=[("cmd", T0)], typed_paths=[("C:\\", T0)])}
PARSERS = {"SYSTEM": "registry.system", "SAM": "registry.sam",
           "SOFTWARE": "registry.software", "NTUSER.DAT": "registry.ntuser"}
_WORDS = st.sampled_from([0, 1, 8, 0x20, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0x80000004,
                          0xFFFFFFFF, 0xFFFFFFF8, 0x1000, 0x3FD9])


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(HIVES)), data=st.data())
def test_random_corruption_never_raises(name: str, data: st.DataObject) -> None:
    hive = bytearray(HIVES[name])
    size = len(hive)
    for offset, byte in data.draw(st.lists(st.tuples(st.integers(0, size - 1),
                                                     st.integers(0, 255)), max_size=12)):
        hive[offset] = byte
    for offset, word in data.draw(st.lists(st.tuples(st.integers(0, size // 4 - 1), _WORDS),
                                           max_size=4)):
        struct.pack_into("<I", hive, offset * 4, word)
    parser = REGISTRY[PARSERS[name]]
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), name, bytes(hive))
        item = ArtifactInput.from_path(path)
        records = list(run_parser(parser, item))
        with contextlib.suppress(ArtifactParseError):  # any other exception fails the test
            list(parser.function(item.with_parser(parser.name)))
    assert all(isinstance(r, ArtifactRecord) for r in records)
    for record in records:
        if isinstance(record, ArtifactError):
            assert record.message.startswith(f"{path}: {PARSERS[name]}: ")
