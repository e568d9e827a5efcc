"""Acquisition engine: raw, split and E01 images, bad sectors, full disk, cancel, crash,
resume, source changes; hashes checked against hashlib and the images against real tools."""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dalil import __version__
from dalil.engine.evidence import acquisition_io
from dalil.engine.evidence.acquisition import (
    AcquisitionCancelled,
    AcquisitionError,
    AcquisitionRequest,
    SourceChanged,
    acquire,
    verify_image,
)

KIB = 1024
MIB = 1024 * KIB
CHUNK = 64 * KIB
ALGOS = ("md5", "sha1", "sha256")

needs_ewf = pytest.mark.skipif(shutil.which("ewfacquirestream") is None,
                               reason="ewf-tools (ewfacquirestream) not installed")


def _hashes(data: bytes, algorithms=ALGOS) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in algorithms}


def _source(tmp_path: Path, size: int = 3 * MIB + 5 * 512, seed: int = 7) -> tuple[Path, bytes]:
    data = random.Random(seed).randbytes(size)
    path = tmp_path / "usb.dd"
    path.write_bytes(data)
    past = time.time() - 3600  # so that any later write surely changes the mtime
    os.utime(path, (past, past))
    return path, data


def _request(source: Path, out: Path, **kw) -> AcquisitionRequest:
    kw.setdefault("chunk_size", CHUNK)
    kw.setdefault("checkpoint_interval", 256 * KIB)
    kw.setdefault("algorithms", ALGOS)
    return AcquisitionRequest(source=source, out_dir=out, basename="E1.1", **kw)


def _checkpoint(out: Path) -> dict:
    return json.loads((out / "E1.1.acquire.json").read_text())


# --- round trips -------------------------------------------------------------------------


def test_raw_round_trip(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    progress = []
    result = acquire(_request(source, out), progress=lambda d, t: progress.append((d, t)))
    image = out / "E1.1.raw"
    assert image.read_bytes() == data
    assert result.hashes == _hashes(data)
    assert result.size == len(data)
    assert result.image_paths == [str(image)]
    assert result.errors == [] and result.segment_hashes == []
    assert result.verified is True
    assert result.verification["algorithm"] == "sha256"
    assert result.verification["actual"] == hashlib.sha256(data).hexdigest()
    assert result.verification["match"] is True
    assert result.resumed_from is None
    assert progress[-1] == (len(data), len(data))
    assert not (out / "E1.1.acquire.json").exists()  # removed on success
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["tool"] == {"name": "dalil", "version": __version__}
    st = source.stat()
    assert doc["source"]["path"] == str(source)
    assert doc["source"]["size"] == len(data)
    assert (doc["source"]["st_dev"], doc["source"]["st_ino"]) == (str(st.st_dev),
                                                                  str(st.st_ino))
    assert doc["source"]["mtime_ns"] == str(st.st_mtime_ns)
    assert doc["source"]["mtime"].endswith("Z")
    assert doc["source"]["is_block_device"] is False
    assert doc["started_at"] <= doc["ended_at"] and doc["ended_at"].endswith("+00:00")


def test_source_is_not_modified(tmp_path):
    source, data = _source(tmp_path)
    before = source.stat()
    acquire(_request(source, tmp_path / "out"))
    after = source.stat()
    assert source.read_bytes() == data
    assert (after.st_mtime_ns, after.st_ctime_ns, after.st_size) == (
        before.st_mtime_ns, before.st_ctime_ns, before.st_size)


def test_split_round_trip_with_segment_hashes(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    segment = 700 * KIB  # not a multiple of the chunk: segments end inside chunks
    result = acquire(_request(source, out, format="split", segment_size=segment))
    count = -(-len(data) // segment)
    names = [f"E1.1.{i:03d}" for i in range(1, count + 1)]
    assert [Path(p).name for p in result.image_paths] == names
    assert b"".join((out / n).read_bytes() for n in names) == data
    assert result.hashes == _hashes(data)
    assert len(result.segment_hashes) == count
    for index, seg in enumerate(result.segment_hashes):
        piece = data[index * segment:(index + 1) * segment]
        assert seg["path"] == str(out / names[index])
        assert seg["size"] == len(piece)
        assert seg["hashes"] == _hashes(piece)
    assert result.verified is True


def test_verification_of_a_damaged_image_fails(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    result = acquire(_request(source, out, verify=False))
    assert result.verified is None and result.verification is None
    with open(out / "E1.1.raw", "r+b") as image:
        image.seek(1000)
        image.write(b"\x00\x01\x02")
    check = verify_image("raw", result.image_paths, result.hashes)
    assert check["match"] is False
    assert check["expected"] == hashlib.sha256(data).hexdigest()


@needs_ewf
@pytest.mark.parametrize("size", [3 * MIB, 3 * MIB + 1234])  # whole sectors, and not
def test_e01_round_trip_read_back_with_pyewf_and_ewfverify(tmp_path, size):
    pyewf = pytest.importorskip("pyewf")
    source, data = _source(tmp_path, size=size)
    out = tmp_path / "out"
    metadata = {"case_number": "TJ-2026-17", "exhibit": "E1.1", "examiner": "Lt. Karimova",
                "description": "USB stick, black", "notes": "seized at scene"}
    result = acquire(_request(source, out, format="e01", segment_size=1 * MIB,
                              metadata=metadata))
    assert result.hashes == _hashes(data)
    assert result.verified is True, result.verification
    assert result.verification["ewf_md5"] == hashlib.md5(data).hexdigest()
    assert [Path(p).name for p in result.image_paths][:2] == ["E1.1.E01", "E1.1.E02"]
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(out / "E1.1.E01")))
    try:
        assert handle.get_media_size() == len(data)
        assert handle.read(len(data)) == data
        assert handle.get_header_value("case_number") == "TJ-2026-17"
        assert handle.get_header_value("evidence_number") == "E1.1"
        assert handle.get_header_value("examiner_name") == "Lt. Karimova"
        assert handle.get_header_value("description") == "USB stick, black"
        assert handle.get_header_value("notes") == "seized at scene"
    finally:
        handle.close()
    if shutil.which("ewfverify"):
        check = subprocess.run(["ewfverify", "-q", str(out / "E1.1.E01")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_e01_without_ewfacquirestream_says_how_to_install_it(tmp_path, monkeypatch):
    source, _ = _source(tmp_path, size=64 * KIB)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(AcquisitionError, match="apt-get install ewf-tools"):
        acquire(_request(source, tmp_path / "out", format="e01", segment_size=MIB))


# --- unreadable sectors ------------------------------------------------------------------


def test_unreadable_sectors_are_retried_zero_filled_and_listed(tmp_path):
    source, data = _source(tmp_path)
    bad = {10, 11, 12, 2000, 2001, 6000}  # sector numbers: two runs and a single one
    flaky = {3000: 2}  # fails twice, then reads: recovered within 3 retries
    attempts: dict[int, int] = {}

    def read_at(fd, buf, offset):
        first, last = offset // 512, (offset + len(buf) - 1) // 512
        for sector in range(first, last + 1):
            if sector in bad:
                attempts[sector] = attempts.get(sector, 0) + 1
                raise OSError(errno.EIO, "Input/output error")
            if sector in flaky and flaky[sector] > 0:
                flaky[sector] -= 1
                raise OSError(errno.EIO, "Input/output error")
        return os.preadv(fd, [buf], offset)

    out = tmp_path / "out"
    result = acquire(_request(source, out, read_at=read_at, retries=3))
    expected = bytearray(data)
    for sector in bad:
        expected[sector * 512:(sector + 1) * 512] = bytes(512)
    assert result.errors == [{"offset": 10 * 512, "length": 3 * 512},
                             {"offset": 2000 * 512, "length": 2 * 512},
                             {"offset": 6000 * 512, "length": 512}]
    # 1 sector read + 3 retries each (+1 for the chunk read that hit it first)
    assert all(4 <= attempts[s] <= 5 for s in bad), attempts
    assert (out / "E1.1.raw").read_bytes() == bytes(expected)
    assert result.hashes == _hashes(bytes(expected))
    assert result.verified is True
    assert any("zero-filled" in note for note in result.notes)


def test_a_read_error_that_is_not_a_media_error_stops_with_the_offset(tmp_path):
    source, _ = _source(tmp_path)

    def read_at(fd, buf, offset):
        if offset >= MIB:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return os.preadv(fd, [buf], offset)

    with pytest.raises(AcquisitionError, match=rf"{source}.* at offset {MIB}"):
        acquire(_request(source, tmp_path / "out", read_at=read_at))


# --- full disk, cancel, crash and resume -------------------------------------------------


def test_disk_full_checkpoints_and_resume_completes(tmp_path, monkeypatch):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    real_write_all = acquisition_io.write_all
    written = [0]
    limit = 2 * MIB + 100 * KIB

    def full_disk(fd, view):
        if written[0] + view.nbytes > limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, view)
        written[0] += view.nbytes

    monkeypatch.setattr(acquisition_io, "write_all", full_disk)
    with pytest.raises(AcquisitionError) as caught:
        acquire(_request(source, out))
    message = str(caught.value)
    assert message.startswith(f"disk full while writing {out / 'E1.1.raw'} at offset ")
    assert "free space and re-run with --resume" in message
    checkpoint = _checkpoint(out)
    assert 0 < checkpoint["offset"] <= limit
    assert f"at offset {checkpoint['offset']}" in message

    monkeypatch.setattr(acquisition_io, "write_all", real_write_all)
    result = acquire(_request(source, out, resume=True))
    assert result.resumed_from == checkpoint["offset"]
    assert result.hashes == _hashes(data)
    assert result.verified is True
    assert (out / "E1.1.raw").read_bytes() == data
    assert not (out / "E1.1.acquire.json").exists()


@pytest.mark.parametrize("fmt", ["raw", "split"])
def test_cancel_then_resume_gives_the_hashes_of_a_fresh_acquisition(tmp_path, fmt):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    seen: list[int] = []
    options = {"format": fmt, "segment_size": 1 * MIB}
    with pytest.raises(AcquisitionCancelled) as caught:
        acquire(_request(source, out, **options), progress=lambda d, t: seen.append(d),
                cancel=lambda: bool(seen) and seen[-1] >= 1 * MIB + 3 * CHUNK)
    offset = caught.value.offset
    assert offset == 1 * MIB + 3 * CHUNK
    checkpoint = _checkpoint(out)
    assert checkpoint["offset"] == offset
    assert checkpoint["source"]["size"] == len(data)
    assert checkpoint["algorithms"] == list(ALGOS)
    assert "--resume" in str(caught.value)

    progress: list[tuple[int, int]] = []
    resumed = acquire(_request(source, out, resume=True, **options),
                      progress=lambda d, t: progress.append((d, t)))
    fresh = acquire(AcquisitionRequest(source=source, out_dir=tmp_path / "fresh",
                                       basename="E1.1", algorithms=ALGOS, **options))
    assert resumed.resumed_from == offset
    assert resumed.hashes == fresh.hashes == _hashes(data)
    assert resumed.segment_hashes[0]["hashes"] == fresh.segment_hashes[0]["hashes"] \
        if fmt == "split" else True
    assert [s["hashes"] for s in resumed.segment_hashes] == \
        [s["hashes"] for s in fresh.segment_hashes]
    assert resumed.verified is True
    assert progress[-1] == (len(data), len(data))
    image = b"".join(Path(p).read_bytes() for p in resumed.image_paths)
    assert image == data


def _killed_child(source: str, out: str, interval: int) -> None:
    """Runs in a forked child: acquire, and SIGKILL ourselves once a checkpoint is on disk."""
    checkpoint = Path(out) / "E1.1.acquire.json"

    def progress(done: int, total: int) -> None:
        if done < 3 * interval:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if json.loads(checkpoint.read_text())["offset"] > 0:
                    os.kill(os.getpid(), signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)

    acquire(AcquisitionRequest(source=source, out_dir=out, basename="E1.1", algorithms=ALGOS,
                               chunk_size=CHUNK, checkpoint_interval=interval),
            progress=progress)


def test_sigkill_in_the_middle_then_resume(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    interval = 256 * KIB
    child = multiprocessing.get_context("fork").Process(
        target=_killed_child, args=(str(source), str(out), interval))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    checkpoint = _checkpoint(out)
    assert 0 < checkpoint["offset"] < len(data)
    assert (out / "E1.1.raw").stat().st_size >= checkpoint["offset"]

    result = acquire(_request(source, out, resume=True))
    assert result.resumed_from == checkpoint["offset"]
    assert result.hashes == _hashes(data)
    assert result.verified is True
    assert (out / "E1.1.raw").read_bytes() == data


def test_resume_keeps_recorded_bad_sectors_zero_filled(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"

    def read_at(fd, buf, offset):
        if offset <= 100 * 512 < offset + len(buf):
            raise OSError(errno.EIO, "Input/output error")
        return os.preadv(fd, [buf], offset)

    seen: list[int] = []
    with pytest.raises(AcquisitionCancelled):
        acquire(_request(source, out, read_at=read_at, retries=0),
                progress=lambda d, t: seen.append(d), cancel=lambda: bool(seen) and seen[-1] > MIB)
    assert _checkpoint(out)["errors"] == [[100 * 512, 512]]
    # The sector reads fine now: the image holds zeros there, so the hashes must too.
    result = acquire(_request(source, out, resume=True))
    expected = bytearray(data)
    expected[100 * 512:101 * 512] = bytes(512)
    assert result.errors == [{"offset": 100 * 512, "length": 512}]
    assert result.hashes == _hashes(bytes(expected))
    assert result.verified is True


def test_resume_is_refused_when_the_source_differs(tmp_path):
    source, _ = _source(tmp_path)
    out = tmp_path / "out"
    seen: list[int] = []
    with pytest.raises(AcquisitionCancelled):
        acquire(_request(source, out), progress=lambda d, t: seen.append(d),
                cancel=lambda: bool(seen) and seen[-1] > MIB)
    other = tmp_path / "other.dd"
    other.write_bytes(random.Random(99).randbytes(source.stat().st_size))
    other.replace(source)  # same path and size, another file
    with pytest.raises(AcquisitionError, match=r"refusing to resume.*another file"):
        acquire(_request(source, out, resume=True))


def test_resume_without_checkpoint_is_an_error(tmp_path):
    source, _ = _source(tmp_path, size=64 * KIB)
    with pytest.raises(AcquisitionError, match="no checkpoint"):
        acquire(_request(source, tmp_path / "out", resume=True))


def test_existing_image_is_never_overwritten(tmp_path):
    source, _ = _source(tmp_path, size=64 * KIB)
    out = tmp_path / "out"
    acquire(_request(source, out))
    with pytest.raises(AcquisitionError, match="refusing to overwrite"):
        acquire(_request(source, out))


@needs_ewf
def test_e01_resume_restarts_from_zero_and_says_so(tmp_path):
    source, data = _source(tmp_path)
    out = tmp_path / "out"
    seen: list[int] = []
    with pytest.raises(AcquisitionCancelled):
        acquire(_request(source, out, format="e01", segment_size=MIB),
                progress=lambda d, t: seen.append(d), cancel=lambda: bool(seen) and seen[-1] > MIB)
    result = acquire(_request(source, out, format="e01", segment_size=MIB, resume=True))
    assert result.resumed_from is None
    assert any("restarted from offset 0" in note for note in result.notes)
    assert result.hashes == _hashes(data)
    assert result.verified is True


# --- source problems ---------------------------------------------------------------------


def test_source_modified_during_acquisition_is_detected(tmp_path):
    source, _ = _source(tmp_path)
    out = tmp_path / "out"

    def progress(done, total):
        if done == CHUNK:
            with open(source, "r+b") as handle:  # same size, other bytes
                handle.seek(2 * MIB)
                handle.write(b"tampered")

    with pytest.raises(SourceChanged, match=rf"source {source} changed while it was acquired"):
        acquire(_request(source, out), progress=progress)


def test_source_truncated_during_acquisition_is_detected(tmp_path):
    source, _ = _source(tmp_path)

    def progress(done, total):
        if done == CHUNK:
            os.truncate(source, MIB)

    # No checkpoint before the end of the data, so it is the reader that finds it short.
    with pytest.raises(SourceChanged, match=rf"{source} shrank.*ended at offset {MIB}"):
        acquire(_request(source, tmp_path / "out", checkpoint_interval=64 * MIB),
                progress=progress)


def test_nonexistent_source_is_named(tmp_path):
    missing = tmp_path / "sdz"
    with pytest.raises(AcquisitionError, match=rf"cannot open source {missing}: No such file"):
        acquire(_request(missing, tmp_path / "out"))


@pytest.mark.parametrize(("field", "value", "match"), [
    ("format", "vmdk", "unknown image format"),
    ("basename", "../x", "plain file name"),
    ("algorithms", ("crc32",), "crc32"),
    ("metadata", {"colour": "red"}, "unknown metadata"),
])
def test_invalid_requests_are_refused(tmp_path, field, value, match):
    source, _ = _source(tmp_path, size=4096)
    request = _request(source, tmp_path / "out")
    setattr(request, field, value)
    with pytest.raises(ValueError, match=match):
        acquire(request)


def test_resume_is_refused_when_the_image_lost_data(tmp_path):
    source, _ = _source(tmp_path)
    out = tmp_path / "out"
    seen: list[int] = []
    with pytest.raises(AcquisitionCancelled):
        acquire(_request(source, out), progress=lambda d, t: seen.append(d),
                cancel=lambda: bool(seen) and seen[-1] > MIB)
    os.truncate(out / "E1.1.raw", 1000)
    with pytest.raises(AcquisitionError, match="hold 1000 bytes, fewer than the checkpoint"):
        acquire(_request(source, out, resume=True))
