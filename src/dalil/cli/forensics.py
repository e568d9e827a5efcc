"""``dalil image``, ``dalil fs`` and ``dalil timeline``: examine disk images."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dalil.cli.image_options import KEY_FILE, PASSWORD, RECOVERY, VOLUME_HELP, keys_given
from dalil.cli.listing import SharedListing, shareable
from dalil.cli.output import (
    err,
    error,
    fail,
    json_row,
    out,
    print_json,
    print_json_array,
)
from dalil.cli.root import app
from dalil.engine.forensics.encryption import Keys, detect_encryption
from dalil.engine.forensics.extract import (
    ExtractError,
    extract_all,
    find_by_inode,
    find_by_path,
    read_content,
)
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    open_logical_file_system,
    select_file_system,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage, open_image
from dalil.engine.forensics.logical import (
    LogicalVolumeError,
    has_vss,
    is_lvm,
    list_logical_volumes,
)
from dalil.engine.forensics.timeline import TimelineEvent, artifact_events, bodyfile, timeline_csv
from dalil.engine.forensics.volume import list_volumes
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

image_app = typer.Typer(help="Disk images: containers, metadata, volumes.", no_args_is_help=True)
fs_app = typer.Typer(help="File systems inside disk images: list, read, extract.",
                     no_args_is_help=True)
app.add_typer(image_app, name="image")
app.add_typer(fs_app, name="fs")

LOGICAL_HELP = ("LVM logical volume inside the volume (index or name, as `dalil image info` "
                "lists them; needed if the PV holds several), VSS snapshot K of an NTFS "
                "volume, or APFS volume of an APFS container (index, name, or the name "
                "the ingest stored; default: the first).")
PARTIAL = 3  # exit code: the output is there, but some directories could not be read



class _Problems:
    """Reports walk problems on stderr as they come and remembers there were some."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, problem: WalkProblem) -> None:
        self.count += 1
        _report(problem)

    def exit_if_any(self) -> None:
        if self.count:
            error(f"{self.count} directories could not be read; the rest is complete")
            raise typer.Exit(PARTIAL)


@contextmanager
def _opened(path: str) -> Iterator[Image]:
    try:
        image = open_image(path)
    except ImageError as exc:
        fail(str(exc))
    try:
        yield image
    finally:
        image.close()


def _file_system(image: Image, volume: int | None, keys: Keys | None = None,
                 logical: str | None = None) -> FileSystem:
    try:
        tsk = TskImage(image)
        return select_file_system(image, volume, logical, tsk, keys)
    except (FileSystemError, ImageError) as exc:
        fail(str(exc))


def _json_entry(entry: Entry) -> bytes:
    # The row built here rather than through Entry.to_dict: the times go to the encoder as
    # datetimes (orjson writes them in C), a third of a listing's time.
    return json_row({"inode": entry.inode, "path": entry.path, "type": entry.type,
                     "size": entry.size, "deleted": entry.deleted, "mtime": entry.mtime,
                     "atime": entry.atime, "ctime": entry.ctime, "crtime": entry.crtime,
                     "address": entry.address})


def _text_entry(entry: Entry) -> bytes:
    flag = "* " if entry.deleted else ""
    return (f"{entry.name_type}/{entry.meta_type or '-'} {flag}{entry.address}:\t"
            f"{entry.path}").encode()


def _print_listing(as_json: bool, entries: Iterable[Entry],
                   encoded: Iterable[bytes] = ()) -> None:
    """The listing on stdout: ``entries`` then the rows another process encoded."""
    if as_json:
        print_json_array((), itertools.chain(map(_json_entry, entries), encoded))
        return
    write = sys.stdout.buffer.write if hasattr(sys.stdout, "buffer") else (
        lambda data: sys.stdout.write(data.decode()))
    sys.stdout.flush()
    for line in itertools.chain(map(_text_entry, entries), encoded):
        write(line + b"\n")


def _report(problem: WalkProblem) -> None:
    error(f"{problem.message}: skipped")


@image_app.command("info")
def image_info(
    image_path: str = typer.Argument(..., metavar="IMAGE", help="Image file (first segment)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
) -> None:
    """Container, media size, stored metadata and hashes, volumes and their file systems,
    encryption (BitLocker, LUKS), LVM logical volumes, shadow copies and APFS volumes."""
    keys = keys_given(password, recovery_password, key_file)
    with _opened(image_path) as image:
        tsk = TskImage(image)
        volumes: list[dict[str, Any]] = []
        for volume in list_volumes(image, tsk):
            row = volume.to_dict()
            if volume.allocated:
                try:
                    _describe_volume(image, tsk, volume, keys, row)
                except ImageError as exc:
                    row["file_system"] = None
                    row["error"] = str(exc)
            volumes.append(row)
        document = {**image.info.to_dict(), "volumes": volumes}
    if as_json:
        print_json(document)
        return
    out.print(f"[bold]{document['path']}[/]  {document['container']}, "
              f"{document['size']} bytes", highlight=False)
    for key, value in {**document["metadata"], **document["stored_hashes"]}.items():
        out.print(f"  {key}: {value}", highlight=False, markup=False)
    table = Table("volume", "offset", "sector", "length", "description", "file system",
                  "encryption")
    for row in volumes:
        fs_info = row.get("file_system")
        kind = fs_info["type"] if fs_info else ("-" if not row["allocated"] else
                                                "LVM PV" if row.get("logical_volumes")
                                                and row["logical_volumes"][0]["type"] == "lvm"
                                                else "unreadable")
        crypt = row.get("encryption")
        locked = crypt and not crypt["unlocked"]
        table.add_row(str(row["index"]), str(row["offset"]), str(row["start_sector"]),
                      str(row["length_sectors"]), row["description"],
                      "encrypted" if locked else kind,
                      f"{crypt['label']}{' (locked)' if locked else ''}" if crypt else "-")
    out.print(table)
    for row in volumes:
        for logical in row.get("logical_volumes", []):
            inner = logical.get("file_system")
            out.print(f"  volume {row['index']}: {logical['type']} {logical['index']} "
                      f"{logical['name']} ({logical['size']} bytes): "
                      f"{inner['type'] if inner else 'unreadable'}", highlight=False,
                      markup=False)
            if logical.get("error"):
                err.print(logical["error"], highlight=False, markup=False, soft_wrap=True)
        _print_apfs(row)
        if row.get("error"):
            err.print(row["error"], highlight=False, markup=False, soft_wrap=True)


def _print_apfs(row: dict[str, Any]) -> None:
    """The APFS container of a volume and its volumes, one line each."""
    container = row.get("apfs_container")
    if not container:
        return
    out.print(f"  volume {row['index']}: APFS container {container['identifier']} "
              f"({container['size']} bytes, blocks of {container['block_size']})",
              highlight=False, markup=False, soft_wrap=True)
    for inner in container["volumes"]:
        out.print(f"    APFS volume {inner['index']} {inner['name']!r} {inner['identifier']}"
                  f"{' (encrypted)' if inner['encrypted'] else ''}", highlight=False,
                  markup=False, soft_wrap=True)


def _describe_volume(image: Image, tsk: TskImage, volume: Any, keys: Keys,
                     row: dict[str, Any]) -> None:
    """Fill ``row`` with the volume's encryption, logical volumes and file system."""
    encryption = detect_encryption(image, volume.offset)
    if encryption is not None:
        row["encryption"] = encryption.to_dict() | {"unlocked": False}
    if is_lvm(image, volume.offset) or has_vss(image, volume.offset):
        try:
            row["logical_volumes"] = [_describe_logical(image, volume, lv.to_dict())
                                      for lv in list_logical_volumes(
                                          image, volume.offset, volume.size)]
        except LogicalVolumeError as exc:
            row["logical_volumes_error"] = str(exc)
        if row.get("logical_volumes") and is_lvm(image, volume.offset):
            row["file_system"] = None  # a PV: the file systems are in its logical volumes
            return
    from dalil.engine.forensics.apfs import container_info, is_apfs  # libfsapfs: 60 ms

    if is_apfs(image, volume.offset):
        # Listed even when the volume opened below is encrypted; when the container is
        # unreadable, open_file_system says why in row["error"].
        with suppress(FileSystemError):
            row["apfs_container"] = container_info(image, volume).to_dict()
    try:
        fs = open_file_system(image, volume, tsk, keys)
    except FileSystemError as exc:
        row["file_system"] = None
        row["error"] = str(exc)
        return
    row["file_system"] = fs.to_dict()
    if encryption is not None:
        row["encryption"]["unlocked"] = True


def _describe_logical(image: Image, volume: Any, logical: dict[str, Any]) -> dict[str, Any]:
    """``logical`` with the file system of that LV (or snapshot) opened, or its error."""
    try:
        logical["file_system"] = open_logical_file_system(image, volume,
                                                          logical["index"]).to_dict()
    except (FileSystemError, ImageError) as exc:
        logical["file_system"] = None
        logical["error"] = str(exc)
    return logical


@fs_app.command("ls")
def fs_ls(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    recursive: bool = typer.Option(False, "-r", "--recursive", help="Walk subdirectories."),
    deleted: bool = typer.Option(False, "--deleted", help="Only deleted entries."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
) -> None:
    """List entries (allocated and deleted); paths as the Sleuth Kit's `fls -p`.

    Exit code 3: listed, but some directories could not be read (named on stderr).
    """
    problems = _Problems()
    keys = keys_given(password, recovery_password, key_file)

    def keep(entry: Entry) -> bool:
        return entry.deleted or not deleted

    encode = _json_entry if as_json else _text_entry
    with _opened(image_path) as image:
        fs = _file_system(image, volume, keys, logical)
        names = shareable(fs) if recursive else 0
        if not names:
            _print_listing(as_json, (e for e in walk(fs, recursive=recursive,
                                                     on_problem=problems) if keep(e)))
        else:
            def open_again() -> FileSystem:
                return _file_system(open_image(image_path), volume, keys, logical)

            with SharedListing(names, open_again, keep, encode) as shared:
                try:
                    _print_listing(as_json, shared.first(fs, problems),
                                   shared.rest(problems))
                except RuntimeError as exc:
                    fail(f"{image_path}: {exc}")
    sys.stdout.flush()
    problems.exit_if_any()


@fs_app.command("cat")
def fs_cat(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    inode: int | None = typer.Option(None, "--inode", help="Metadata address (inode, MFT entry)."),
    path: str | None = typer.Option(None, "--path", help="Path inside the file system."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
) -> None:
    """Write a file's bytes to stdout (deleted files too, where the content is still there)."""
    if (inode is None) == (path is None):
        fail("give exactly one of --inode or --path", code=2)
    with _opened(image_path) as image:
        fs = _file_system(image, volume, keys_given(password, recovery_password, key_file), logical)
        try:
            entry = find_by_inode(fs, inode) if inode is not None else find_by_path(fs, path or "")
            if entry.is_dir:
                fail(f"{fs.where()}: {entry.path} is a directory")
            for chunk in read_content(fs, entry):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        except ExtractError as exc:
            fail(str(exc))


@fs_app.command("extract")
def fs_extract(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="New or empty output folder."),
    deleted: bool = typer.Option(False, "--deleted", help="Also extract deleted files."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the provenance records as JSON."),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
) -> None:
    """Extract every file into OUTDIR with safe names and a provenance record per file.

    Exit code 3: extracted, but some directories could not be read (named on stderr).
    """
    problems = _Problems()
    with _opened(image_path) as image:
        fs = _file_system(image, volume, keys_given(password, recovery_password, key_file), logical)
        try:
            records = list(extract_all(fs, outdir, include_deleted=deleted, on_problem=problems))
        except (ExtractError, OSError) as exc:
            fail(str(exc))
    incomplete = [r for r in records if not r.complete]
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        written = len(records) - len(incomplete)
        err.print(f"{written} files extracted to {outdir} "
                  f"({len(incomplete)} not fully recoverable); provenance in "
                  f"{outdir}/dalil-provenance.jsonl", highlight=False, markup=False)
    for record in incomplete:
        err.print(f"warning: {record.path}: {record.error or 'incomplete'}", highlight=False,
                  markup=False)
    problems.exit_if_any()


@app.command("timeline")
def timeline(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    output_format: str = typer.Option(
        "bodyfile", "--format",
        help="bodyfile (as fls -m) or csv (one row per file and moment with its MACB "
             "letters, as mactime; times in UTC)."),
    artifacts: bool = typer.Option(
        False, "--artifacts",
        help="csv: add the artifact parsers' events (web visits, downloads, photos taken, "
             "messages, SMS), each with its file, inode and parser."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to FILE."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    logical: str | None = typer.Option(None, "--logical", help=LOGICAL_HELP),
    prefix: str = typer.Option("/", "--prefix", help="Mount point put before every path."),
    password: str | None = PASSWORD,
    recovery_password: str | None = RECOVERY,
    key_file: str | None = KEY_FILE,
) -> None:
    """Write a timeline of the file system (TSK bodyfile for mactime, or CSV).

    Exit code 3: written, but some directories could not be read (named on stderr).
    """
    if output_format not in ("bodyfile", "csv"):
        fail(f"unknown format {output_format!r}: use bodyfile or csv", code=2)
    if artifacts and output_format != "csv":
        fail("--artifacts needs --format csv", code=2)
    problems = _Problems()
    with _opened(image_path) as image:
        fs = _file_system(image, volume, keys_given(password, recovery_password, key_file), logical)
        events: list[TimelineEvent] = []
        if artifacts:
            from dalil.engine.forensics.artifacts import parse_file_system

            records = parse_file_system(fs, include_deleted=True)
            events = artifact_events(records)
        lines = (timeline_csv(fs, prefix=prefix, events=events, on_problem=problems)
                 if output_format == "csv"
                 else (line + "\n" for line in bodyfile(fs, prefix, on_problem=problems)))
        target = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            for line in lines:
                target.write(line)
        finally:
            if output:
                target.close()
    problems.exit_if_any()
