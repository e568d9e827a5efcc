"""ConcurrentHasher checkpoints: a checkpoint's wait() (from another thread, while the
feeding thread goes on) gives exactly the digests of the contents ended before it, equal to
hashlib's; the next checkpoint gives the rest; an error in a hashing thread reaches wait()
naming the algorithm."""

from __future__ import annotations

import hashlib
import random
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.evidence.hashing import new_hash as real_new_hash
from dalil.engine.forensics.filehash import ConcurrentHasher

ALGORITHMS = ("md5", "sha1", "sha256")
MIB = 1024 * 1024
WAIT = 30  # seconds: only reached if a checkpoint never comes (a hang is a failure)

# Part sizes around the hasher's bundle limit (1 MiB) and hashlib's GIL release threshold.
PART_SIZES = st.one_of(st.integers(0, 3000), st.sampled_from([0, 1, 2047, 2049, MIB - 1,
                                                              MIB, MIB + 1, 2 * MIB + 7]))
# A slot is a list of parts (an empty list: an empty content, ended at once).
SLOTS = st.lists(st.lists(PART_SIZES, max_size=4), min_size=1, max_size=12)

Feed = tuple[int, bytes, bool]  # (slot, data, last), as ConcurrentHasher.feed takes them


def feeds_of(slots: list[list[int]], seed: int) -> tuple[list[Feed], dict[int, bytes]]:
    """The feed calls of ``slots`` (one after the other, as a walk feeds them) and the
    whole content of each slot."""
    rng = random.Random(seed)
    feeds: list[Feed] = []
    contents: dict[int, bytes] = {}
    for slot, sizes in enumerate(slots):
        parts = [rng.randbytes(size) for size in sizes]
        contents[slot] = b"".join(parts)
        feeds.extend((slot, part, False) for part in parts)
        feeds.append((slot, b"", True))
    return feeds, contents


def expected(contents: dict[int, bytes], slots: set[int]) -> dict[int, dict[str, str]]:
    return {slot: {name: hashlib.new(name, contents[slot]).hexdigest() for name in ALGORITHMS}
            for slot in slots}


def ended(feeds: list[Feed]) -> set[int]:
    return {slot for slot, _, last in feeds if last}


def feed_all(hasher: ConcurrentHasher, feeds: list[Feed]) -> None:
    for slot, data, last in feeds:
        hasher.feed(slot, data, last)


@settings(max_examples=25, deadline=None)
@given(slots=SLOTS, seed=st.integers(0, 2**32 - 1), cut=st.floats(0, 1),
       threads=st.sampled_from([1, 2, 3]), max_pending=st.sampled_from([1, 3 * MIB, 64 * MIB]),
       by_file=st.booleans())
def test_checkpoints_split_the_digests_where_they_were_taken(
        slots: list[list[int]], seed: int, cut: float, threads: int, max_pending: int,
        by_file: bool) -> None:
    feeds, contents = feeds_of(slots, seed)
    at = round(cut * len(feeds))  # may fall inside a slot: that slot goes with the second
    before, after = feeds[:at], feeds[at:]
    with ConcurrentHasher(ALGORITHMS, threads=threads, max_pending=max_pending,
                          by_file=by_file) as hasher, \
            ThreadPoolExecutor(1) as waiter:
        feed_all(hasher, before)
        first = hasher.checkpoint()
        # Waited for in another thread while this one feeds on, as the ingest does.
        first_digests: Future[dict[int, dict[str, str]]] = waiter.submit(first.wait)
        feed_all(hasher, after)
        second = hasher.checkpoint()
        assert first_digests.result(timeout=WAIT) == expected(contents, ended(before))
        assert waiter.submit(second.wait).result(timeout=WAIT) == expected(
            contents, ended(after))
        assert hasher.collect() == {}  # nothing ended since the second checkpoint
        extra = len(slots)
        hasher.feed(extra, b"one more", last=True)
        assert hasher.collect() == {extra: {name: hashlib.new(name, b"one more").hexdigest()
                                            for name in ALGORITHMS}}


@pytest.mark.parametrize("by_file", [False, True])
def test_a_content_not_ended_waits_for_a_later_checkpoint(by_file: bool) -> None:
    big = random.Random(7).randbytes(3 * MIB + 5)
    with ConcurrentHasher(ALGORITHMS, threads=2, by_file=by_file) as hasher:
        hasher.feed(0, b"", last=True)  # an empty file
        hasher.feed(1, big[:MIB + 3])
        first = hasher.checkpoint()
        hasher.feed(1, big[MIB + 3:], last=True)
        second = hasher.checkpoint()
        assert first.wait() == {0: {name: hashlib.new(name, b"").hexdigest()
                                    for name in ALGORITHMS}}
        assert second.wait() == {1: {name: hashlib.new(name, big).hexdigest()
                                     for name in ALGORITHMS}}


class _FailingHash:
    """A digest whose update fails, once the test lets it: the failure then happens after
    checkpoint() has returned, so it can only reach the caller through wait()."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def update(self, data: bytes) -> None:
        self.release.wait(WAIT)
        raise OSError("simulated failure of the digest")

    def hexdigest(self) -> str:
        raise AssertionError("never reached: update failed")


def test_an_error_in_a_hashing_thread_reaches_wait_naming_the_algorithm(
        monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def new_hash(name: str) -> Any:
        return _FailingHash(release) if name == "sha1" else real_new_hash(name)

    # The name the hashing threads call, in the module that imported it.
    monkeypatch.setattr("dalil.engine.forensics.filehash.new_hash", new_hash)
    hasher = ConcurrentHasher(ALGORITHMS, threads=3)  # one thread per algorithm
    try:
        hasher.feed(0, b"evidence", last=True)
        mark = hasher.checkpoint()  # the sha1 thread is held in update: no error yet
        release.set()
        with ThreadPoolExecutor(1) as waiter:
            waiting = waiter.submit(mark.wait)
            with pytest.raises(RuntimeError, match=r"^sha1 hashing failed: ") as caught:
                waiting.result(timeout=WAIT)
        assert isinstance(caught.value.__cause__, OSError)
        assert "simulated failure of the digest" in str(caught.value)
    finally:
        closing = threading.Thread(target=hasher.close, daemon=True)
        closing.start()
        closing.join(WAIT)
    assert not closing.is_alive(), "the hasher's threads did not stop after the error"


def test_files_shared_out_between_threads_each_content_whole_to_one() -> None:
    """by_file: interleaved contents (two open at once) each hashed whole by one thread,
    and both threads given work (the least busy one takes the next content)."""
    rng = random.Random(11)
    contents = {slot: rng.randbytes(rng.choice([10, 3000, MIB + 17])) for slot in range(40)}
    with ConcurrentHasher(ALGORITHMS, threads=2, by_file=True) as hasher:
        for slot in range(0, 40, 2):  # slots fed in pairs, their parts alternating
            a, b = contents[slot], contents[slot + 1]
            hasher.feed(slot, a[:len(a) // 2])
            hasher.feed(slot + 1, b[:len(b) // 3])
            hasher.feed(slot, a[len(a) // 2:], last=True)
            hasher.feed(slot + 1, b[len(b) // 3:], last=True)
        assert hasher.collect() == expected(contents, set(contents))
        assert all(thread.consumed > 0 for thread in hasher._threads)
