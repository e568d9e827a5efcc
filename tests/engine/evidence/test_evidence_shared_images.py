"""Hashing and acquisition on the real disk images in ../shared/data/forensics."""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest

from dalil.engine.evidence import acquisition
from dalil.engine.evidence.hashing import hash_file

# GROUND_TRUTH.md: image.E01 stores this MD5, equal to md5(tsk/image.dd).
IMAGE_DD_MD5 = "3ebb0b7dcd6b5fcd59a0020625d70994"


def manifest(shared_data):
    with open(shared_data / "forensics" / "MANIFEST.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_shared_image_hashes_to_its_manifest_value(shared_data):
    rows = manifest(shared_data)
    assert rows
    for row in rows:
        result = hash_file(shared_data / "forensics" / row["local_path"], ("md5", "sha256"))
        assert result.size == int(row["bytes"]), row["local_path"]
        assert result.hashes["sha256"] == row["sha256"], row["local_path"]


@pytest.mark.parametrize("fmt", ["raw", "split", "e01"])
def test_acquiring_the_tsk_image_gives_the_ground_truth_md5(shared_data, tmp_path, fmt):
    source = shared_data / "forensics" / "tsk" / "image.dd"
    before = source.stat()
    result = acquisition.acquire(acquisition.AcquisitionRequest(
        source=source, out_dir=tmp_path, basename="E1.1", format=fmt,
        segment_size=1024 * 1024, algorithms=("md5", "sha256"),
        metadata={"case_number": "SHARED-1", "examiner": "test"}))
    assert result.hashes["md5"] == IMAGE_DD_MD5
    assert result.verified is True
    after = source.stat()
    assert (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)
    if fmt == "e01" and shutil.which("ewfverify"):
        check = subprocess.run(["ewfverify", "-q", result.image_paths[0]],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
