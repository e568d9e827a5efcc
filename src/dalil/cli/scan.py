"""``dalil scan``: find and validate features (emails, phones, cards, wallets...) in evidence."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dalil.cli.output import byte_progress, err, error, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.scan import ScanError, scan, select
from dalil.engine.scan.indicators import IndicatorError, IndicatorSet
from dalil.engine.scan.recurse import Limits
from dalil.engine.scan.runner import scan_image


def _image_media(path: Path) -> tuple[int, str] | None:
    """(media size in bytes, container) when ``path`` is a container image, else None."""
    # Imported here: the container libraries cost start-up to every scan of plain files.
    from dalil.engine.forensics.image import ImageError, open_image

    try:
        image = open_image(path)
    except (ImageError, OSError):
        return None  # not an image Dalil can open: scanned as the bytes it is
    try:
        if image.info.container in ("raw",):
            return None
        return image.size, image.info.container
    finally:
        image.close()


@app.command("scan")
def scan_command(
    input_path: Path = typer.Argument(..., metavar="INPUT",
                                      help="File, device or directory tree to scan (with "
                                           "--exhibit: a case number)."),
    outdir: Path | None = typer.Option(None, "-o", "--outdir",
                                       help="Folder for the feature files (bulk_extractor "
                                            "format)."),
    exhibit: str | None = typer.Option(
        None, "--exhibit", "-e",
        help="Scan this exhibit of case INPUT and store the findings in the case "
             "(as `dalil scan-exhibit`)."),
    scanners: str = typer.Option("all", "--scanners",
                                 help="Comma-separated feature types, or 'all'."),
    jobs: int = typer.Option(0, "-j", "--jobs", help="Worker processes (0: all cores); with "
                                 "DALIL_DASK_SCHEDULER set, the Dask cluster's workers "
                                 "scan instead."),
    engine: str = typer.Option("auto", "--engine", help="auto, hyperscan or re."),
    container_bytes: bool = typer.Option(
        False, "--container-bytes",
        help="Scan an E01/QCOW2/VMDK/VHD file's own bytes instead of the media it holds."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    indicator_files: list[Path] = typer.Option(
        [], "--indicators", metavar="FILE",
        help="STIX 2.1 bundle or MISP feed JSON of known indicators; hits that match one "
             "go to alerts.txt. Repeatable."),
    recurse: bool = typer.Option(True, "--recurse/--no-recurse",
                                 help="Decompress gzip, zlib and zip streams and scan them."),
    max_depth: int = typer.Option(5, "--max-depth",
                                  help="Nesting levels of compressed streams decompressed."),
    max_inflate: int = typer.Option(64, "--max-inflate", metavar="MIB",
                                    help="MiB of output taken from one compressed stream."),
    utf16: bool = typer.Option(True, "--utf16/--no-utf16",
                               help="Also find features written in UTF-16LE."),
    hash_source: bool = typer.Option(False, "--hash",
                                     help="Record the input's SHA-256 in report.xml."),
) -> None:
    """Scan raw bytes for features, validate each one, and write one feature file per type.

    Also writes a histogram per type, report.json and a DFXML report.xml in OUTDIR.
    `dalil scan NUMBER --exhibit E` scans a case's exhibit instead (see scan-exhibit).
    """
    if exhibit is not None:
        from dalil.cli.scan_exhibit import scan_exhibit

        scan_exhibit(str(input_path), exhibit, indicator_files=indicator_files, stop_lists=[],
                     scanners=scanners, jobs=jobs, actor=None, as_json=as_json)
        return
    if outdir is None:
        fail("give -o OUTDIR (or --exhibit E to scan a case's exhibit)", code=2)
    try:
        select(scanners)
    except ValueError as exc:
        fail(str(exc), code=2)
    if jobs < 0:
        fail("-j must be 0 (all cores) or more", code=2)
    if max_depth < 0 or max_inflate < 1:
        fail("--max-depth must be 0 or more and --max-inflate at least 1", code=2)
    if not input_path.exists():
        fail(f"cannot scan {input_path}: no such file or directory")
    indicators = None
    if indicator_files:
        try:
            indicators = IndicatorSet.load(indicator_files)
        except IndicatorError as exc:
            fail(str(exc), code=2)
    limits = Limits(max_depth=max_depth, max_size=max_inflate * 1024 * 1024,
                    max_total=max(2 * max_inflate, 128) * 1024 * 1024)
    options: dict[str, Any] = dict(
        scanners=scanners, jobs=jobs or None, engine=engine, indicators=indicators,
        recurse=recurse, limits=limits, utf16=utf16, hash_source=hash_source,
        command_line=["dalil", *sys.argv[1:]])
    media = None if container_bytes or not input_path.is_file() else _image_media(input_path)
    try:
        with byte_progress(f"scanning {input_path}", None) as advance:
            if media is None:
                summary = scan(input_path, outdir, progress=advance, **options)
            else:
                # An E01, QCOW2, VMDK, VHD(X) or split image: scan the media it holds, so
                # offsets are the disk's, not the container file's (compressed chunks).
                err.print(f"{input_path}: {media[1]} container, scanning its "
                          f"{media[0]:,} bytes of media", highlight=False, markup=False)
                summary = scan_image(input_path, outdir, container=media[1], size=media[0],
                                     progress=advance, **options)
    except (ScanError, ValueError, OSError) as exc:
        fail(str(exc))
    # Which machines scanned (the local pool, or the Dask cluster of DALIL_DASK_SCHEDULER).
    err.print(f"executor: {summary.executor}", highlight=False, markup=False, soft_wrap=True)
    for region in summary.unreadable:
        error(f"{region['path']}: {region['length']} bytes at offset {region['offset']} "
              f"could not be read ({region['error']}); skipped")
    for item in summary.skipped:
        error(f"{item['path']}: skipped ({item['reason']})")
    for note in summary.notes:
        error(f"{note['path']}: {note['message']}")
    # Exit 3 (docs/decisions.md, "Exit codes"): the feature files are kept, but the byte
    # ranges named on stderr were not scanned (a worker process died on them).
    partial = bool(summary.unscanned)
    if as_json:
        print_json(summary.to_dict())
        if partial:
            raise typer.Exit(3)
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("type")
    table.add_column("hits", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    if summary.streams:
        out.print(f"{summary.streams:,} compressed streams, {summary.bytes_decompressed:,} "
                  "bytes decompressed and scanned")
    if indicators is not None:
        out.print(f"{summary.alert_count:,} hits match a known indicator "
                  f"({len(indicators):,} indicators); see alerts.txt")
    out.print(f"{summary.bytes_scanned:,} bytes in {summary.seconds:.2f} s "
              f"({summary.mb_per_s:.1f} MB/s, {summary.engine}, {summary.executor}); "
              f"feature files in {outdir}")
    if partial:
        raise typer.Exit(3)
