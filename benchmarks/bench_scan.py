"""Feature scanner: Dalil against bulk_extractor on the shared 512 MiB workload.

Builds the workload once under benchmarks/.work/ with ../shared/bench/feature_workload.py
(all defaults), scans it with all Dalil scanners at ``-j 1`` and ``-j 2``, scores the
output with feature_score.py, and runs bulk_extractor side by side when it is on the PATH.
Every figure is printed with the load average of the machine, since other work on a
shared 2-core machine halves the throughput of -j 2.

    python benchmarks/bench_scan.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import HERE, WORK, Run, best, mb_s, run, warm

BENCH = HERE.parent.parent / "shared" / "bench"


def workload() -> tuple[Path, Path]:
    WORK.mkdir(exist_ok=True)
    data, truth = WORK / "feature-512MiB.bin", WORK / "feature-512MiB.tsv"
    if not (data.exists() and truth.exists() and data.stat().st_size == 512 * 1024 * 1024):
        print(f"building {data} with {BENCH / 'feature_workload.py'} ...", flush=True)
        subprocess.run([sys.executable, str(BENCH / "feature_workload.py"), "--out", str(data),
                        "--truth", str(truth)], check=True)
    return data, truth


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data, truth = workload()
    size = data.stat().st_size
    warm(data)
    dalil = str(Path(sys.executable).with_name("dalil"))
    print(f"feature scan of {data.name} ({size / 1e6:.0f} MB), best of {args.runs}; "
          f"UTF-16LE and gzip/zlib/zip recursion on (the defaults); {load()}")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        for jobs in (1, 2):
            out = Path(tmp) / f"dalil-j{jobs}"

            def once(jobs: int = jobs, out: Path = out) -> Run:
                shutil.rmtree(out, ignore_errors=True)
                return run([dalil, "scan", str(data), "-o", str(out), "-j", str(jobs), "--json"])

            r = best(f"dalil scan -j {jobs} (all scanners)", args.runs, once)
            summary = json.loads(r.stdout)
            results[f"j{jobs}"] = mb_s(size, r.seconds)
            print(f"    {mb_s(size, r.seconds):7.1f} MB/s wall ({summary['mb_per_s']} MB/s "
                  f"in-engine, {summary['engine']}), peak RSS {r.max_rss_kib / 1024:.0f} MiB "
                  f"(largest process); {load()}")
        score = subprocess.run([sys.executable, str(BENCH / "feature_score.py"), str(truth),
                                str(Path(tmp) / "dalil-j2")], capture_output=True, text=True)
        print("\n".join(score.stdout.splitlines()[:5]))
        be = shutil.which("bulk_extractor")
        if be is None:
            print("bulk_extractor: not on the PATH (Debian 12 has no bulk-extractor package); "
                  "reference figures from issue 4: 21 MB/s all scanners, 52 MB/s email+accounts")
            for label, ref in (("all scanners", 21.0), ("email+accounts", 52.0)):
                print(f"  ratio dalil -j 2 / bulk_extractor ({label}, issue figure): "
                      f"{results['j2'] / ref:.1f}x")
            return
        bout = Path(tmp) / "be"

        def be_once() -> Run:
            shutil.rmtree(bout, ignore_errors=True)
            return run([be, "-j", "2", "-o", str(bout), str(data)])

        r = best("bulk_extractor -j 2 (all default scanners)", args.runs, be_once)
        print(f"    {mb_s(size, r.seconds):7.1f} MB/s; ratio dalil/bulk_extractor "
              f"{results['j2'] / mb_s(size, r.seconds):.1f}x")


if __name__ == "__main__":
    main()
