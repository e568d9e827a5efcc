"""Pages scanned on a Dask cluster (``DALIL_DASK_SCHEDULER``) give what the local pool gives.

A ``distributed.LocalCluster`` of two worker processes on localhost stands for a unit's
cluster; the tests are skipped, saying why, where Dask is not installed or cannot start.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalil.engine.scan import ScanError, ScanSummary, scan, scan_reader

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed "
                                  "(pip install -e '.[dask]')")

PAGE = 16384
MARGIN = 4096
SAMPLES = [
    b"olga.petrov+news@mail.secure.kz", b"https://t.me/some_channel", b"+7 (701) 123-45-67",
    b"4111 1111 1111 1111", b"KZ86 125K ZT50 0410 0100", b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", b"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
    b"25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion", b"192.168.10.1",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    try:
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None,
                                         silence_logs=40)
    except Exception as exc:  # no processes, no sockets...
        pytest.skip(f"a Dask LocalCluster cannot start here: {exc!r}")
    try:
        yield str(local.scheduler_address)
    finally:
        local.close()


def _workload(seed: int = 7, size: int = 24 * PAGE) -> bytes:
    """Random bytes with features, some across every page boundary, a gzip stream longer
    than a page and UTF-16LE text in Cyrillic."""
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(size))

    def put(at: int, data: bytes) -> None:
        buf[at - 1] = 0x20
        buf[at:at + len(data)] = data
        buf[at + len(data)] = 0x20

    for boundary in range(PAGE, size - PAGE, PAGE):
        sample = rng.choice(SAMPLES)
        put(boundary - rng.randrange(1, len(sample)), sample)
    for _ in range(120):
        sample = rng.choice(SAMPLES)
        put(rng.randrange(1, size - len(sample) - 1), sample)
    text = " ".join(f"user{i}@example.kz" for i in range(2000)).encode()
    stream = gzip.compress(text + rng.randbytes(PAGE), mtime=0)
    assert len(stream) > PAGE
    pages = size // PAGE
    # starts just before a boundary, runs over the next page
    put((5 if pages >= 16 else 1) * PAGE - 100, stream)
    utf16 = ("Контакт подозреваемого: ivan.petrov@mail.ru, тел. +7 701 765 43 21 "
             "— проверить.").encode("utf-16-le")
    for at in ([9 * PAGE - 40, 13 * PAGE + 7] if pages >= 16 else
               [(pages - 1) * PAGE - 40] if pages >= 5 else []):
        put(at, utf16)
    return bytes(buf)


def _outputs(outdir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(outdir.glob("*.txt"))}


def _comparable(summary: ScanSummary) -> dict[str, object]:
    data = summary.to_dict()
    for key in ("seconds", "mb_per_s", "started_at", "ended_at", "jobs", "executor",
                "options"):
        data.pop(key)
    return data


def _run_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str, run: object
              ) -> tuple[ScanSummary, ScanSummary, list[tuple[int, int]], list[tuple[int, int]]]:
    assert callable(run)
    local_progress: list[tuple[int, int]] = []
    dask_progress: list[tuple[int, int]] = []
    monkeypatch.delenv("DALIL_DASK_SCHEDULER", raising=False)
    local = run(tmp_path / "local", lambda d, t: local_progress.append((d, t)))
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", address)
    remote = run(tmp_path / "dask", lambda d, t: dask_progress.append((d, t)))
    return local, remote, local_progress, dask_progress


def test_dask_gives_the_local_pools_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           cluster: str) -> None:
    src = tmp_path / "evidence.bin"
    src.write_bytes(_workload())

    def run(outdir: Path, progress: object) -> ScanSummary:
        return scan(src, outdir, jobs=2, page_size=PAGE, margin=MARGIN, progress=progress,
                    command_line=["dalil", "scan"])  # type: ignore[arg-type]

    local, remote, local_progress, dask_progress = _run_both(tmp_path, monkeypatch, cluster,
                                                             run)
    assert local.executor == "local pool with 2 workers"
    assert remote.executor.startswith(f"Dask at {cluster} (2 workers, 2 threads")
    assert remote.jobs == 2
    assert _comparable(remote) == _comparable(local)
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")
    assert dask_progress == local_progress and len(dask_progress) == 24
    # what the workload holds was found: across boundaries, in the gzip stream, in UTF-16
    assert local.counts["email"] >= 2000 and local.streams == 1
    email = (tmp_path / "dask" / "email.txt").read_text()
    assert f"{5 * PAGE - 100}-GZIP-0\tuser0@example.kz" in email
    assert "ivan.petrov@mail.ru" in email
    report = json.loads((tmp_path / "dask" / "report.json").read_text())
    assert report["executor"] == remote.executor


def test_dask_directory_tree_and_image_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             cluster: str) -> None:
    from dalil.engine.forensics.image import open_image

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.bin").write_bytes(_workload(1, 5 * PAGE))
    (tree / "sub" / "b.bin").write_bytes(_workload(2, 3 * PAGE))
    (tree / "sub" / "c.txt").write_bytes(b"x ivan@example.kz\n")

    def run_tree(outdir: Path, progress: object) -> ScanSummary:
        return scan(tree, outdir, jobs=2, page_size=PAGE, margin=MARGIN,
                    progress=progress)  # type: ignore[arg-type]

    local, remote, lp, dp = _run_both(tmp_path / "t", monkeypatch, cluster, run_tree)
    assert _comparable(remote) == _comparable(local) and local.files == 3
    assert _outputs(tmp_path / "t" / "dask") == _outputs(tmp_path / "t" / "local")
    assert dp == lp

    image = tmp_path / "disk.raw"
    image.write_bytes(_workload(3, 8 * PAGE))
    opener = functools.partial(open_image, str(image))

    def run_reader(outdir: Path, progress: object) -> ScanSummary:
        return scan_reader(opener, image.stat().st_size, outdir, name="1/A", jobs=2,
                           page_size=PAGE, margin=MARGIN,
                           progress=progress)  # type: ignore[arg-type]

    local, remote, lp, dp = _run_both(tmp_path / "r", monkeypatch, cluster, run_reader)
    assert _comparable(remote) == _comparable(local) and local.streams == 1
    assert _outputs(tmp_path / "r" / "dask") == _outputs(tmp_path / "r" / "local")


def test_cancelling_from_progress_stops_the_dask_scan(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      cluster: str) -> None:
    src = tmp_path / "evidence.bin"
    src.write_bytes(_workload())
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", cluster)

    class Stop(Exception):
        pass

    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        scan(src, tmp_path / "out", page_size=PAGE, margin=MARGIN, progress=progress)
    assert seen == [PAGE, 2 * PAGE, 3 * PAGE]
    # the feature files hold the pages finished before the stop, as with the local pool
    lines = [x for x in (tmp_path / "out" / "email.txt").read_text().splitlines()
             if not x.startswith("#")]
    assert lines and all(int(x.split("\t")[0].split("-")[0]) < 3 * PAGE for x in lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_scheduler_is_an_error_naming_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", address)
    monkeypatch.setenv("DALIL_DASK_TIMEOUT", "2")
    src = tmp_path / "in.bin"
    src.write_bytes(b" ivan@example.kz ")
    with pytest.raises(ScanError, match=f"cannot reach the Dask scheduler at {address}"):
        scan(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # no fallback to the local pool


def test_a_worker_that_cannot_see_the_input_is_named(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    cluster: str) -> None:
    # /proc/self/fd/N names the file in this process only: on the workers, as on a machine
    # without the shared storage, there is no such file.
    src = tmp_path / "in.bin"
    src.write_bytes(b" ivan@example.kz " * 100)
    fd = os.open(src, os.O_RDONLY)
    high = os.dup2(fd, 987)
    os.close(fd)
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", cluster)
    try:
        path = f"/proc/self/fd/{high}"
        with pytest.raises(ScanError) as info:
            scan(path, tmp_path / "out")
        message = str(info.value)
        assert message.startswith("Dask worker tcp://127.0.0.1:")
        assert f"cannot read {path}" in message
        assert "every worker mounts at the same path" in message

        from dalil.engine.forensics.image import open_image

        with pytest.raises(ScanError) as info:
            scan_reader(functools.partial(open_image, path), 1700, tmp_path / "out2",
                        name="1/A")
        message = str(info.value)
        assert message.startswith("Dask worker tcp://127.0.0.1:")
        assert "cannot open 1/A" in message and path in message  # the image's own error
    finally:
        os.close(high)


def test_the_engine_does_not_import_dask_without_the_variable(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b" ivan@example.kz " * 10)
    code = ("import sys; from dalil.engine.scan import scan; "
            f"s = scan({str(src)!r}, {str(tmp_path / 'out')!r}, jobs=1); "
            "assert s.executor == 'in process', s.executor; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')); "
            "assert not bad, bad")
    env = {k: v for k, v in os.environ.items() if k != "DALIL_DASK_SCHEDULER"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_dalil_scan_says_which_executor_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           cluster: str) -> None:
    from typer.testing import CliRunner

    from dalil.cli.main import app

    src = tmp_path / "in.bin"
    src.write_bytes(b"\x00 ivan@example.kz \x00" * 3)
    runner = CliRunner()
    monkeypatch.delenv("DALIL_DASK_SCHEDULER", raising=False)
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "a"), "--json",
                                 "-j", "1", "--scanners", "email"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["executor"] == "in process"
    assert "executor: in process" in result.stderr

    monkeypatch.setenv("DALIL_DASK_SCHEDULER", cluster)
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "b"), "--json",
                                 "--scanners", "email"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["executor"].startswith(f"Dask at {cluster} (2 workers")
    assert summary["counts"] == {"email": 3}
    assert f"executor: Dask at {cluster}" in result.stderr

    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", address)
    monkeypatch.setenv("DALIL_DASK_TIMEOUT", "1")
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr


def test_report_xml_names_the_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       cluster: str) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b" ivan@example.kz " * 10)
    monkeypatch.setenv("DALIL_DASK_SCHEDULER", cluster)
    summary = scan(src, tmp_path / "out", scanners="email")
    report = (tmp_path / "out" / "report.xml").read_text()
    assert f"executor>{summary.executor}<" in report
    assert summary.options["dask_scheduler"] == cluster
