"""Reproducible XFS images with planted files and an answer key, built by xfsprogs.

``mkfs.xfs -p PROTOFILE`` populates a new file system from a prototype description on a
regular file, without mounting. Everything mkfs lets us pin is pinned: UUID, label,
geometry and feature flags. What it takes from the clock (every inode's times; the
inode checksums cover them) is then overwritten with ``xfs_db -x``, whose ``write``
recomputes the checksums, with the planted times; so the same plants give the same
bytes with the same xfsprogs. With ``partitioned`` the file system sits in the one
partition of an MBR disk written by ``sfdisk`` (util-linux), at 1 MiB.

mkfs.xfs refuses file systems under 300 MB outside the kernel's test suite (fstests),
which it recognises by three environment variables; they are set for it here, because a
32 MiB image is what a training lab wants, and ``xfs_repair -n`` accepts the result.

The protofile grammar limits names: no whitespace or control characters, no ``:``, not
starting with ``$`` (:class:`XfsScenarioError` says which name is refused).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
DEFAULT_SIZE = 32 * MIB
DEFAULT_UUID = "d4a1110c-5a5e-4f00-8a5e-0000000000f5"
PARTITION_OFFSET = MIB
_SECTOR = 512
_KINDS = {"file": "-", "directory": "d", "symlink": "l", "fifo": "p"}
_TYPE_NAMES = {"file": "file", "directory": "directory", "symlink": "symlink", "fifo": "fifo"}
# fstests' markers: mkfs.xfs allows a file system under 300 MB when all three are set.
_SMALL_FS_ENV = {"TEST_DIR": "/nonexistent", "TEST_DEV": "/nonexistent",
                 "QA_CHECK_FS": "1"}
_BIGTIME_BIAS = 1 << 31  # bigtime stores nanoseconds since 1901-12-13T20:45:52Z


class XfsScenarioError(ValueError):
    """A plant that XFS or the protofile cannot hold, a missing tool, or a tool failure."""


@dataclass(frozen=True)
class XfsPlant:
    """One thing to put in the file system. Times are nanoseconds since 1970 (UTC);
    None takes the image's ``formatted`` time."""

    path: str  # "/"-separated, no leading slash
    data: bytes = b""
    kind: str = "file"  # file, directory, symlink, fifo
    target: str = ""  # symlink target
    mode: int = 0o644  # permission bits (setuid 0o4000 and setgid 0o2000 allowed)
    uid: int = 0
    gid: int = 0
    atime_ns: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    crtime_ns: int | None = None


@dataclass(frozen=True)
class XfsKeyItem:
    """What a reader must find at ``path``."""

    path: str
    type: str  # as Entry.type: file, directory, symlink, fifo
    size: int | None  # bytes; None for directories (XFS sizes them)
    sha256: str | None  # of the content (files only)
    mode: int
    uid: int
    gid: int
    link: str | None
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    crtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class XfsAnswerKey:
    """The image built and everything planted in it."""

    image: str
    fs_offset: int  # bytes from the start of the image
    fs_size: int  # bytes
    table: str  # "none" (bare file system) or "dos" (MBR)
    uuid: str
    label: str
    tool: str  # mkfs.xfs version line
    items: tuple[XfsKeyItem, ...] = field(default_factory=tuple)

    @property
    def files(self) -> tuple[XfsKeyItem, ...]:
        return tuple(i for i in self.items if i.type == "file")

    def item(self, path: str) -> XfsKeyItem:
        for item in self.items:
            if item.path == path:
                return item
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "items"},
                "items": [i.to_dict() for i in self.items]}


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def default_plants(seed: int = 0) -> list[XfsPlant]:
    """A small Linux home and server tree: documents (one with a Cyrillic name), a photo,
    a 1.5 MiB archive, an empty file, a setuid tool, a symlink, a FIFO, and a log folder
    of 150 files (enough for XFS to store the directory in blocks, not in its inode)."""
    rng = random.Random(f"dalil-xfs-{seed}")  # noqa: S311 - reproducible data
    start = _ns(datetime(2024, 3, 4, 9, 15, tzinfo=UTC)) + rng.randrange(86_400) * 10**9

    def make(path: str, step: int, data: bytes = b"", **options: Any) -> XfsPlant:
        born = start + step * 3_600 * 10**9 + rng.randrange(10**9)
        modified = born + rng.randrange(1, 86_400) * 10**9 + rng.randrange(10**9)
        return XfsPlant(path, data, crtime_ns=born, mtime_ns=modified, ctime_ns=modified,
                        atime_ns=modified + rng.randrange(1, 7_200) * 10**9, **options)

    user: dict[str, Any] = {"uid": 1000, "gid": 1000}
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(20_000) + b"\xff\xd9"
    plants = [
        make("home/aigerim/Documents/contract_draft.txt", 1,
             b"Supply contract, draft 3: 40 t of cement, payment to the Almaty account.\n",
             **user),
        make("home/aigerim/Documents/Отчёт_2024.txt", 2,
             "Квартальный отчёт: поставки, платежи, контакты.\n".encode(), **user),
        make("home/aigerim/Pictures/IMG_0001.jpg", 3, photo, **user),
        make("home/aigerim/.bash_history", 4,
             b"ssh backup@10.0.4.7\nscp ledger.xlsx backup@10.0.4.7:/srv/backup/\n",
             mode=0o600, **user),
        make("home/aigerim/empty.txt", 5, **user),
        make("home/aigerim/latest", 6, kind="symlink", target="Documents/contract_draft.txt",
             mode=0o777, **user),
        make("srv/backup/archive.bin", 7, rng.randbytes(3 * MIB // 2), mode=0o640),
        make("usr/local/bin/sync-tool", 8, b"#!/bin/sh\nexec rsync -a /srv/backup/ $1\n",
             mode=0o4755),
        make("run/agent.fifo", 9, kind="fifo", mode=0o600),
    ]
    for number in range(1, 151):
        line = f"2024-03-0{1 + number % 9} app[{number}]: job {rng.randrange(10**6)} ok\n"
        plants.append(make(f"var/log/app/app-{number:04d}.log", 10, line.encode() * number))
    return plants


def _check_name(part: str, path: str) -> None:
    encoded = part.encode("utf-8")
    if not part or part in (".", "..") or len(encoded) > 255:
        raise XfsScenarioError(f"{path!r}: bad name component {part!r}")
    if part.startswith("$") or ":" in part or any(c.isspace() or ord(c) < 0x20 or
                                                  ord(c) == 0x7F for c in part):
        raise XfsScenarioError(f"{path!r}: a protofile name cannot hold whitespace, control "
                               f"characters or ':', nor start with '$': {part!r}")


def _tree(plants: list[XfsPlant]) -> dict[str, XfsPlant]:
    """Every path (parents first, in plant order) with its plant; "" is the root."""
    nodes: dict[str, XfsPlant] = {"": XfsPlant("", kind="directory", mode=0o755)}
    for plant in plants:
        if plant.kind not in _KINDS:
            raise XfsScenarioError(f"{plant.path!r}: unknown kind {plant.kind!r}")
        if plant.mode & ~0o6777:
            raise XfsScenarioError(f"{plant.path!r}: mode {plant.mode:o}: only permission, "
                                   "setuid and setgid bits")
        parts = plant.path.split("/")
        for part in parts:
            _check_name(part, plant.path)
        if plant.kind == "symlink" and (
                not plant.target or ":" in plant.target or len(plant.target) > 1024
                or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in plant.target)):
            raise XfsScenarioError(f"{plant.path!r}: symlink target {plant.target!r}: 1 to "
                                   "1024 characters, no whitespace, control characters or ':'")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            existing = nodes.setdefault(parent, XfsPlant(parent, kind="directory",
                                                         mode=0o755))
            if existing.kind != "directory":
                raise XfsScenarioError(f"{plant.path!r}: {parent!r} is not a directory")
        if plant.path in nodes and plant.kind != "directory":
            raise XfsScenarioError(f"{plant.path!r}: planted twice")
        nodes[plant.path] = plant
    for time in ("atime_ns", "mtime_ns", "ctime_ns", "crtime_ns"):
        for plant in nodes.values():
            value = getattr(plant, time)
            if value is not None and not 0 <= _raw_time(value) < 1 << 64:
                raise XfsScenarioError(f"{plant.path!r}: {time} {value} is outside XFS's "
                                       "range (1901 to 2486)")
    return nodes


def _mode_token(plant: XfsPlant) -> str:
    return (f"{_KINDS[plant.kind]}{'u' if plant.mode & 0o4000 else '-'}"
            f"{'g' if plant.mode & 0o2000 else '-'}{plant.mode & 0o777:03o}")


def _protofile(nodes: dict[str, XfsPlant], sources: dict[str, str]) -> str:
    """The prototype: a dummy line, two ignored numbers, then the root directory."""
    children: dict[str, list[str]] = {}
    for path in nodes:
        if path:
            children.setdefault(path.rpartition("/")[0], []).append(path)
    lines = ["dalil-xfs-scenario", "0 0"]

    def emit(path: str) -> None:
        plant = nodes[path]
        name = path.rpartition("/")[2]
        spec = f"{_mode_token(plant)} {plant.uid} {plant.gid}"
        if plant.kind == "file":
            spec += f" {sources[path]}"
        elif plant.kind == "symlink":
            spec += f" {plant.target}"
        lines.append(f"{name} {spec}".strip())
        if plant.kind == "directory":
            for child in children.get(path, []):
                emit(child)
            lines.append("$")

    emit("")
    return "\n".join(lines) + "\n"


def _run(args: list[str], what: str, *, cwd: str | None = None, stdin: str | None = None,
         env: dict[str, str] | None = None) -> str:
    if shutil.which(args[0]) is None:
        package = "fdisk" if args[0] == "sfdisk" else "xfsprogs"
        raise XfsScenarioError(f"{args[0]} not found: install Debian's {package}")
    result = subprocess.run(args, cwd=cwd, input=stdin, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[:2000]
        raise XfsScenarioError(f"{what}: {args[0]} failed ({result.returncode}): {detail}")
    return result.stdout


def _raw_time(ns: int) -> int:
    """A bigtime timestamp as ``xfs_db write`` takes it whole: nanoseconds since 1901."""
    return ns + _BIGTIME_BIAS * 1_000_000_000


def _pin_times(image: Path, nodes: dict[str, XfsPlant], default_ns: int) -> None:
    """Overwrite the times mkfs took from the clock, on every inode it made."""
    special = _run(["xfs_db", "-r", "-c", "sb 0", "-c", "print rbmino rsumino", str(image)],
                   str(image))
    script: list[str] = []
    for line in special.splitlines():
        key, _, value = line.partition(" = ")
        if key in ("rbmino", "rsumino") and value.strip().isdigit():
            script.append(f"inode {value.strip()}")
            script.extend(f"write {name} {_raw_time(default_ns)}"
                          for name in ("core.atime", "core.mtime", "core.ctime", "v3.crtime"))
    for path, plant in nodes.items():
        script.append(f"path /{path}")
        for name, when in (("core.atime", plant.atime_ns), ("core.mtime", plant.mtime_ns),
                           ("core.ctime", plant.ctime_ns), ("v3.crtime", plant.crtime_ns)):
            script.append(f"write {name} {_raw_time(default_ns if when is None else when)}")
    _run(["xfs_db", "-x", str(image)], f"{image}: setting inode times",
         stdin="\n".join(script) + "\n")


def _key_item(path: str, plant: XfsPlant, default_ns: int) -> XfsKeyItem:
    def when(value: int | None) -> int:
        return default_ns if value is None else value

    size: int | None = None
    digest = None
    if plant.kind == "file":
        size, digest = len(plant.data), hashlib.sha256(plant.data).hexdigest()
    elif plant.kind == "symlink":
        size = len(plant.target.encode("utf-8"))
    elif plant.kind == "fifo":
        size = 0
    return XfsKeyItem(path, _TYPE_NAMES[plant.kind], size, digest, plant.mode, plant.uid,
                      plant.gid, plant.target if plant.kind == "symlink" else None,
                      when(plant.atime_ns), when(plant.mtime_ns), when(plant.ctime_ns),
                      when(plant.crtime_ns))


def _partition(disk: Path, fs_image: Path, fs_size: int) -> None:
    """An MBR disk with one Linux partition at 1 MiB holding ``fs_image``."""
    with open(disk, "xb") as handle:
        handle.truncate(PARTITION_OFFSET + fs_size)
    table = (f"label: dos\nlabel-id: 0x44414c49\nunit: sectors\n\n"
             f"start={PARTITION_OFFSET // _SECTOR}, size={fs_size // _SECTOR}, type=83\n")
    _run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)],
         f"{disk}: partition table", stdin=table)
    with open(fs_image, "rb") as source, open(disk, "r+b") as target:
        at = 0
        while chunk := source.read(MIB):
            if chunk.count(0) != len(chunk):  # leave zero runs as holes
                target.seek(PARTITION_OFFSET + at)
                target.write(chunk)
            at += len(chunk)


def build_xfs_image(
    path: str | os.PathLike[str],
    plants: list[XfsPlant] | None = None,
    *,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
    uuid: str = DEFAULT_UUID,
    label: str = "DALIL-XFS",
    formatted: datetime = datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
    partitioned: bool = False,
) -> XfsAnswerKey:
    """Build an XFS image at ``path`` (which must not exist) holding ``plants`` (by
    default :func:`default_plants` of ``seed``), and return its answer key.

    ``size`` is the file system's size in bytes (at least 32 MiB: two allocation groups
    of 16 MiB); ``formatted`` (UTC) is the time of everything planted without one and of
    the inodes mkfs makes for itself; ``partitioned`` puts the file system in an MBR
    partition at 1 MiB.
    """
    target = Path(path)
    if target.exists():
        raise XfsScenarioError(f"{target}: already exists; an image is never overwritten")
    if size < DEFAULT_SIZE or size % MIB:
        raise XfsScenarioError(f"size {size}: at least {DEFAULT_SIZE} bytes, whole MiB")
    if len(label.encode("utf-8")) > 12 or any(c.isspace() for c in label):
        raise XfsScenarioError(f"label {label!r}: at most 12 bytes, no whitespace")
    default_ns = _ns(formatted.astimezone(UTC))
    nodes = _tree(default_plants(seed) if plants is None else list(plants))
    with tempfile.TemporaryDirectory(prefix="dalil-xfs-") as work:
        sources: dict[str, str] = {}
        for number, (node_path, plant) in enumerate(nodes.items()):
            if plant.kind == "file":
                # Relative names, mkfs running in the folder: the protofile splits on spaces,
                # which a temporary folder's path may hold.
                sources[node_path] = f"c{number:06d}"
                Path(work, sources[node_path]).write_bytes(plant.data)
        Path(work, "proto").write_text(_protofile(nodes, sources), encoding="utf-8")
        fs_image = Path(work, "fs.img") if partitioned else target
        with open(fs_image, "xb") as handle:
            handle.truncate(size)
        try:
            _run(["mkfs.xfs", "-q", "-b", "size=4096", "-s", "size=512", "-i", "size=512",
                  "-n", "size=4096,ftype=1", "-d", "agcount=2",
                  "-m", f"crc=1,finobt=1,reflink=0,rmapbt=0,bigtime=1,uuid={uuid}",
                  "-L", label, "-p", "proto", str(fs_image.resolve())],
                 f"{target}: mkfs.xfs", cwd=work, env={**os.environ, **_SMALL_FS_ENV})
            _pin_times(fs_image, nodes, default_ns)
            if partitioned:
                _partition(target, fs_image, size)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    version = _run(["mkfs.xfs", "-V"], "mkfs.xfs -V").strip()
    items = tuple(_key_item(p, plant, default_ns) for p, plant in nodes.items() if p)
    return XfsAnswerKey(str(target), PARTITION_OFFSET if partitioned else 0, size,
                        "dos" if partitioned else "none", uuid, label, version, items)
