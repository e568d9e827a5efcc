"""Ingestion split over worker processes gives the very store one process gives."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dalil.engine.ledger.store import TABLES, LedgerStore
from dalil.engine.scenarios.chain import build_chain


def _records(blk: Path) -> list[bytes]:
    """The (magic, length, block) records of a blk*.dat file."""
    data, pos, records = blk.read_bytes(), 0, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos + 4)
        records.append(data[pos : pos + 8 + length])
        pos += 8 + length
    return records


def _contents(store: LedgerStore) -> dict[str, list[tuple[object, ...]]]:
    con = store.connect()
    return {table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in TABLES}


@pytest.fixture(scope="module")
def chain_files(tmp_path_factory) -> list[Path]:
    """A generated chain cut into several blk files, with blocks repeated across files, a
    lone transaction, and a file cut short in the middle of a record."""
    root = tmp_path_factory.mktemp("parallel")
    build_chain(11).write(root)
    records = _records(root / "blk00000.dat")
    assert len(records) > 12
    files = []
    for k, chunk in enumerate([records[:5], records[3:9], records[9:]]):
        path = root / f"blk{k + 1:05d}.dat"
        path.write_bytes(b"".join(chunk))
        files.append(path)
    truncated = root / "blk09999.dat"
    truncated.write_bytes(records[0] + records[1][: len(records[1]) // 2])
    again = root / "blk00004.dat"
    again.write_bytes(b"".join(records[7:11]))  # a later file repeating earlier blocks
    return [files[0], truncated, files[1], again, files[2]]


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_build_the_same_store_as_one_process(chain_files, tmp_path, workers):
    alone = LedgerStore(tmp_path / "alone")
    expected = alone.ingest(chain_files, workers=1)
    shared = LedgerStore(tmp_path / "shared")
    seen_paths: list[str] = []
    report = shared.ingest(chain_files, workers=workers,
                           progress=lambda path, _n: seen_paths.append(path))
    assert report.to_dict() == expected.to_dict()
    assert len(report.errors) == 1 and "blk09999.dat" in report.errors[0]
    assert report.skipped_blocks > 0  # the repeated blocks were dropped, not stored twice
    assert _contents(shared) == _contents(alone)
    assert shared.counts() == alone.counts()
    assert set(seen_paths) == {str(p) for p in chain_files}


def test_a_second_parallel_run_adds_nothing(chain_files, tmp_path):
    store = LedgerStore(tmp_path / "store")
    first = store.ingest(chain_files, workers=2)
    again = store.ingest(chain_files, workers=2)
    assert again.blocks == 0 and again.transactions == 0
    assert again.skipped_blocks == first.blocks + first.skipped_blocks
    assert store.counts()["blocks"] == first.blocks


def test_small_inputs_are_read_in_process(chain_files, tmp_path, monkeypatch):
    import dalil.engine.ledger.store as store_module

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for a few small files")

    monkeypatch.delenv("DALIL_LEDGER_WORKERS", raising=False)
    monkeypatch.setattr(store_module, "_fork_pool", no_pool)
    report = LedgerStore(tmp_path / "store").ingest(chain_files)
    assert report.blocks > 0


@pytest.mark.shared_data
def test_shared_blocks_with_repeats_ingest_alike_in_parallel(shared_data, tmp_path):
    bitcoin = shared_data / "bitcoin"
    files = [bitcoin / "btcd/blocks1-256", bitcoin / "btcd/blk_0_to_4.dat",
             bitcoin / "bitcoinj/first-100k-blocks.dat", bitcoin / "btcd/megatx.bin",
             bitcoin / "bitcoinj/block169482.dat"]
    alone, shared = LedgerStore(tmp_path / "a"), LedgerStore(tmp_path / "b")
    assert alone.ingest(files, workers=1).to_dict() == shared.ingest(files, workers=2).to_dict()
    assert _contents(shared) == _contents(alone)


def test_the_number_of_workers_asked_for_is_the_number_started(chain_files, tmp_path,
                                                               monkeypatch):
    import dalil.engine.ledger.store as store_module

    started: list[int] = []
    real = store_module._fork_pool

    def counting(workers, seen):
        started.append(workers)
        return real(workers, seen)

    monkeypatch.setattr(store_module, "_fork_pool", counting)
    LedgerStore(tmp_path / "store").ingest(chain_files, workers=2)
    assert started == [2]
