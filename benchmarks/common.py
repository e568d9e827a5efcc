"""What the benchmarks share: the source file, a warm page cache, timing a child process."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"  # gitignored
MIB = 1024 * 1024


@dataclass
class Run:
    seconds: float
    max_rss_kib: int
    stdout: str
    sync_seconds: float = 0.0


def source_file(size_mib: int) -> Path:
    """A random file of ``size_mib`` MiB under benchmarks/.work/, created once."""
    WORK.mkdir(exist_ok=True)
    path = WORK / f"random-{size_mib}MiB.bin"
    if path.exists() and path.stat().st_size == size_mib * MIB:
        return path
    print(f"creating {path} ({size_mib} MiB of random bytes)...", flush=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        left = size_mib * MIB
        while left:
            step = min(left, 16 * MIB)
            handle.write(os.urandom(step))
            left -= step
    tmp.replace(path)
    return path


def warm(path: Path) -> None:
    """Read the file once so that every contender starts from the page cache."""
    with open(path, "rb", buffering=0) as handle:
        buf = bytearray(8 * MIB)
        while handle.readinto(buf):
            pass


def run(cmd: list[str], *, then_sync: bool = False, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``: wall-clock seconds and its own peak RSS in KiB (wait4), then maybe sync."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    result = Run(seconds, usage.ru_maxrss, out)
    if then_sync:
        t = time.perf_counter()
        os.sync()
        result.sync_seconds = time.perf_counter() - t
    return result


def best(label: str, runs: int, make: Callable[[], Run]) -> Run:
    """The fastest of ``runs`` runs; its peak RSS is the largest of them all."""
    results = [make() for _ in range(runs)]
    fastest = min(results, key=lambda r: r.seconds)
    fastest.max_rss_kib = max(r.max_rss_kib for r in results)
    times = ", ".join(f"{r.seconds:.2f}" for r in results)
    print(f"  {label:<44} best {fastest.seconds:6.2f} s   (runs: {times})", flush=True)
    return fastest



def mb_s(size: int, seconds: float) -> float:
    return size / 1e6 / seconds
