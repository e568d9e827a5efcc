"""Hashing engine: several digests in one pass, checked against hashlib and real tools."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.evidence.hashing import (
    SUPPORTED,
    HashingError,
    HashResult,
    MultiHasher,
    hash_file,
    hash_stream,
    parse_algorithms,
    strongest,
)

KIB = 1024
MIB = 1024 * KIB


def _reference(data: bytes, algorithms=SUPPORTED) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in algorithms}


@pytest.fixture
def sample(tmp_path):
    data = random.Random(1).randbytes(3 * MIB + 333)
    path = tmp_path / "sample.bin"
    path.write_bytes(data)
    return path, data


def test_parse_algorithms_normalises_and_deduplicates():
    assert parse_algorithms("MD5, sha256,md5") == ("md5", "sha256")
    assert parse_algorithms("SHA3-256") == ("sha3_256",)
    assert parse_algorithms(["sha1", "blake2b"]) == ("sha1", "blake2b")


@pytest.mark.parametrize("spec", ["md5,crc32", "crc32"])
def test_parse_algorithms_names_the_unknown_one(spec):
    with pytest.raises(ValueError, match="crc32"):
        parse_algorithms(spec)


def test_parse_algorithms_refuses_nothing():
    with pytest.raises(ValueError, match="no hash algorithm"):
        parse_algorithms(" , ")


def test_strongest_prefers_sha256():
    assert strongest(("md5", "sha512", "sha256")) == "sha256"
    assert strongest(("md5", "sha1")) == "sha1"
    assert strongest(("blake2b", "md5")) == "blake2b"


@pytest.mark.parametrize("chunk_size", [64 * KIB, 1 * MIB, 4 * MIB])
def test_hash_file_all_algorithms_match_hashlib(sample, chunk_size):
    path, data = sample
    result = hash_file(path, SUPPORTED, chunk_size=chunk_size)
    assert result.size == len(data)
    assert result.path == str(path)
    assert result.hashes == _reference(data)
    assert list(result.hashes) == list(SUPPORTED)


@pytest.mark.parametrize("size", [0, 1, 2047, 2048, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1])
def test_hash_file_edge_sizes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "edge.bin"
    path.write_bytes(data)
    for algorithms in (("sha256",), ("md5", "sha1", "sha256")):
        result = hash_file(path, algorithms, chunk_size=64 * KIB)
        assert result.hashes == _reference(data, algorithms)
        assert result.size == size


@pytest.mark.parametrize(("tool", "algorithm"), [("sha256sum", "sha256"), ("md5sum", "md5"),
                                                 ("sha1sum", "sha1"), ("sha512sum", "sha512")])
def test_hash_file_agrees_with_coreutils(sample, tool, algorithm):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    path, _ = sample
    expected = subprocess.run([tool, str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0]
    assert hash_file(path, ("md5", "sha1", "sha256", "sha512")).hashes[algorithm] == expected


def test_progress_reports_bytes_done_and_total(sample):
    path, data = sample
    calls = []
    hash_file(path, ("md5", "sha256"), progress=lambda done, total: calls.append((done, total)),
              chunk_size=256 * KIB)
    assert calls[-1] == (len(data), len(data))
    done = [c[0] for c in calls]
    assert done == sorted(done) and len(done) == -(-len(data) // (256 * KIB))
    assert {c[1] for c in calls} == {len(data)}


def test_result_to_dict():
    result = HashResult(path="/x", size=3, hashes={"md5": "ab"})
    assert result.to_dict() == {"path": "/x", "size": 3, "hashes": {"md5": "ab"}}


def test_nonexistent_path_is_named(tmp_path):
    missing = tmp_path / "no-such-disk.dd"
    with pytest.raises(HashingError) as caught:
        hash_file(missing)
    assert str(missing) in str(caught.value)
    assert "No such file" in str(caught.value)
    assert isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENOENT


def test_directory_is_refused_by_name(tmp_path):
    with pytest.raises(HashingError, match="is a directory"):
        hash_file(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_path_is_named(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(HashingError, match=r"secret\.bin.*Permission denied"):
        hash_file(path)


def test_hash_stream_with_readinto_and_with_read_only():
    data = os.urandom(700 * KIB)

    class ReadOnly:
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self.inner.read(size)

    for stream in (io.BytesIO(data), ReadOnly()):
        result = hash_stream(stream, ("md5", "sha256"), chunk_size=64 * KIB, name="pipe")
        assert result.hashes == _reference(data, ("md5", "sha256"))
        assert (result.path, result.size) == ("pipe", len(data))


def test_read_error_in_a_stream_names_it_and_the_offset():
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            self.calls += 1
            if self.calls > 2:
                raise OSError(errno.EIO, "Input/output error")
            buffer[:] = b"\x01" * len(buffer)
            return len(buffer)

    with pytest.raises(HashingError, match=r"/dev/sdz: read error at offset 131072"):
        hash_stream(Failing(), ("md5", "sha1"), chunk_size=64 * KIB, name="/dev/sdz")


def _feed(hasher: MultiHasher, data: bytes, cuts: list[int], kinds: list[int]) -> None:
    """Feed ``data`` cut at ``cuts`` as bytes, bytearray or a view of the hasher's buffer."""
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        piece = data[lo:hi]
        kind = kinds[i % len(kinds)] if kinds else 0
        if kind == 0:
            hasher.update(piece)
        elif kind == 1:
            scratch = bytearray(piece)
            hasher.update(scratch)
            # Must not matter: a foreign mutable buffer is hashed before update() returns.
            scratch[:] = b"\xff" * len(scratch)
        else:
            while piece:
                view = hasher.buffer()
                take = min(len(piece), len(view))
                view[:take] = piece[:take]
                hasher.update(view[:take])
                piece = piece[take:]


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=20_000),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=12),
    kinds=st.lists(st.integers(min_value=0, max_value=2), max_size=5),
    algorithms=st.lists(st.sampled_from(SUPPORTED), min_size=1, max_size=6, unique=True),
    part_size=st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
)
def test_multihasher_random_chunking_equals_hashlib(data, cuts, kinds, algorithms, part_size):
    with MultiHasher(algorithms, part_size=part_size, buffer_size=4096, buffers=2) as hasher:
        _feed(hasher, data, cuts, kinds)
        assert hasher.hexdigests() == _reference(data, algorithms)
        assert hasher.bytes_hashed == len(data)
        parts = hasher.part_hexdigests()
    if part_size is None:
        assert parts == []
    else:
        slices = [data[i:i + part_size] for i in range(0, len(data), part_size)]
        assert parts == [_reference(s, algorithms) for s in slices]


def test_multihasher_taps_see_every_chunk_in_order_with_its_tag():
    seen: list[tuple[bytes, object]] = []
    data = os.urandom(300 * KIB)
    with MultiHasher(("sha256",), buffer_size=64 * KIB,
                     taps=(lambda chunk, tag: seen.append((bytes(chunk), tag)),)) as hasher:
        pos = 0
        while pos < len(data):
            view = hasher.buffer()
            n = min(len(view), len(data) - pos)
            view[:n] = data[pos:pos + n]
            pos += n
            hasher.update(view[:n], tag=pos)
        assert hasher.hexdigests() == _reference(data, ("sha256",))
    assert b"".join(chunk for chunk, _ in seen) == data
    assert [tag for _, tag in seen] == sorted(tag for _, tag in seen)


def test_a_failing_tap_is_reraised_in_the_feeding_thread():
    def tap(chunk, tag):
        if tag == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    hasher = MultiHasher(("md5",), buffer_size=4096, taps=(tap,))
    with pytest.raises(OSError, match="No space"):  # raised by a later call
        for tag in range(1, 10):
            hasher.update(b"x" * 4096, tag=tag)
        hasher.hexdigests()
    with pytest.raises(OSError):
        hasher.hexdigests()  # no digest may be reported after a consumer failed
