"""Benchmark: `dalil carve` against foremost and photorec on an image with known planted files.

    .venv/bin/python benchmarks/bench_carve.py [--size-mib 256] [--per-type 20]
                                               [--decoys 10] [--seed 1] [--runs 1]

The image (created once under benchmarks/.work/, with its answer key) is filler (random
bytes, zeros and text, in blocks) with ``--per-type`` valid files of each type (JPEG, PNG,
GIF, PDF, ZIP/DOCX, SQLite) and ``--decoys`` truncated or corrupted ones, all contiguous
at sector-aligned offsets. foremost runs with its built-in jpg, gif, png, pdf and zip
rules plus a header-only SQLite rule (it has none of its own); photorec (testdisk) runs
non-interactively on the whole image with every format disabled but jpg, png, gif, pdf,
zip and sqlite (it is skipped with a message when not installed); Dalil runs `dalil
carve IMAGE OUT --json`. All outputs are then judged the same way: a file is *valid* if
it decodes (Dalil's validators: Pillow, pypdf, zipfile, SQLite integrity_check) and
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
# photorec's script (its /cmd syntax, testdisk src/phcli.c): the whole image without a
# partition table, corrupted files not kept, only the six formats Dalil carves.
PHOTOREC_CMD = ("partition_none,options,paranoid,keep_corrupted_file_no,fileopt,everything,"
                "disable,jpg,enable,png,enable,gif,enable,pdf,enable,zip,enable,sqlite,enable,"
                "search")
# photorec names files by what it found (docx, xlsx, ... for ZIP; sometimes the original
# name): the type to judge each by comes from its first bytes.
MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"),
         (b"%PDF-", "pdf"), (b"PK\x03\x04", "zip"), (b"SQLite format 3\x00", "sqlite"))
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
        if kind in FORMATS and FORMATS[kind].validate(path) is None:
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


def photorec_files(outdir: Path) -> list[tuple[str, Path]]:
    """Every file photorec wrote (in recup_dir.N folders) but its report.xml, typed by
    magic; one it cannot type counts as ``other`` (never valid, never exact)."""
    files = []
    for path in sorted(outdir.glob("recup_dir.*/*")):
        if not path.is_file() or path.name == "report.xml":
            continue
        with open(path, "rb") as handle:
            head = handle.read(16)
        kind = next((k for magic, k in MAGIC if head.startswith(magic)), "other")
        files.append((kind, path))
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
    has_photorec = shutil.which("photorec") is not None
    if not has_photorec:
        print("photorec is not installed (apt-get install testdisk): skipping it\n")
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

    def photorec_run():
        outs["photorec"] = fresh("photorec")
        outs["photorec"].mkdir()
        # /d is a prefix: photorec writes OUT/recup_dir.1, .2, ... (500 files each).
        return run(["photorec", "/d", str(outs["photorec"] / "recup_dir"), "/cmd",
                    str(image), PHOTOREC_CMD])

    timed = {"dalil": best("dalil carve --json", args.runs, dalil_run),
             "foremost": best("foremost -t jpg,gif,png,pdf,zip (+sqlite rule)", args.runs,
                              foremost_run)}
    if has_photorec:
        timed["photorec"] = best("photorec /cmd (jpg,png,gif,pdf,zip,sqlite)", args.runs,
                                 photorec_run)

    manifest = json.loads(timed["dalil"].stdout)
    listed = {"dalil": [(f["type"], outs["dalil"] / f["name"]) for f in manifest["files"]],
              "foremost": foremost_files(outs["foremost"])}
    if has_photorec:
        listed["photorec"] = photorec_files(outs["photorec"])
    judged = {name: judge(files, truth) for name, files in listed.items()}
    shutil.rmtree(scratch)

    names = list(judged)
    print(f"\n{'type':<8}{'planted':>8}" + "".join(
        f" | {name + ' files':>14}{'valid':>7}{'exact':>7}" for name in names))
    for kind in (*KINDS, "other"):
        if kind == "other" and not any(judged[n][2][kind] for n in names):
            continue
        print(f"{kind:<8}{planted[kind]:>8}" + "".join(
            f" | {judged[n][2][kind]:>14}{judged[n][0][kind]:>7}{judged[n][1][kind]:>7}"
            for n in names))
    totals = {n: (sum(judged[n][2].values()), sum(judged[n][0].values()),
                  sum(judged[n][1].values())) for n in names}
    print(f"{'all':<8}{len(truth):>8}" + "".join(
        f" | {totals[n][0]:>14}{totals[n][1]:>7}{totals[n][2]:>7}" for n in names))
    print()
    ours = timed["dalil"]
    print("time: " + ", ".join(
        f"{n} {timed[n].seconds:.2f} s (peak RSS {timed[n].max_rss_kib / 1024:.0f} MiB)"
        for n in names))
    dv, de = totals["dalil"][1], totals["dalil"][2]
    for name in names[1:]:
        files, valid, exact = totals[name]
        ratio = dv / valid if valid else float("inf")
        verdict = "OK" if dv >= valid else "BELOW"
        print(f"{name}: {name}/dalil time = {timed[name].seconds / ours.seconds:.2f}x; "
              f"valid files dalil {dv} vs {name} {valid} of {files} written, ratio "
              f"{ratio:.2f} (target >= 1): {verdict}; exact planted files dalil "
              f"{de}/{len(truth)}, {name} {exact}/{len(truth)}")
    if not has_photorec:
        print("photorec: not installed, skipped")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
