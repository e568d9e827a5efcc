"""``dalil image``, ``dalil fs`` and ``dalil timeline``: examine disk images."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dalil.cli.output import err, error, fail, out, print_json
from dalil.cli.root import app
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
    select_volume,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage, open_image
from dalil.engine.forensics.timeline import bodyfile
from dalil.engine.forensics.volume import list_volumes
from dalil.engine.forensics.walk import WalkProblem, walk

image_app = typer.Typer(help="Disk images: containers, metadata, volumes.", no_args_is_help=True)
fs_app = typer.Typer(help="File systems inside disk images: list, read, extract.",
                     no_args_is_help=True)
app.add_typer(image_app, name="image")
app.add_typer(fs_app, name="fs")

VOLUME_HELP = "Volume number as `dalil image info` (and mmls) show it; needed if several."


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


def _file_system(image: Image, volume: int | None) -> FileSystem:
    try:
        tsk = TskImage(image)
        return open_file_system(image, select_volume(image, volume, tsk), tsk)
    except (FileSystemError, ImageError) as exc:
        fail(str(exc))


def _report(problem: WalkProblem) -> None:
    error(f"{problem.message} (directory {problem.path}, inode {problem.inode}): skipped")


@image_app.command("info")
def image_info(
    image_path: str = typer.Argument(..., metavar="IMAGE", help="Image file (first segment)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Container, media size, stored metadata and hashes, volumes and their file systems."""
    with _opened(image_path) as image:
        tsk = TskImage(image)
        volumes: list[dict[str, Any]] = []
        for volume in list_volumes(image, tsk):
            row = volume.to_dict()
            if volume.allocated:
                try:
                    row["file_system"] = open_file_system(image, volume, tsk).to_dict()
                except FileSystemError as exc:
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
    table = Table("volume", "offset", "sector", "length", "description", "file system")
    for row in volumes:
        fs_info = row.get("file_system")
        kind = fs_info["type"] if fs_info else ("-" if not row["allocated"] else "unreadable")
        table.add_row(str(row["index"]), str(row["offset"]), str(row["start_sector"]),
                      str(row["length_sectors"]), row["description"], kind)
    out.print(table)


@fs_app.command("ls")
def fs_ls(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    recursive: bool = typer.Option(False, "-r", "--recursive", help="Walk subdirectories."),
    deleted: bool = typer.Option(False, "--deleted", help="Only deleted entries."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """List entries (allocated and deleted); paths as the Sleuth Kit's `fls -p`."""
    with _opened(image_path) as image:
        fs = _file_system(image, volume)
        entries = (e for e in walk(fs, recursive=recursive, on_problem=_report)
                   if e.deleted or not deleted)
        if as_json:
            keys = ("inode", "path", "type", "size", "deleted", "mtime", "atime", "ctime",
                    "crtime")
            rows = []
            for entry in entries:
                full = entry.to_dict()
                rows.append({key: full[key] for key in keys} | {"address": entry.address})
            print_json(rows)
            return
        for entry in entries:
            flag = "* " if entry.deleted else ""
            sys.stdout.write(f"{entry.name_type}/{entry.meta_type or '-'} {flag}"
                             f"{entry.address}:\t{entry.path}\n")


@fs_app.command("cat")
def fs_cat(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    inode: int | None = typer.Option(None, "--inode", help="Metadata address (inode, MFT entry)."),
    path: str | None = typer.Option(None, "--path", help="Path inside the file system."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
) -> None:
    """Write a file's bytes to stdout (deleted files too, where the content is still there)."""
    if (inode is None) == (path is None):
        fail("give exactly one of --inode or --path", code=2)
    with _opened(image_path) as image:
        fs = _file_system(image, volume)
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
    as_json: bool = typer.Option(False, "--json", help="Print the provenance records as JSON."),
) -> None:
    """Extract every file into OUTDIR with safe names and a provenance record per file."""
    with _opened(image_path) as image:
        fs = _file_system(image, volume)
        try:
            records = list(extract_all(fs, outdir, include_deleted=deleted, on_problem=_report))
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


@app.command("timeline")
def timeline(
    image_path: str = typer.Argument(..., metavar="IMAGE"),
    output_format: str = typer.Option("bodyfile", "--format", help="bodyfile (as fls -m)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to FILE."),
    volume: int | None = typer.Option(None, "--volume", help=VOLUME_HELP),
    prefix: str = typer.Option("/", "--prefix", help="Mount point put before every path."),
) -> None:
    """Write a timeline of the file system (TSK bodyfile, for mactime)."""
    if output_format != "bodyfile":
        fail(f"unknown format {output_format!r}: use bodyfile", code=2)
    with _opened(image_path) as image:
        fs = _file_system(image, volume)
        target = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            for line in bodyfile(fs, prefix, on_problem=_report):
                target.write(line + "\n")
        finally:
            if output:
                target.close()
