"""`scan_reader`: the same hits through a reader (an image's logical media) as from the
file, in a pool of workers too, and a scan resumed from a page gives the rest."""

from __future__ import annotations

import functools
from pathlib import Path

from dalil.engine.forensics.image import open_image
from dalil.engine.scan import scan, scan_reader

PAGE = 64 * 1024


def _data() -> bytes:
    data = bytearray(5 * PAGE)
    for index, offset in enumerate(range(1000, len(data), 50_000)):
        text = f" user{index}@example.kz ".encode()
        data[offset:offset + len(text)] = text
    boundary = b" across.page@example.kz "  # crosses the first page boundary
    data[PAGE - 10:PAGE - 10 + len(boundary)] = boundary
    return bytes(data)


def _hits(folder: Path) -> list[str]:
    return [line for line in (folder / "email.txt").read_text().splitlines()
            if not line.startswith("#")]


def test_a_reader_gives_the_same_hits_as_the_file(tmp_path: Path) -> None:
    source = tmp_path / "stick.dd"
    source.write_bytes(_data())
    scan(source, tmp_path / "file", scanners="email", jobs=1, page_size=PAGE, margin=4096)
    opener = functools.partial(open_image, str(source))
    summary = scan_reader(opener, len(_data()), tmp_path / "reader", name="KZ-1/E1",
                          scanners="email", jobs=2, page_size=PAGE, margin=4096,
                          hash_source=True)
    assert _hits(tmp_path / "reader") == _hits(tmp_path / "file")
    assert summary.input == "KZ-1/E1" and summary.bytes_scanned == len(_data())
    assert summary.source_hashes["sha256"]


def test_start_skips_the_pages_already_scanned(tmp_path: Path) -> None:
    source = tmp_path / "stick.dd"
    source.write_bytes(_data())
    scan(source, tmp_path / "all", scanners="email", jobs=1, page_size=PAGE, margin=4096)
    seen: list[tuple[int, int]] = []
    summary = scan(source, tmp_path / "rest", scanners="email", jobs=1, page_size=PAGE,
                   margin=4096, start=2 * PAGE, progress=lambda d, t: seen.append((d, t)))
    rest = _hits(tmp_path / "rest")
    assert rest == [h for h in _hits(tmp_path / "all") if int(h.split("\t")[0]) >= 2 * PAGE]
    assert summary.options["start"] == 2 * PAGE and seen[-1] == (5 * PAGE, 5 * PAGE)
    assert seen[0][0] == 3 * PAGE  # the skipped pages count as done
