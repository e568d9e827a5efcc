"""Small evidence images for the examination tests, built with e2fsprogs, plus an exhibit
holding one (helpers imported by the test_forensics_* modules)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from dalil.app.cases import services as cases

HOSTILE = "<img src=x onerror=alert(1)>.txt"
HOSTILE_CONTENT = b'<script>alert("pwned")</script>\n'
OLD = 1_500_000_000  # 2017-07-14 02:40:00 UTC
NEW = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def picture(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, kind)
    return buffer.getvalue()


def build_ext4(folder: Path, *, extra_files: int = 0) -> Path:
    """An ext4 image: documents, pictures, a PNG named .pdf, a hostile name, many small
    files (``extra_files``), and ``secret.txt`` deleted after the image was made."""
    need("mke2fs", "debugfs")
    tree = folder / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "pictures").mkdir()
    (tree / "docs" / "note.txt").write_bytes(b"meet at dawn\n")
    (tree / "pictures" / "photo.jpg").write_bytes(picture("JPEG"))
    (tree / "pictures" / "logo.png").write_bytes(picture("PNG"))
    (tree / "docs" / "report.pdf").write_bytes(picture("PNG"))  # content is not a PDF
    (tree / HOSTILE).write_bytes(HOSTILE_CONTENT)
    (tree / "secret.txt").write_bytes(b"the wallet seed is in the safe\n" * 100)
    if extra_files:
        (tree / "many").mkdir()
        for number in range(extra_files):
            (tree / "many" / f"f{number:04d}.txt").write_bytes(f"file {number}\n".encode())
    for path in tree.rglob("*"):
        os.utime(path, (NEW, NEW))
    os.utime(tree / "docs" / "note.txt", (OLD, OLD))
    image = folder / "disk.img"
    size = "8M" if extra_files < 1000 else "32M"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(tree), str(image),
                    size], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": str(NEW)})
    subprocess.run(["debugfs", "-w", "-R", "rm secret.txt", str(image)], check=True,
                   capture_output=True)
    return image


def add_image_exhibit(case, image: Path, number: str = "E2"):
    """Register ``image`` as an exhibit of ``case`` (its bytes go into the blob store)."""
    return cases.add_exhibit_from_path(case, image, number=number, actor="examiner",
                                       type="image", description="disk image")
