"""``dalil carve``: recover files by their content from a disk image."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer
from rich.table import Table

from dalil.cli.output import byte_progress, err, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.forensics.carve import (
    AUDIT_FILE,
    FORMATS,
    MANIFEST_FILE,
    CarveError,
    CarveOptions,
    carve,
    parse_types,
)

TYPES_HELP = f"Comma-separated types to carve ({','.join(FORMATS)}); default all."


@app.command("carve")
def carve_command(
    image_path: str = typer.Argument(..., metavar="IMAGE", help="Image file (first segment)."),
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="New or empty output folder."),
    unallocated: bool = typer.Option(
        False, "--unallocated", help="Only the file systems' unallocated space (FAT, NTFS, "
        "ext2/3/4, exFAT) and the partition table's unallocated slots."),
    volume: int | None = typer.Option(
        None, "--volume", help="Only this volume (number as `dalil image info` shows it)."),
    logical: str | None = typer.Option(
        None, "--logical", help="Only this LVM logical volume (index or name, as `dalil image "
        "info` lists them) or VSS snapshot of the volume; offsets are then from its start."),
    types: str | None = typer.Option(None, "--types", help=TYPES_HELP),
    resume: bool = typer.Option(False, "--resume",
                                help="Go on with an interrupted run in OUTDIR."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Carve JPEG, PNG, GIF, PDF, ZIP/OOXML and SQLite files; keep only those that decode.

    Each valid file is written as OUTDIR/<offset>.<ext> (offset in bytes from the start
    of the image); the manifest dalil-carve.json lists every candidate, valid or not,
    with its offset, length, hashes and the image's own hashes.
    """
    try:
        chosen = parse_types(types)
    except ValueError as exc:
        fail(str(exc), code=2)
    options = CarveOptions(types=chosen, unallocated=unallocated, volume=volume,
                           logical=logical, resume=resume)
    cancel = threading.Event()
    # Ctrl-C stops at the next chunk with a checkpoint and a manifest, ready for --resume.
    previous = signal.signal(signal.SIGINT, lambda signum, frame: cancel.set())
    try:
        with byte_progress(f"carving {Path(image_path).name}", None) as advance:
            report = carve(image_path, outdir, options,
                           progress=lambda done, total: advance(done, total), cancel=cancel)
    except CarveError as exc:
        fail(str(exc))
    finally:
        signal.signal(signal.SIGINT, previous)
    document = report.to_dict()
    if as_json:
        print_json(document)
    else:
        table = Table("type", "valid", "rejected")
        for name, row in document["counts"].items():
            table.add_row(name, str(row["valid"]), str(row["rejected"]))
        out.print(table)
    err.print(f"{len(report.valid)} valid files carved into {outdir} from "
              f"{report.scanned} bytes ({report.space['mode']}); manifest "
              f"{outdir}/{MANIFEST_FILE}, audit {outdir}/{AUDIT_FILE}",
              highlight=False, markup=False, soft_wrap=True)
    for note in report.space.get("notes", []):
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    if not report.complete:
        fail(f"{outdir}: interrupted after {report.scanned} bytes; go on with "
             f"`dalil carve {image_path} {outdir} --resume` and the same options", code=130)
