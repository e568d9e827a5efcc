"""Benchmark: generate the "Deleted evidence" lab for a class (30 variants of 64 MiB).

    .venv/bin/python benchmarks/bench_lab_generation.py [--class-size 30] [--workers 2]

Each trainee's variant is ``generate(forensics-deleted-evidence, seed, DIR)``: a 64 MiB
ext4 image built by ``dalil.engine.scenarios.disk`` (mke2fs -d, debugfs, Pillow, SQLite,
read back with pytsk3), the briefings, and the answer key written to DIR/answer-key.json,
exactly as ``dalil train generate`` does. Variants run in a process pool (one process per
core). Target (issue 6): a class of 30 in under 60 s on 2 cores. The load average is
printed before and after: other jobs on the same cores skew the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import WORK

TARGET_SECONDS = 60.0
TEMPLATE = "forensics-deleted-evidence"


def one_variant(seed: int, root: str) -> tuple[int, float, str, int]:
    """Generate one trainee's variant; (seed, seconds, image sha256, image bytes on disk)."""
    from dalil.engine.training.generate import KEY_FILE, generate
    from dalil.engine.training.templates import resolve

    started = time.perf_counter()
    out = Path(root) / f"trainee-{seed:03d}"
    key = generate(resolve(TEMPLATE), seed, out)
    key.write(out / KEY_FILE)
    seconds = time.perf_counter() - started
    image = next(e for e in key.evidence if e["path"] == "disk.img")
    return seed, seconds, image["sha256"], (out / "disk.img").stat().st_blocks * 512


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the variants afterwards")
    args = parser.parse_args()
    root = WORK / "lab-class"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    seeds = list(range(args.first_seed, args.first_seed + args.class_size))
    print(f"{TEMPLATE}: {len(seeds)} variants of 64 MiB, {args.workers} worker processes, "
          f"{os.cpu_count()} CPUs; load average before: {load()}\n", flush=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one_variant, seeds, [str(root)] * len(seeds)))
    total = time.perf_counter() - started
    after = load()

    digests = {sha for _, _, sha, _ in results}
    assert len(digests) == len(seeds), "two trainees got the same image"
    answers = set()
    for seed in seeds:
        key = json.loads((root / f"trainee-{seed:03d}" / "answer-key.json").read_text(
            encoding="utf-8"))
        answers.add(json.dumps([t["answer"] for t in key["tasks"]], sort_keys=True))
    assert len(answers) == len(seeds), "two trainees got the same answers"

    per = sorted(s for _, s, _, _ in results)
    written = sum(b for _, _, _, b in results)
    print(f"  per variant: min {per[0]:.2f} s, median {per[len(per) // 2]:.2f} s, "
          f"max {per[-1]:.2f} s (inside a worker)")
    print(f"  bytes actually written (sparse images): {written / 2**20:.1f} MiB for "
          f"{len(seeds) * 64} MiB of images")
    print(f"  all {len(seeds)} images and answer sets are distinct")
    print(f"\nclass of {len(seeds)}: {total:.1f} s, target < {TARGET_SECONDS:.0f} s "
          f"({'OK' if total < TARGET_SECONDS else 'MISSED'}); load average after: {after}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
