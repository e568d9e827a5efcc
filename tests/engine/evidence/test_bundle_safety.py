"""Hostile or damaged archives are refused from their central directory, before any use."""

from __future__ import annotations

import posixpath
import stat
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.evidence.bundle import Limits, UnsafeArchive, open_bundle, verify_bundle
from dalil.engine.evidence.bundle_safety import name_problem, safe_component


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]],
         compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def _refused(path: Path, expected: str, limits: Limits = Limits()) -> None:
    with pytest.raises(UnsafeArchive, match=expected):
        open_bundle(path, limits)
    report = verify_bundle(path, limits=limits)
    assert not report.intact
    assert expected.replace("\\", "") in report.problems[0] or expected in report.problems[0]


@pytest.mark.parametrize(("name", "reason"), [
    ("../evil.txt", "climbs out"),
    ("exhibits/../../evil.txt", "climbs out"),
    ("/etc/passwd", "absolute path"),
    ("exhibits\\..\\evil.txt", "backslash"),
    ("C:/Windows/evil.txt", "drive letter"),
    ("c:evil.txt", "drive letter"),
    ("evil\x00.txt", "control character"),
    ("evil\n.txt", "control character"),
    ("evil\u202e.txt", "control character"),  # right-to-left override hides the extension
    ("exhibits//evil.txt", "empty or '.'"),
    ("./evil.txt", "empty or '.'"),
])
def test_a_dangerous_name_is_refused(tmp_path, name, reason):
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # ZipInfo would normalise some of these; a hostile tool does not
    path = _zip(tmp_path / "b.zip", [(info, b"x")])
    _refused(path, reason)


def test_a_symbolic_link_entry_is_refused(tmp_path):
    link = zipfile.ZipInfo("exhibits/E1/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    _refused(_zip(tmp_path / "b.zip", [(link, b"/etc/passwd")]), "symbolic link")


def test_duplicate_names_are_refused(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = _zip(tmp_path / "b.zip", [("manifest.json", b"{}"), ("manifest.json", b"[]")])
    _refused(path, "duplicate name")


def test_names_equal_but_for_case_are_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [("exhibits/E1/Photo.jpg", b"a"),
                                     ("exhibits/E1/photo.JPG", b"b")])
    _refused(path, "collides with")


def test_names_equal_after_unicode_normalisation_are_refused(tmp_path):
    composed = unicodedata.normalize("NFC", "exhibits/E1/café.txt")
    decomposed = unicodedata.normalize("NFD", "exhibits/E1/café.txt")
    assert composed != decomposed
    path = _zip(tmp_path / "b.zip", [(composed, b"a"), (decomposed, b"b")])
    _refused(path, "collides with")


def test_an_absurd_declared_size_is_refused(tmp_path):
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("exhibits/E1/disk.img", b"small")
        archive.filelist[0].file_size = 2**50  # the central directory now claims 1 PiB
    _refused(path, "more than the limit")


def test_a_declared_size_over_a_configured_limit_is_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [("exhibits/E1/a.bin", b"x" * 2000)])
    _refused(path, "more than the limit", Limits(max_entry_size=1000))


def test_a_compression_bomb_is_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [("exhibits/E1/zeros.bin", b"\0" * (20 * 1024 * 1024))],
                compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    _refused(path, "compression bomb")


def test_a_total_size_over_the_limit_is_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [(f"exhibits/E1/{n}.bin", b"x" * 600) for n in range(3)])
    _refused(path, "in all, more than the limit", Limits(max_total_size=1500))


def test_too_many_entries_are_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [(f"exhibits/E1/{n}.bin", b"x") for n in range(11)])
    _refused(path, "11 entries", Limits(max_entries=10))


def test_an_encrypted_entry_is_refused(tmp_path):
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("exhibits/E1/secret.bin", b"x")
        archive.filelist[0].flag_bits |= 0x1
    _refused(path, "encrypted entry")


def test_a_truncated_archive_is_refused(tmp_path):
    path = _zip(tmp_path / "b.zip", [("manifest.json", b"{}" * 1000)])
    path.write_bytes(path.read_bytes()[:-30])
    _refused(path, "corrupt or not a ZIP archive")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "b.zip"
    path.write_bytes(b"MZ this is not a zip at all")
    _refused(path, "corrupt or not a ZIP archive")


def test_a_missing_bundle_is_reported(tmp_path):
    report = verify_bundle(tmp_path / "absent.dalil.zip")
    assert not report.intact
    assert "no such file" in report.problems[0]


# --- the name validator and sanitiser, for any input ---------------------------------------

# Path-like text: mostly separators, dots and the characters the validator must catch.
names = st.lists(st.sampled_from(["a", "b", ".", "..", "/", "\\", ":", "\0", "\n", " ", "é",
                                  "e\u0301", "\u202e", "C:"]), max_size=12).map("".join)


@given(names)
def test_an_accepted_name_stays_inside_the_target_directory(name):
    if name_problem(name) is not None:
        return
    assert not name.startswith("/") and "\\" not in name and "\0" not in name
    assert ".." not in name.split("/")
    assert posixpath.normpath(name) == name
    joined = posixpath.normpath(posixpath.join("/target", name))
    assert joined.startswith("/target/")


@given(st.text(max_size=60))
def test_a_sanitised_component_is_always_a_safe_single_name(text):
    component = safe_component(text)
    assert name_problem(component) is None
    assert "/" not in component
    assert name_problem(f"exhibits/E1/{component}") is None


@given(st.lists(st.sampled_from(["a", "b", "exhibits", "E1"]), max_size=4),
       st.lists(st.sampled_from(["a", "b"]), max_size=4))
def test_a_parent_reference_anywhere_is_refused(before, after):
    assert name_problem("/".join([*before, "..", *after])) is not None
