"""The write-once, content-addressed blob store."""

from __future__ import annotations

import hashlib
import io
import stat

import pytest

from dalil.engine.evidence.blobstore import BlobStore, BlobStoreError


def test_blobs_are_named_by_their_sha256_and_read_only(tmp_path):
    store = BlobStore(tmp_path)
    data = b"exhibit" * 1000
    blob = store.put_stream(io.BytesIO(data), also=("md5", "sha1"))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.hashes["md5"] == hashlib.md5(data).hexdigest()
    assert blob.hashes["sha1"] == hashlib.sha1(data).hexdigest()
    assert blob.path == tmp_path / "sha256" / blob.sha256[:2] / blob.sha256[2:4] / blob.sha256
    assert not blob.path.stat().st_mode & stat.S_IWUSR
    assert store.rehash(blob.sha256) == blob.sha256


def test_storing_the_same_bytes_twice_keeps_one_blob(tmp_path):
    store = BlobStore(tmp_path)
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    assert first.path == second.path
    assert not list((tmp_path / "tmp").iterdir())


def test_a_short_stream_is_refused_and_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path)
    with pytest.raises(BlobStoreError, match="received 10 of 100 bytes"):
        store.put_stream(io.BytesIO(b"0123456789"), expected_size=100)
    assert not list((tmp_path / "tmp").iterdir())
    assert not (tmp_path / "sha256").exists()


def test_a_failing_stream_leaves_nothing(tmp_path):
    class Broken(io.RawIOBase):
        def read(self, n=-1):
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        BlobStore(tmp_path).put_stream(Broken())
    assert not list((tmp_path / "tmp").iterdir())


def test_bad_digests_are_refused(tmp_path):
    with pytest.raises(BlobStoreError):
        BlobStore(tmp_path).path_for("../../etc/passwd")


def test_a_missing_blob_is_named(tmp_path):
    with pytest.raises(BlobStoreError, match="a" * 64):
        BlobStore(tmp_path).open("a" * 64)


def test_a_full_disk_is_reported_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import os

    real_fsync = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(BlobStoreError, match="disk full while storing"):
        BlobStore(tmp_path).put_bytes(b"x" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("layout", ["hole-inside", "ends-in-a-hole", "starts-with-a-hole",
                                    "zeros-not-a-whole-chunk"])
def test_chunks_of_zeros_are_stored_as_holes_and_read_back_the_same(tmp_path, layout):
    mib = 1024 * 1024
    data = {
        "hole-inside": b"A" * 100 + bytes(3 * mib) + b"B" * 100,
        "ends-in-a-hole": b"head" + bytes(5 * mib),
        "starts-with-a-hole": bytes(2 * mib) + b"tail",
        "zeros-not-a-whole-chunk": bytes(mib - 1),
    }[layout]
    store = BlobStore(tmp_path)
    blob = store.put_stream(io.BytesIO(data), also=("md5",))
    assert blob.size == len(data) == blob.path.stat().st_size
    assert blob.path.read_bytes() == data
    assert blob.sha256 == hashlib.sha256(data).hexdigest() == store.rehash(blob.sha256)
    assert blob.hashes["md5"] == hashlib.md5(data).hexdigest()


def test_a_mostly_empty_image_takes_little_room(tmp_path):
    probe = tmp_path / "probe"
    with open(probe, "wb") as handle:  # does this file system keep holes at all?
        handle.truncate(64 * 1024 * 1024)
    if probe.stat().st_blocks * 512 >= 64 * 1024 * 1024:
        pytest.skip(f"the file system of {tmp_path} does not keep holes")
    data = b"boot" + bytes(64 * 1024 * 1024) + b"end"
    blob = BlobStore(tmp_path / "store").put_stream(io.BytesIO(data))
    assert blob.path.stat().st_blocks * 512 < 4 * 1024 * 1024  # the 64 MiB of zeros: holes
