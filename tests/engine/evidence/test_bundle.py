"""A sealed bundle verifies as written, and any change to it is found and named."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from dalil.engine.evidence import bundle
from dalil.engine.evidence.canonical import canonical_bytes
from dalil.engine.evidence.custody import GENESIS, seal, sign_head
from dalil.engine.evidence.signing import SigningKey, b64

CASE = "KZ-2026-7"


def _chain(key: SigningKey, exhibits: list[str]):
    records, prev = [], GENESIS
    steps = [(None, "created", {"title": "Phishing"})]
    for number in exhibits:
        steps += [(number, "seized", {"seized_by": "Sgt. Amanov", "place": "Almaty"}),
                  (number, "accessed", {"purpose": "imaging"})]
    for exhibit, action, details in steps:
        record = seal(key, seq=len(records) + 1, case=CASE, exhibit=exhibit, action=action,
                      actor="officer1", at="2026-03-01T10:00:00.000000Z", details=details,
                      prev_hash=prev)
        records.append(record)
        prev = record.entry_hash
    return records, sign_head(key, records[-1])


def _source(tmp_path: Path, exhibit: str, name: str, data: bytes) -> bundle.SourceFile:
    path = tmp_path / "src" / hashlib.sha256(data).hexdigest()
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return bundle.SourceFile(exhibit, name, path, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def written(tmp_path, key) -> Path:
    records, head = _chain(key, ["E1", "E2"])
    files = [_source(tmp_path, "E1", "photo.jpg", b"\xff\xd8 jpeg bytes" * 500),
             _source(tmp_path, "E2", "телефон.bin", b"phone dump" * 300)]
    contents = bundle.BundleContents(
        case=CASE, creator="officer1", files=files,
        exhibits=[{"number": "E1"}, {"number": "E2"}], custody=records, head=head,
        case_uco={"@context": {}, "@graph": []}, case_info={"title": "Phishing"})
    return bundle.write_bundle(tmp_path / "case.dalil.zip", contents, key).path


def _rewrite(path: Path, replace: dict[str, bytes], add: dict[str, bytes] | None = None,
             drop: tuple[str, ...] = ()) -> None:
    """Rebuild the archive with some entries replaced, added or removed."""
    with zipfile.ZipFile(path) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    entries.update(replace)
    entries.update(add or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            if name not in drop:
                archive.writestr(name, data)


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def _resign(manifest: dict, key: SigningKey) -> dict[str, bytes]:
    return {"manifest.json": json.dumps(manifest).encode(),
            "manifest.sig": b64(key.sign(canonical_bytes(manifest))).encode()}


def test_a_written_bundle_verifies(written, key):
    report = bundle.verify_bundle(written, key.public.fingerprint)
    assert report.intact, report.problems
    assert report.case == CASE and report.signature_ok
    assert report.custody is not None and report.custody.entries == 5
    paths = {f.path for f in report.files}
    assert {"exhibits/E1/photo.jpg", "exhibits/E2/телефон.bin", "custody.json",
            "case-uco.jsonld", "public_key.txt"} == paths
    document = report.to_dict()
    assert set(document) >= {"bundle", "intact", "case", "files", "custody", "problems"}


def test_the_manifest_lists_every_file_with_size_hash_and_exhibit(written, key):
    manifest = _manifest(written)
    assert manifest["format"] == "dalil-bundle/1"
    assert manifest["created_at"].endswith("Z")
    assert manifest["public_key"]["fingerprint"] == key.public.fingerprint
    photo = next(f for f in manifest["files"] if f["path"] == "exhibits/E1/photo.jpg")
    assert photo["exhibit"] == "E1" and photo["size"] == len(b"\xff\xd8 jpeg bytes" * 500)
    assert manifest["custody"]["head"]["seq"] == 5
    with zipfile.ZipFile(written) as archive:
        uco = archive.read("case-uco.jsonld")
    assert manifest["case_uco"] == {"path": "case-uco.jsonld",
                                    "sha256": hashlib.sha256(uco).hexdigest()}


def test_a_wrong_expected_key_is_reported(written):
    other = SigningKey.generate().public.fingerprint
    report = bundle.verify_bundle(written, other)
    assert not report.intact
    assert f"not the expected {other}" in report.problems[0]


def test_changed_exhibit_bytes_are_named(written):
    _rewrite(written, {"exhibits/E1/photo.jpg": b"\xff\xd8 JPEG BYTES" * 500})  # same size
    report = bundle.verify_bundle(written)
    assert "exhibits/E1/photo.jpg: SHA-256 mismatch" in report.problems


def test_a_bad_crc_is_reported_as_a_corrupt_entry(written):
    data = bytearray(written.read_bytes())
    offset = data.find(b"phone dump")
    data[offset] ^= 0xFF
    written.write_bytes(bytes(data))
    report = bundle.verify_bundle(written)
    assert not report.intact
    assert any(p.startswith("exhibits/E2/телефон.bin: corrupt entry") and "CRC" in p
               for p in report.problems), report.problems


def test_an_unlisted_file_is_reported(written):
    _rewrite(written, {}, add={"exhibits/E1/extra.txt": b"planted"})
    report = bundle.verify_bundle(written)
    assert "exhibits/E1/extra.txt: not listed in the manifest" in report.problems


def test_a_missing_file_is_reported(written):
    _rewrite(written, {}, drop=("exhibits/E2/телефон.bin",))
    report = bundle.verify_bundle(written)
    assert "exhibits/E2/телефон.bin: missing from the bundle" in report.problems


def test_an_edited_manifest_breaks_the_signature(written):
    manifest = _manifest(written)
    manifest["creator"] = "someone else"
    _rewrite(written, {"manifest.json": json.dumps(manifest).encode()})
    report = bundle.verify_bundle(written)
    assert "manifest.sig: the manifest's signature does not verify" in report.problems


def test_a_forged_custody_entry_is_named_even_when_the_manifest_is_resigned(written, key):
    manifest = _manifest(written)
    manifest["custody"]["entries"][2]["signature"] = b64(b"\0" * 64)
    _rewrite(written, _resign(manifest, key))
    report = bundle.verify_bundle(written)
    assert "custody entry 3: signature does not verify" in report.problems
    assert "custody.json: differs from the custody log in the manifest" in report.problems


def test_a_bundle_resigned_with_another_key_fails_the_custody_check(written, key):
    thief = SigningKey.generate()
    manifest = _manifest(written)
    manifest["custody"]["entries"][1]["actor"] = "nobody"
    manifest["public_key"] = {"algorithm": "Ed25519", "base64": thief.public.b64(),
                              "fingerprint": thief.public.fingerprint}
    replaced = _resign(manifest, thief)
    replaced["public_key.txt"] = (thief.public.b64() + "\n").encode()
    _rewrite(written, replaced)
    report = bundle.verify_bundle(written)
    assert report.signature_ok
    assert any(p.startswith("custody entry 1: signed by an unknown key") for p in report.problems)
    pinned = bundle.verify_bundle(written, key.public.fingerprint)
    assert any("not the expected" in p for p in pinned.problems)


def test_a_truncated_custody_log_is_found_by_the_signed_head(written, key):
    manifest = _manifest(written)
    manifest["custody"]["entries"] = manifest["custody"]["entries"][:3]
    _rewrite(written, _resign(manifest, key))
    report = bundle.verify_bundle(written)
    assert any(p.startswith("custody entry 4: entries 4..5 were removed") for p in report.problems)


def test_a_changed_case_uco_document_is_named(written, key):
    with zipfile.ZipFile(written) as archive:
        size = len(archive.read("case-uco.jsonld"))
    _rewrite(written, {"case-uco.jsonld": b"{}".ljust(size)})
    report = bundle.verify_bundle(written)
    assert "case-uco.jsonld: SHA-256 mismatch" in report.problems


def test_a_manifest_with_a_repeated_key_is_refused(written):
    text = json.dumps(_manifest(written))
    _rewrite(written, {"manifest.json": ('{"case": "X", ' + text[1:]).encode()})
    report = bundle.verify_bundle(written)
    assert "duplicate key 'case'" in report.problems[0]


def test_bytes_changed_since_recording_stop_the_export(tmp_path, key):
    records, head = _chain(key, ["E1"])
    source = _source(tmp_path, "E1", "a.bin", b"recorded")
    source.path.write_bytes(b"tampered")
    contents = bundle.BundleContents(CASE, "officer1", [source], [{"number": "E1"}], records,
                                     head, {})
    with pytest.raises(bundle.BundleError, match="no longer match the record"):
        bundle.write_bundle(tmp_path / "out.dalil.zip", contents, key)
    assert list(tmp_path.glob("*.dalil.zip*")) == [] and list(tmp_path.glob(".*")) == []


def test_clashing_file_names_get_distinct_safe_paths(tmp_path, key):
    records, head = _chain(key, ["E1"])
    files = [_source(tmp_path, "E1", name, name.encode() * 10)
             for name in ("Photo.jpg", "photo.JPG", "../../etc/passwd", "C:\\x.txt")]
    contents = bundle.BundleContents(CASE, "o", files, [{"number": "E1"}], records, head, {})
    written = bundle.write_bundle(tmp_path / "out.dalil.zip", contents, key)
    report = bundle.verify_bundle(written.path)
    assert report.intact, report.problems
    paths = [f.path for f in report.files if f.exhibit]
    assert paths == ["exhibits/E1/Photo.jpg", "exhibits/E1/2-photo.JPG",
                     "exhibits/E1/_.._etc_passwd", "exhibits/E1/C__x.txt"]


def test_a_large_exhibit_streams_through_constant_memory(tmp_path, key):
    records, head = _chain(key, ["E1"])
    big = tmp_path / "disk.img"
    digest = hashlib.sha256()
    with open(big, "wb") as handle:
        for n in range(48):  # 48 MiB, distinct chunks so nothing compresses away
            chunk = bytes([n]) * (1024 * 1024)
            handle.write(chunk)
            digest.update(chunk)
    source = bundle.SourceFile("E1", "disk.img", big, big.stat().st_size, digest.hexdigest())
    contents = bundle.BundleContents(CASE, "o", [source], [{"number": "E1"}], records, head, {})
    tracemalloc.start()
    try:
        written = bundle.write_bundle(tmp_path / "big.dalil.zip", contents, key)
        report = bundle.verify_bundle(written.path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.intact, report.problems
    assert peak < 12 * 1024 * 1024, f"peak {peak} bytes for a 48 MiB exhibit"
