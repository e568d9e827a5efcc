"""`dalil bundle create|verify|import`: a partner verifies with the package alone."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from dalil.engine.evidence.canonical import canonical_bytes
from dalil.engine.evidence.signing import b64, load_or_create

DALIL = [sys.executable, "-m", "dalil.cli"]


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DALIL_", "DJANGO_"))}
    env.update(DALIL_HOME=str(home), DALIL_ACTOR="officer.test")
    result = subprocess.run([*DALIL, *args], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, Path]:
    """One case and bundle for the module (each CLI run starts Django: seconds apiece)."""
    root = tmp_path_factory.mktemp("bundle-cli")
    home = root / "home"
    _run(home, "case", "create", "--number", "TJ-2026-4", "--title", "Extortion")
    (root / "phone.bin").write_bytes(b"phone dump " * 2000)
    (root / "photo.jpg").write_bytes(b"\xff\xd8 jpeg" * 300)
    _run(home, "evidence", "add", "TJ-2026-4", str(root / "phone.bin"), "--exhibit", "E1",
         "--seized-by", "Sgt. Rahimov", "--seized-where", "Dushanbe")
    _run(home, "evidence", "add", "TJ-2026-4", str(root / "photo.jpg"), "--exhibit", "E2")
    _run(home, "custody", "add", "TJ-2026-4", "--exhibit", "E1", "--action", "accessed",
         "--purpose", "triage")
    output = root / "tj.dalil.zip"
    created = json.loads(_run(home, "bundle", "create", "TJ-2026-4", "-o", str(output),
                              "--json").stdout)
    assert created["files"] == 2 and output.is_file()
    return output, home


@pytest.fixture
def bundle_file(made, tmp_path) -> Path:
    """A fresh copy of the module's bundle, free to tamper with."""
    copy = tmp_path / made[0].name
    shutil.copyfile(made[0], copy)
    return copy


@pytest.fixture
def signer_home(made) -> Path:
    return made[1]


def _partner_env(tmp_path: Path) -> dict[str, str]:
    """No DJANGO_SETTINGS_MODULE, and a DALIL_HOME that must never be created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DALIL_", "DJANGO_"))}
    env["DALIL_HOME"] = str(tmp_path / "partner-has-no-home")
    return env


def _verify(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DALIL, "bundle", "verify", *args], env=_partner_env(tmp_path),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_a_partner_verifies_a_bundle_without_database_or_home(bundle_file, tmp_path,
                                                              signer_home):
    fingerprint = load_or_create(signer_home / "keys").public.fingerprint
    result = _verify(tmp_path, str(bundle_file), "--key", fingerprint, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["intact"] and report["case"] == "TJ-2026-4" and report["problems"] == []
    assert {f["path"] for f in report["files"]} >= {"exhibits/E1/phone.bin",
                                                     "exhibits/E2/photo.jpg"}
    assert report["custody"]["intact"] and report["custody"]["entries"] == 4
    assert not (tmp_path / "partner-has-no-home").exists()


def test_verification_imports_neither_django_nor_the_app(bundle_file, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from typer.testing import CliRunner
        from dalil.cli.main import app
        result = CliRunner().invoke(app, ["bundle", "verify", {str(bundle_file)!r}, "--json"])
        assert result.exit_code == 0, result.output
        assert '"intact": true' in result.output
        loaded = [m for m in sys.modules if m == "django" or m.startswith(("django.",
                                                                          "dalil.app"))]
        assert not loaded, loaded
        print("clean")
    """)
    result = subprocess.run([sys.executable, "-c", script], env=_partner_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("clean")
    assert not (tmp_path / "partner-has-no-home").exists()


def test_a_wrong_key_gives_exit_1(bundle_file, tmp_path):
    result = _verify(tmp_path, str(bundle_file), "--key", "SHA256:" + "0" * 64)
    assert result.returncode == 1
    assert "not the expected SHA256:000" in result.stderr


def _rewrite(path: Path, changes: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    entries.update(changes)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_changed_exhibit_bytes_give_exit_1_naming_the_file(bundle_file, tmp_path):
    _rewrite(bundle_file, {"exhibits/E2/photo.jpg": b"\xff\xd8 JPEG" * 300})
    result = _verify(tmp_path, str(bundle_file))
    assert result.returncode == 1
    assert "exhibits/E2/photo.jpg: SHA-256 mismatch" in result.stderr


def test_a_bad_custody_signature_gives_exit_1_naming_the_entry(bundle_file, tmp_path,
                                                               signer_home):
    with zipfile.ZipFile(bundle_file) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["custody"]["entries"][2]["signature"] = b64(b"\1" * 64)
    key = load_or_create(signer_home / "keys")  # even the signer cannot forge an entry
    _rewrite(bundle_file, {"manifest.json": json.dumps(manifest).encode(),
                           "manifest.sig": b64(key.sign(canonical_bytes(manifest))).encode()})
    result = _verify(tmp_path, str(bundle_file), "--json")
    assert result.returncode == 1
    assert "custody entry 3: signature does not verify" in json.loads(result.stdout)["problems"]


def _hostile(path: Path, kind: str) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if kind == "slip":
            archive.writestr("../../escaped.txt", b"x")
        elif kind == "absolute":
            archive.writestr(zipfile.ZipInfo("/tmp/escaped.txt"), b"x")
        elif kind == "symlink":
            info = zipfile.ZipInfo("exhibits/E1/link")
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, b"/etc/passwd")
        elif kind == "bomb":
            archive.writestr("exhibits/E1/zeros", b"\0" * (16 * 1024 * 1024))
        elif kind == "duplicate":
            archive.writestr("manifest.json", b"{}")
            archive.writestr("MANIFEST.json", b"{}")
        elif kind == "encrypted":
            archive.writestr("manifest.json", b"{}")
            archive.filelist[0].flag_bits |= 0x1
    if kind == "truncated":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("manifest.json", b"{}" * 100)
        path.write_bytes(path.read_bytes()[:60])
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("slip", "path climbs out"), ("absolute", "absolute path"), ("symlink", "symbolic link"),
    ("bomb", "compression bomb"), ("duplicate", "collides with"),
    ("encrypted", "encrypted entry"), ("truncated", "corrupt or not a ZIP archive"),
])
def test_a_hostile_archive_is_refused_with_exit_1(tmp_path, kind, message):
    work = tmp_path / "work"
    work.mkdir()
    path = _hostile(work / "evil.dalil.zip", kind)
    result = _verify(work, str(path))
    assert result.returncode == 1
    assert message in result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["evil.dalil.zip"]  # nothing extracted
    assert not (tmp_path / "escaped.txt").exists()


def test_a_bundle_imports_into_another_installation(bundle_file, tmp_path, dalil):
    receiver = type(dalil)(tmp_path / "receiver-home")  # another installation, another key
    result = receiver.json("bundle", "import", str(bundle_file))
    assert result["case"] == "TJ-2026-4" and result["created_case"]
    assert result["exhibits"] == ["E1", "E2"]
    verified = receiver("verify", "TJ-2026-4", "--json")
    assert verified.returncode == 0, verified.stderr
    again = receiver("bundle", "import", str(bundle_file))
    assert again.returncode == 1
    assert "already has exhibit E1, E2" in again.stderr


def test_a_tampered_bundle_is_not_imported(bundle_file, tmp_path, dalil):
    _rewrite(bundle_file, {"exhibits/E2/photo.jpg": b"\xff\xd8 JPEG" * 300})
    receiver = type(dalil)(tmp_path / "receiver-home")
    result = receiver("bundle", "import", str(bundle_file))
    assert result.returncode == 1
    assert "not intact, nothing imported: exhibits/E2/photo.jpg: SHA-256 mismatch" in \
        result.stderr
