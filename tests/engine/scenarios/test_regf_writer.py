"""The regf writer: its hives read back key by key and value by value by two independent
readers, regipy (Python) and hivex (libhivex, ``hivexml`` and ``hivexget``)."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from regipy.registry import RegistryHive

from dalil.engine.scenarios import regf
from dalil.engine.scenarios.regf import (
    DEVPROP_FILETIME,
    REG_BINARY,
    REG_DWORD,
    REG_EXPAND_SZ,
    REG_MULTI_SZ,
    REG_NONE,
    REG_QWORD,
    REG_SZ,
    Account,
    PlantedUsb,
    Program,
    RegfError,
    RegKey,
    RegValue,
    binary,
    dword,
    expand_sz,
    multi_sz,
    none,
    qword,
    sz,
    write_hive,
)

T0 = datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC)
HIVEX = shutil.which("hivexml") and shutil.which("hivexget")
needs_hivex = pytest.mark.skipif(not HIVEX, reason="hivex tools missing: apt-get install "
                                 "libhivex-bin")


def every_kind_of_key() -> RegKey:
    """Every value type, inline/cell/big-data values, Unicode names, an index root."""
    values = (
        sz("", "the default value"), sz("Ключ", 'значение "в кавычках" \\ и слэш'),
        sz("empty", ""), sz("a", "x"), expand_sz("Path", "%SystemRoot%\\system32"),
        binary("blob", bytes(range(256))), binary("tiny", b"\x01\x02"), binary("nothing", b""),
        dword("dw", 0xDEADBEEF), dword("zero", 0), qword("qw", 2**40 + 7),
        multi_sz("multi", ["first", "второй", "", "fourth"]), none("none"),
        none("none-data", b"\x00\xff\x10\x20\x30"),
        binary("big", bytes(i * 7 % 251 for i in range(50_000))),  # db: 4 segments
        sz("long", "long text " * 1000),  # 20002 bytes: big data too
        RegValue("rid-typed", 1001, b""),  # SAM Names: the type is the RID
        RegValue("devprop", DEVPROP_FILETIME, struct.pack("<Q", regf.filetime(T0))),
    )
    many = tuple(RegKey(f"Key{i:04d}", T0 + timedelta(seconds=i)) for i in range(700))
    deep = RegKey("Level1", T0, (dword("depth", 1),), (
        RegKey("Ступень2", T0 + timedelta(hours=1), (sz("depth", "2"),), (
            RegKey("Level3", T0 + timedelta(days=1, microseconds=123457),
                   (qword("depth", 3),)),)),))
    return RegKey("ROOT", T0 - timedelta(days=1), values, (
        deep, RegKey("Many", T0, (), many), RegKey("EmptyKey", T0 + timedelta(days=2))))


def flatten(key: RegKey, path: str = "") -> dict[str, RegKey]:
    found = {path: key}
    for child in key.subkeys:
        found.update(flatten(child, f"{path}\\{child.name}"))
    return found


@pytest.fixture(scope="module")
def hive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RegKey]:
    root = every_kind_of_key()
    path = tmp_path_factory.mktemp("regf") / "ALL"
    path.write_bytes(write_hive(root, file_name="\\??\\C:\\Evidence\\ALL.DAT"))
    return path, root


def test_same_description_same_bytes_and_a_valid_base_block(hive) -> None:
    path, _ = hive
    data = path.read_bytes()
    assert data == write_hive(every_kind_of_key(), file_name="\\??\\C:\\Evidence\\ALL.DAT")
    assert data[:4] == b"regf" and len(data) % 4096 == 0
    checksum = 0
    for (word,) in struct.iter_unpack("<I", data[:508]):
        checksum ^= word
    assert struct.unpack_from("<I", data, 508)[0] == checksum
    assert struct.unpack_from("<I", data, 40)[0] == len(data) - 4096
    assert struct.unpack_from("<Q", data, 12)[0] == regf.filetime(T0 + timedelta(days=2))
    assert data[48:112].decode("utf-16-le").rstrip("\0") == "\\??\\C:\\Evidence\\ALL.DAT"


# --- regipy ---------------------------------------------------------------------------


def regipy_expected(value: RegValue) -> tuple[str, Any]:
    """How regipy presents a value (its own decoding rules)."""
    names = {REG_NONE: "REG_NONE", REG_SZ: "REG_SZ", REG_EXPAND_SZ: "REG_EXPAND_SZ",
             REG_BINARY: "REG_BINARY", REG_DWORD: "REG_DWORD", REG_MULTI_SZ: "REG_MULTI_SZ",
             REG_QWORD: "REG_QWORD"}
    if value.type in (REG_SZ, REG_EXPAND_SZ):
        return names[value.type], value.data.decode("utf-16-le").rstrip("\0")
    if value.type in (REG_BINARY, REG_NONE):
        return names[value.type], value.data
    if value.type in (REG_DWORD, REG_QWORD):
        return names[value.type], int.from_bytes(value.data, "little")
    if value.type == REG_MULTI_SZ:
        return "REG_MULTI_SZ", [s for s in value.data.decode("utf-16-le").split("\0") if s]
    if value.type == DEVPROP_FILETIME:
        ticks = int.from_bytes(value.data, "little")
        return "REG_FILETIME", datetime(1601, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=ticks // 10)
    return str(value.type), None  # regipy decodes no data for a type it does not know


KNOWN_TYPES = {"REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD",
               "REG_MULTI_SZ", "REG_QWORD", "REG_FILETIME"}


def regipy_tree(path: Path) -> dict[str, tuple[int, dict[str, tuple[str, Any]]]]:
    reader = RegistryHive(str(path))
    found: dict[str, tuple[int, dict[str, tuple[str, Any]]]] = {}

    def walk(nk: Any, where: str) -> None:
        values = {}
        for value in nk.iter_values(trim_values=False) if nk.values_count else ():
            known = value.value_type in KNOWN_TYPES
            values[value.name] = (value.value_type, value.value if known else None)
        found[where] = (nk.header.last_modified, values)
        for child in nk.iter_subkeys() or ():
            walk(child, f"{where}\\{child.name}")

    walk(reader.root, "")
    return found


def test_regipy_reads_every_key_value_type_and_value(hive) -> None:
    path, root = hive
    expected = flatten(root)
    read = regipy_tree(path)
    assert set(read) == set(expected)
    for where, key in expected.items():
        stamp, values = read[where]
        assert stamp == regf.filetime(key.written), where
        assert values == {v.name or "(default)": regipy_expected(v) for v in key.values}, where
    assert len(read["\\Many"][1]) == 0 and len(
        [p for p in read if p.startswith("\\Many\\")]) == 700


# --- hivex ----------------------------------------------------------------------------


def hivex_tree(path: Path) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """hivexml: every key's path and mtime, and each value's hivex type and content."""
    done = subprocess.run(["hivexml", str(path)], capture_output=True, check=True)
    document = ET.fromstring(done.stdout)
    found: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}

    def walk(node: ET.Element, where: str) -> None:
        values = {}
        for value in node.findall("value"):
            name = "" if value.get("default") == "1" else value.get("key", "")
            if value.get("type") == "string-list":
                content = "\n".join(s.text or "" for s in value.findall("string"))
            elif value.get("encoding") == "base64":  # wrapped lines: compare the bytes
                content = base64.b64decode(value.get("value", "")).hex()
            else:
                content = value.get("value", "")
            values[name] = (value.get("type", ""), content)
        found[where] = (node.findtext("mtime", ""), values)
        for child in node.findall("node"):
            walk(child, f"{where}\\{child.get('name')}")

    walk(document.find("node"), "")
    return found


def hivex_expected(value: RegValue) -> tuple[str, str]:
    text = value.data.decode("utf-16-le", "replace")
    kind = {REG_NONE: "none", REG_SZ: "string", REG_EXPAND_SZ: "expand",
            REG_BINARY: "binary", REG_DWORD: "int32", REG_QWORD: "int64",
            REG_MULTI_SZ: "string-list"}.get(value.type, "unknown")
    if kind in ("string", "expand"):
        return kind, text.rstrip("\0")
    if kind in ("int32", "int64"):
        return kind, str(int.from_bytes(value.data, "little", signed=True))
    if kind == "string-list":
        return kind, "\n".join(text.split("\0")[:-1])  # hivex keeps empty strings
    return kind, value.data.hex()


_REGEDIT = re.compile(r'^"((?:[^"\\]|\\.)*)"=(.*)$')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def hivexget_values(path: Path, key: str) -> dict[str, tuple[int, bytes]]:
    """hivexget in regedit form: every value's type number and raw data."""
    done = subprocess.run(["hivexget", str(path), key or "\\"], capture_output=True,
                          check=True)
    found = {}
    for line in done.stdout.decode("utf-8").splitlines():
        match = _REGEDIT.match(line)
        assert match, line
        name, data = _unescape(match[1]), match[2]
        name = "" if name == "@" else name
        if data.startswith('"'):
            found[name] = (REG_SZ, (_unescape(data[1:-1]) + "\0").encode("utf-16-le"))
        elif (string := re.match(r'^str\((\d+)\):"(.*)"$', data)) is not None:
            found[name] = (int(string[1]), (_unescape(string[2]) + "\0").encode("utf-16-le"))
        elif data.startswith("dword:"):
            found[name] = (REG_DWORD, struct.pack("<I", int(data[6:], 16)))
        else:
            raw = re.match(r"^hex(?:\((\d+)\))?:(.*)$", data)
            assert raw, line
            found[name] = (int(raw[1] or REG_BINARY),
                           bytes(int(b, 16) for b in raw[2].split(",") if b))
    return found


@needs_hivex
def test_hivex_reads_every_key_value_type_and_value(hive) -> None:
    path, root = hive
    expected = flatten(root)
    read = hivex_tree(path)
    assert set(read) == set(expected)
    for where, key in expected.items():
        mtime, values = read[where]
        assert mtime == key.written.strftime("%Y-%m-%dT%H:%M:%SZ"), where  # whole seconds
        assert values == {v.name: hivex_expected(v) for v in key.values}, where
        if key.values:  # raw types and bytes, including the types hivexml calls unknown
            assert hivexget_values(path, where) == {v.name: (v.type, v.data)
                                                    for v in key.values}, where


@needs_hivex
def test_scenario_hives_are_valid_for_both_readers(tmp_path: Path) -> None:
    for name, data in scenario_hives().items():
        path = tmp_path / name
        path.write_bytes(data)
        assert subprocess.run(["hivexml", str(path)], capture_output=True).returncode == 0
        assert regipy_tree(path)
        assert set(hivex_tree(path)) == set(regipy_tree(path))


def scenario_hives() -> dict[str, bytes]:
    usb = PlantedUsb("SanDisk", "Cruzer Blade", "1.00", "4C530001230817117045",
                     first_install=T0, last_arrival=T0 + timedelta(days=1), drive_letter="F")
    return {
        "SYSTEM": regf.system_hive([usb], computer_name="PC", installed=T0),
        "SAM": regf.sam_hive([Account("Дана", 1001, T0)], installed=T0),
        "SOFTWARE": regf.software_hive([Program("{A1}", "Tor Browser", "13.0", "Tor", T0,
                                                wow64=True)], installed=T0, owner="x"),
        "NTUSER.DAT": regf.ntuser_hive([("a.txt", T0)], user="x", installed=T0,
                                       run=[("cmd", T0)], typed_paths=[("C:\\", T0)]),
    }


def test_bad_descriptions_are_refused() -> None:
    with pytest.raises(RegfError, match="time zone"):
        write_hive(RegKey("ROOT", datetime(2024, 1, 1)))
    with pytest.raises(RegfError, match="same name"):
        write_hive(RegKey("ROOT", T0, subkeys=(RegKey("a", T0), RegKey("A", T0))))
    with pytest.raises(RegfError, match="same name"):
        write_hive(RegKey("ROOT", T0, values=(dword("v", 1), dword("V", 2))))
    with pytest.raises(RegfError, match="255"):
        write_hive(RegKey("ROOT", T0, subkeys=(RegKey("x" * 256, T0),)))
