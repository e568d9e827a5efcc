"""Benchmark: `dalil carve` against foremost on an image with known planted files.

    .venv/bin/python benchmarks/bench_carve.py [--size-mib 256] [--per-type 20]
                                               [--decoys 10] [--seed 1] [--runs 1]

The image (created once under benchmarks/.work/, with its answer key) is filler (random
bytes, zeros and text, in blocks) with ``--per-type`` valid files of each type (JPEG, PNG,
GIF, PDF, ZIP/DOCX, SQLite) and ``--decoys`` truncated or corrupted ones, all contiguous
at sector-aligned offsets. foremost runs with its built-in jpg, gif, png, pdf and zip
rules plus a header-only SQLite rule (it has none of its own); Dalil runs `dalil carve
IMAGE OUT --json`. Both outputs are then judged the same way: a file is *valid* if it
decodes (Dalil's validators: Pillow, pypdf, zipfile, SQLite integrity_check) and
*exact* if its sha256 is that of a planted valid file. Peak RSS is the child's own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common import MIB, WORK, best, run, warm

from dalil.engine.forensics.carve import FORMATS
from dalil.engine.forensics.carve.samples import KINDS, plant, sample_items

DALIL = str(Path(sys.executable).with_name("dalil"))
FOREMOST_TYPES = "jpg,gif,png,pdf,zip"
FOREMOST_CONF = "sqlite\ty\t104857600\tSQLite\\x20format\\x203\\x00\n"
# foremost's output folders -> the type they hold
FOREMOST_DIRS = {"jpg": "jpg", "png": "png", "gif": "gif", "pdf": "pdf", "zip": "zip",
                 "docx": "zip", "xlsx": "zip", "pptx": "zip", "sxw": "zip", "sxc": "zip",
                 "sxi": "zip", "jar": "zip", "sqlite": "sqlite"}


def build_image(size_mib: int, per_type: int, decoys: int, seed: int) -> tuple[Path, list]:
    WORK.mkdir(exist_ok=True)
    stem = f"carve-{size_mib}MiB-{per_type}x{decoys}-seed{seed}"
    image, key = WORK / f"{stem}.dd", WORK / f"{stem}.key.json"
    if image.exists() and key.exists():
        return image, json.loads(key.read_text())
    print(f"creating {image} ({size_mib} MiB, {per_type} valid + {decoys} decoys per type)...",
          flush=True)
    rng = random.Random(seed)
    planted = plant(image, size_mib * MIB, sample_items(rng, per_type, decoys), rng)
    key.write_text(json.dumps([p.to_dict() for p in planted], indent=1))
    return image, [p.to_dict() for p in planted]


def judge(files: list[tuple[str, Path]], truth: set[str]) -> tuple[Counter, Counter, Counter]:
    """(valid per type, exact per type, all files per type) of carved ``(type, path)``."""
    valid: Counter = Counter()
    exact: Counter = Counter()
    total: Counter = Counter()
    seen: set[str] = set()
    for kind, path in files:
        total[kind] += 1
        if FORMATS[kind].validate(path) is None:
            valid[kind] += 1
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in truth and digest not in seen:
            exact[kind] += 1
            seen.add(digest)
    return valid, exact, total


def foremost_files(outdir: Path) -> list[tuple[str, Path]]:
    files = []
    for folder in sorted(p for p in outdir.iterdir() if p.is_dir()):
        kind = FOREMOST_DIRS.get(folder.name)
        if kind is None:
            continue
        files.extend((kind, path) for path in sorted(folder.iterdir()) if path.is_file())
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--per-type", type=int, default=20)
    parser.add_argument("--decoys", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("foremost") is None:
        raise SystemExit("foremost is not installed (apt-get install foremost)")
    image, key = build_image(args.size_mib, args.per_type, args.decoys, args.seed)
    truth = {p["sha256"] for p in key if p["valid"]}
    planted = Counter(p["type"] for p in key if p["valid"])
    warm(image)
    print(f"image: {image} ({image.stat().st_size} bytes); {len(truth)} valid files planted "
          f"+ {sum(not p['valid'] for p in key)} decoys; {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"best of {args.runs}\n")

    scratch = Path(tempfile.mkdtemp(prefix="bench-carve-", dir=WORK))
    conf = scratch / "foremost.conf"
    conf.write_text(FOREMOST_CONF)
    counter = iter(range(10**6))

    def fresh(name: str) -> Path:
        return scratch / f"{name}-{next(counter)}"

    outs: dict[str, Path] = {}

    def dalil_run():
        outs["dalil"] = fresh("dalil")
        return run([DALIL, "carve", str(image), str(outs["dalil"]), "--json"])

    def foremost_run():
        outs["foremost"] = fresh("foremost")
        return run(["foremost", "-Q", "-t", FOREMOST_TYPES, "-c", str(conf), "-i", str(image),
                    "-o", str(outs["foremost"])])

    ours = best("dalil carve --json", args.runs, dalil_run)
    theirs = best("foremost -t jpg,gif,png,pdf,zip (+sqlite rule)", args.runs, foremost_run)

    manifest = json.loads(ours.stdout)
    dalil_files = [(f["type"], outs["dalil"] / f["name"]) for f in manifest["files"]]
    d_valid, d_exact, d_total = judge(dalil_files, truth)
    f_valid, f_exact, f_total = judge(foremost_files(outs["foremost"]), truth)
    shutil.rmtree(scratch)

    print(f"\n{'type':<8}{'planted':>8} | {'dalil files':>11}{'valid':>7}{'exact':>7} | "
          f"{'foremost files':>14}{'valid':>7}{'exact':>7}")
    for kind in KINDS:
        print(f"{kind:<8}{planted[kind]:>8} | {d_total[kind]:>11}{d_valid[kind]:>7}"
              f"{d_exact[kind]:>7} | {f_total[kind]:>14}{f_valid[kind]:>7}{f_exact[kind]:>7}")
    dv, fv = sum(d_valid.values()), sum(f_valid.values())
    de, fe = sum(d_exact.values()), sum(f_exact.values())
    print(f"{'all':<8}{len(truth):>8} | {sum(d_total.values()):>11}{dv:>7}{de:>7} | "
          f"{sum(f_total.values()):>14}{fv:>7}{fe:>7}")
    print()
    print(f"time: dalil {ours.seconds:.2f} s (peak RSS {ours.max_rss_kib / 1024:.0f} MiB), "
          f"foremost {theirs.seconds:.2f} s (peak RSS {theirs.max_rss_kib / 1024:.0f} MiB); "
          f"foremost/dalil = {theirs.seconds / ours.seconds:.2f}x")
    ratio = dv / fv if fv else float("inf")
    verdict = "OK" if dv >= fv else "BELOW"
    print(f"valid files: dalil {dv}, foremost {fv}, ratio {ratio:.2f} "
          f"(target >= 1): {verdict}")
    print(f"exact planted files: dalil {de}/{len(truth)}, foremost {fe}/{len(truth)}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
