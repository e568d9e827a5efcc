"""Benchmark: a Dalil raw acquisition (md5 + sha256, with verification) against dc3dd.

    .venv/bin/python benchmarks/bench_acquire.py [--size-mib 1024] [--runs 3]

Both copy the same random file (warmed into the page cache) to a new image in
benchmarks/.work/ and hash it with md5 and sha256 in the same pass. Dalil also fsyncs the
image (checkpoints) and reads it back to verify it; dc3dd here neither syncs nor verifies,
so its time is also shown with the `sync` that makes its image durable. Every run starts
after a sync, so that the previous run's writeback does not slow the next. The best of
``--runs`` is kept; peak RSS is the child's own (wait4). MB/s = 10^6 bytes per second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import WORK, Run, best, run, source_file, warm

PYTHON = sys.executable
RSS_TARGET_MB = 200
RATIO_TARGET = 2.0

ENGINE = """
import json, sys
from dalil.engine.evidence.acquisition import AcquisitionRequest, acquire
source, out, verify = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
result = acquire(AcquisitionRequest(source=source, out_dir=out, basename="bench",
                                    algorithms=("md5", "sha256"), verify=verify))
print(json.dumps(result.to_dict()))
"""


def clean(target: Path) -> None:
    """Remove a previous run's output, then let the disk settle."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    os.sync()
    time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("dc3dd") is None:
        raise SystemExit("dc3dd is not installed (apt-get install dc3dd)")
    path = source_file(args.size_mib)
    size = path.stat().st_size
    p = str(path)
    out_dir = WORK / "acquire-out"
    dc3dd_out = WORK / "dc3dd-out.raw"
    print(f"source: {p} ({size} bytes); {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.2f}; best of {args.runs}\n")

    def dalil(verify: bool) -> Run:
        clean(out_dir)
        warm(path)
        return run([PYTHON, "-c", ENGINE, p, str(out_dir), "1" if verify else "0"])

    def dc3dd() -> Run:
        clean(dc3dd_out)
        warm(path)
        return run(["dc3dd", f"if={p}", f"of={dc3dd_out}", "hash=md5", "hash=sha256"],
                   then_sync=True)

    with_verify = best("dalil acquire raw md5+sha256 (+fsync, verify)", args.runs,
                       lambda: dalil(True))
    without = best("dalil acquire raw md5+sha256 (+fsync, no verify)", args.runs,
                   lambda: dalil(False))
    dc = best("dc3dd hash=md5 hash=sha256 (no sync)", args.runs, dc3dd)

    result = json.loads(with_verify.stdout)
    assert result["verified"] is True, result["verification"]
    dc3dd_log = subprocess.run(["md5sum", str(dc3dd_out)], capture_output=True, text=True)
    assert dc3dd_log.stdout.split()[0] == result["hashes"]["md5"], "dc3dd's copy differs"
    clean(out_dir)
    clean(dc3dd_out)

    print("\nthroughput (MB/s = 10^6 bytes/s)")
    rows = [("dalil, with verification", with_verify.seconds, with_verify.max_rss_kib),
            ("dalil, without verification", without.seconds, without.max_rss_kib),
            ("dc3dd", dc.seconds, dc.max_rss_kib),
            ("dc3dd + sync (durable, like dalil)", dc.seconds + dc.sync_seconds, dc.max_rss_kib)]
    for label, seconds, rss in rows:
        print(f"  {label:<36} {size / 1e6 / seconds:8.0f} MB/s  {seconds:6.2f} s   "
              f"peak RSS {rss / 1024:6.1f} MiB")
    print()
    print(f"verification read back {result['verification']['size']} bytes "
          f"({result['verification']['seconds']:.2f} s of read-back work, partly overlapped)")
    print(f"dalil (with verification)/dc3dd = {dc.seconds / with_verify.seconds:.2f}x, "
          f"target >= {RATIO_TARGET:.0f}x")
    print(f"dalil (with verification)/(dc3dd + sync) = "
          f"{(dc.seconds + dc.sync_seconds) / with_verify.seconds:.2f}x")
    print(f"dalil (no verification)/dc3dd = {dc.seconds / without.seconds:.2f}x")
    peak = max(with_verify.max_rss_kib, without.max_rss_kib) / 1024
    verdict = "OK" if peak < RSS_TARGET_MB else "OVER"
    print(f"dalil peak RSS = {peak:.1f} MiB, target < {RSS_TARGET_MB} MB: {verdict}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other jobs skew the figures)")


if __name__ == "__main__":
    main()
