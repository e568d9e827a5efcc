"""Benchmark: Bitcoin ingestion vs python-bitcoinlib, clustering vs scipy.

    .venv/bin/pip install python-bitcoinlib scipy      # the anchors (not Dalil dependencies)
    .venv/bin/python benchmarks/bench_ledger.py [--runs 3] [--inputs 10000000]

(a) Ingest: the real blocks under ../shared/data/bitcoin (raw blocks and blk*.dat files;
    the lone transactions, btcd's blocks1-256 and blk_0_to_4.dat are left out: they repeat
    blocks of first-100k-blocks.dat, which Dalil would skip as already ingested) through
    ``LedgerStore.ingest`` (parse, decode every script, derive every address, write
    Parquet) against python-bitcoinlib's ``CBlock.deserialize`` alone on the same bytes.
(b) Clustering: a synthetic edge list of ``--inputs`` transaction inputs (transactions of
    1-8 inputs drawn from a pool of addresses, so that clusters grow across transactions)
    through Dalil's union-find (``UnionFind.union_edges`` + ``labels``, which also keeps the
    spanning forest that ``why`` needs) against ``scipy.sparse.csgraph.connected_components``
    (building its CSR matrix from the same edge list included).

Every contender runs as its own process, ``--runs`` times, best kept; each child reports the
time of its work alone (after imports and loading), the parent the child's wall time and
peak RSS (wait4). The two ingest contenders alternate run by run, so that a change of load
hits both, and their CPU time (all threads, and Dalil's parsing worker processes) is
printed beside the wall time: on shared cores it moves far less. Dalil parses groups of
files in one worker process per core (``LedgerStore.ingest(workers=...)``), python-bitcoinlib
in one process: the ratio is of wall time, the CPU-time ratio says what the parallelism
costs in all. The load average is printed: other jobs on the same
cores skew it all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import WORK, Run, best, run

PYTHON = sys.executable
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "bitcoin"
BLOCK_FILES = [
    *sorted((DATA / "bitcoinj").glob("block*.dat")),
    DATA / "bitcoinj" / "first-100k-blocks.dat",
    DATA / "btcd" / "277647.dat",
    DATA / "bitcoin-s" / "000000000000000000050f70113ab1932c195442cb49bcc4ee4d7f426c8a3295.raw",
    DATA / "bitcoin-s" / "00000000000000000008513c860373da0484f065983aeb063ebf81c172e81d48.raw",
]
INGEST_RATIO_TARGET = 1.0  # Dalil at least as fast
CLUSTER_RATIO_TARGET = 1.5  # Dalil within 1.5x of scipy
CLUSTER_RSS_TARGET_GB = 2.0

DALIL_INGEST = """
import json, os, sys, tempfile, time
from dalil.engine.ledger.store import LedgerStore
files = sys.argv[1:]
def children():
    t = os.times()
    return t.children_user + t.children_system
with tempfile.TemporaryDirectory() as tmp:
    t, cpu, kids = time.perf_counter(), time.process_time(), children()
    report = LedgerStore(tmp).ingest(files)
    seconds = time.perf_counter() - t
    # The parsing workers' CPU too (they are reaped before ingest returns).
    cpu = time.process_time() - cpu + children() - kids
print(json.dumps({"seconds": seconds, "cpu": cpu, "transactions": report.transactions,
                  "blocks": report.blocks, "errors": report.errors,
                  "pandas": "pandas" in sys.modules}))
"""

BITCOINLIB_INGEST = """
import json, struct, sys, time
from bitcoin.core import CBlock
MAGICS = {bytes.fromhex(m) for m in ("f9beb4d9", "0b110907", "fabfb5da")}
raws = []
for name in sys.argv[1:]:
    data = open(name, "rb").read()
    if data[:4] in MAGICS:
        pos = 0
        while pos + 8 <= len(data) and data[pos:pos + 4] in MAGICS:
            (n,) = struct.unpack_from("<I", data, pos + 4)
            raws.append(data[pos + 8:pos + 8 + n])
            pos += 8 + n
    else:
        raws.append(data)
t, cpu = time.perf_counter(), time.process_time()
blocks = [CBlock.deserialize(raw) for raw in raws]
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "transactions": sum(len(b.vtx) for b in blocks), "blocks": len(blocks)}))
"""

DALIL_CLUSTER = """
import json, sys, time
import numpy as np
from dalil.engine.ledger.cluster import UnionFind
data = np.load(sys.argv[1])
u, v, n = data["u"], data["v"], int(data["n"])
UnionFind(2).union_edges([0], [1])  # numba: compile (or load from its cache) first
t = time.perf_counter()
uf = UnionFind(n)
uf.union_edges(u, v)
labels = uf.labels()
seconds = time.perf_counter() - t
count = int(np.count_nonzero(labels == np.arange(n)))
np.save(sys.argv[2], labels)
print(json.dumps({"seconds": seconds, "clusters": count, "links": int(len(uf.forest[0]))}))
"""

SCIPY_CLUSTER = """
import json, sys, time
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
data = np.load(sys.argv[1])
u, v, n = data["u"], data["v"], int(data["n"])
t = time.perf_counter()
graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n)).tocsr()
count, labels = connected_components(graph, directed=False)
seconds = time.perf_counter() - t
np.save(sys.argv[2], labels)
print(json.dumps({"seconds": seconds, "clusters": int(count)}))
"""


def edge_list(inputs: int, seed: int = 5) -> Path:
    """``inputs`` inputs in transactions of 1-8, addresses from a pool of 0.6 x inputs."""
    WORK.mkdir(exist_ok=True)
    path = WORK / f"cluster-edges-{inputs}.npz"
    if path.exists():
        return path
    print(f"creating {path} ...", flush=True)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=inputs // 2)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), inputs)) + 1]
    sizes[-1] -= int(sizes.sum()) - inputs
    n = int(inputs * 0.6)
    # reused addresses: a quarter of the inputs come from a small hot pool
    addresses = rng.integers(0, n, size=inputs)
    hot = rng.random(inputs) < 0.25
    addresses[hot] = rng.integers(0, n // 20, size=int(hot.sum()))
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    first = addresses[starts]
    keep = np.arange(inputs) != starts  # each input but the first: an edge to the first
    np.savez(path, u=first[keep].astype(np.int64), v=addresses[keep].astype(np.int64), n=n)
    return path


def child(label: str, script: str, args: list[str], runs: int) -> tuple[Run, dict[str, object]]:
    results: list[tuple[Run, dict[str, object]]] = []

    def once() -> Run:
        r = run([PYTHON, "-c", script, *args])
        results.append((r, json.loads(r.stdout)))
        return r

    fastest = best(label, runs, once)
    work = min(results, key=lambda x: float(x[1]["seconds"]))[1]  # type: ignore[arg-type]
    print(f"  {'':<44} work {float(work['seconds']):6.2f} s   (in-process, after imports)",
          flush=True)
    return fastest, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=10_000_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; best of {args.runs}\n")

    if not args.skip_ingest:
        files = [str(p) for p in BLOCK_FILES]
        size = sum(os.path.getsize(p) for p in files)
        print(f"(a) ingest: {len(files)} files of real blocks, {size / 1e6:.1f} MB "
              f"(the two contenders alternate, run by run)")
        contenders = {"dalil": ("dalil LedgerStore.ingest (parse+addresses+Parquet)",
                                DALIL_INGEST),
                      "bitcoinlib": ("python-bitcoinlib CBlock.deserialize", BITCOINLIB_INGEST)}
        runs: dict[str, list[tuple[Run, dict[str, Any]]]] = {k: [] for k in contenders}
        for _ in range(args.runs):
            for key, (_label, script) in contenders.items():
                r = run([PYTHON, "-c", script, *files])
                runs[key].append((r, json.loads(r.stdout)))
        best_of: dict[str, dict[str, float]] = {}
        for key, (label, _script) in contenders.items():
            results = runs[key]
            walls = ", ".join(f"{r.seconds:.2f}" for r, _ in results)
            best_of[key] = {
                "wall": min(r.seconds for r, _ in results),
                "work": min(float(w["seconds"]) for _, w in results),
                "cpu": min(float(w["cpu"]) for _, w in results),
                "rss": max(r.max_rss_kib for r, _ in results) / 1024,
            }
            b = best_of[key]
            print(f"  {label:<52} process {b['wall']:5.2f} s (runs: {walls})")
            print(f"  {'':<52} work {b['work']:5.2f} s, cpu {b['cpu']:5.2f} s "
                  f"(in-process, after imports)", flush=True)
        ours_work, theirs_work = runs["dalil"][0][1], runs["bitcoinlib"][0][1]
        assert ours_work["errors"] == [], ours_work["errors"]
        assert ours_work["transactions"] == theirs_work["transactions"], (ours_work, theirs_work)
        print(f"  blocks {ours_work['blocks']}, transactions {ours_work['transactions']} "
              f"(both agree); pandas imported by dalil's ingest: {ours_work['pandas']}")
        ours, theirs = best_of["dalil"], best_of["bitcoinlib"]
        ratio = theirs["work"] / ours["work"]
        print(f"  bitcoinlib/dalil work time = {ratio:.2f}x (target >= "
              f"{INGEST_RATIO_TARGET:.1f}x: {'OK' if ratio >= INGEST_RATIO_TARGET else 'MISS'});"
              f" cpu time {theirs['cpu'] / ours['cpu']:.2f}x; process wall time "
              f"{theirs['wall'] / ours['wall']:.2f}x")
        print(f"  peak RSS: dalil {ours['rss']:.0f} MiB, bitcoinlib {theirs['rss']:.0f} MiB\n")

    if not args.skip_cluster:
        edges = edge_list(args.inputs)
        data = np.load(edges)
        print(f"(b) clustering: {args.inputs:,} inputs -> {len(data['u']):,} edges over "
              f"{int(data['n']):,} addresses")
        with tempfile.TemporaryDirectory() as tmp:
            ours_labels, theirs_labels = Path(tmp) / "ours.npy", Path(tmp) / "theirs.npy"
            ours, ours_work = child("dalil UnionFind (numba, keeps the forest)", DALIL_CLUSTER,
                                    [str(edges), str(ours_labels)], args.runs)
            theirs, theirs_work = child("scipy connected_components (+ CSR build)",
                                        SCIPY_CLUSTER, [str(edges), str(theirs_labels)],
                                        args.runs)
            a, b = np.load(ours_labels), np.load(theirs_labels)
            # same partition: the pairs (ours, theirs) are as many as either's clusters
            pairs = len(np.unique(a.astype(np.int64) * (int(b.max()) + 1) + b))
            assert ours_work["clusters"] == theirs_work["clusters"] == pairs, \
                (ours_work, theirs_work, pairs)
        print(f"  clusters {ours_work['clusters']:,} (both agree, same partition)")
        ratio = float(ours_work["seconds"]) / float(theirs_work["seconds"])
        wall = ours.seconds / theirs.seconds
        peak_gb = ours.max_rss_kib * 1024 / 1e9
        print(f"  dalil/scipy work time = {ratio:.2f}x (target <= {CLUSTER_RATIO_TARGET}x: "
              f"{'OK' if ratio <= CLUSTER_RATIO_TARGET else 'MISS'}); process wall time "
              f"{wall:.2f}x")
        print(f"  peak RSS: dalil {peak_gb:.2f} GB (target < {CLUSTER_RSS_TARGET_GB} GB: "
              f"{'OK' if peak_gb < CLUSTER_RSS_TARGET_GB else 'OVER'}), scipy "
              f"{theirs.max_rss_kib * 1024 / 1e9:.2f} GB")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
