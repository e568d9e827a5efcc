"""Benchmark: `dalil hash` against hashdeep (md5+sha1+sha256) and openssl (sha256).

    .venv/bin/python benchmarks/bench_hash.py [--size-mib 1024] [--runs 3]

Every contender runs as its own process on the same random file, read from the page
cache (warmed first); the best of ``--runs`` is kept. Peak RSS is the child's own, from
wait4(2). Throughput is in MB/s (10^6 bytes per second).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from common import best, mb_s, run, source_file, warm

PYTHON = sys.executable
DALIL = str(Path(sys.executable).with_name("dalil"))
RSS_TARGET_MB = 200
RATIO_TARGET = 3.0

ENGINE = """
import json, sys
from dalil.engine.evidence.hashing import hash_file
print(json.dumps(hash_file(sys.argv[1], sys.argv[2].split(",")).to_dict()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for tool in ("hashdeep", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install hashdeep openssl)")
    path = source_file(args.size_mib)
    size = path.stat().st_size
    warm(path)
    p = str(path)
    print(f"source: {p} ({size} bytes); {os.cpu_count()} CPUs; best of {args.runs}\n")

    print("md5 + sha1 + sha256")
    engine = best("dalil engine (hash_file)", args.runs,
                  lambda: run([PYTHON, "-c", ENGINE, p, "md5,sha1,sha256"]))
    cli = best("dalil hash -a md5,sha1,sha256 --json", args.runs,
               lambda: run([DALIL, "hash", "-a", "md5,sha1,sha256", "--json", p]))
    deep = best("hashdeep -c md5,sha1,sha256", args.runs,
                lambda: run(["hashdeep", "-c", "md5,sha1,sha256", p]))
    print("\nsha256 alone")
    engine256 = best("dalil engine (hash_file, sha256)", args.runs,
                     lambda: run([PYTHON, "-c", ENGINE, p, "sha256"]))
    cli256 = best("dalil hash -a sha256 --json", args.runs,
                  lambda: run([DALIL, "hash", "-a", "sha256", "--json", p]))
    ossl = best("openssl dgst -sha256", args.runs, lambda: run(["openssl", "dgst", "-sha256", p]))

    # The contenders must agree, or the speed means nothing.
    ours = json.loads(engine.stdout)["hashes"]
    theirs = deep.stdout.strip().splitlines()[-1].split(",")
    assert [ours["md5"], ours["sha1"], ours["sha256"]] == theirs[1:4], "hashdeep disagrees"
    assert json.loads(cli.stdout)[0]["hashes"] == ours, "the CLI disagrees with the engine"
    assert ossl.stdout.strip().endswith(ours["sha256"]), "openssl disagrees"
    assert json.loads(cli256.stdout)[0]["hashes"]["sha256"] == ours["sha256"]

    print("\nthroughput (MB/s = 10^6 bytes/s)")
    rows = [("dalil engine md5+sha1+sha256", engine), ("dalil CLI md5+sha1+sha256", cli),
            ("hashdeep md5+sha1+sha256", deep), ("dalil engine sha256", engine256),
            ("dalil CLI sha256", cli256), ("openssl dgst -sha256", ossl)]
    for label, r in rows:
        print(f"  {label:<32} {mb_s(size, r.seconds):8.0f} MB/s   "
              f"peak RSS {r.max_rss_kib / 1024:6.1f} MiB")
    print()
    print(f"dalil engine/hashdeep = {deep.seconds / engine.seconds:.1f}x, "
          f"target >= {RATIO_TARGET:.0f}x")
    print(f"dalil CLI/hashdeep    = {deep.seconds / cli.seconds:.1f}x, "
          f"target >= {RATIO_TARGET:.0f}x")
    print(f"dalil engine/openssl (sha256) = {ossl.seconds / engine256.seconds:.2f}x")
    print(f"dalil CLI/openssl (sha256)    = {ossl.seconds / cli256.seconds:.2f}x")
    peak = max(engine.max_rss_kib, cli.max_rss_kib, engine256.max_rss_kib, cli256.max_rss_kib)
    verdict = "OK" if peak / 1024 < RSS_TARGET_MB else "OVER"
    print(f"dalil peak RSS = {peak / 1024:.1f} MiB, target < {RSS_TARGET_MB} MB: {verdict}")


if __name__ == "__main__":
    main()
