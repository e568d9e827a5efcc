"""``dalil scan``: find and validate features (emails, phones, cards, wallets...) in evidence."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from dalil.cli.output import byte_progress, error, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.scan import ScanError, scan, select


@app.command("scan")
def scan_command(
    input_path: Path = typer.Argument(..., metavar="INPUT",
                                      help="File, device or directory tree to scan."),
    outdir: Path = typer.Option(..., "-o", "--outdir",
                                help="Folder for the feature files (bulk_extractor format)."),
    scanners: str = typer.Option("all", "--scanners",
                                 help="Comma-separated feature types, or 'all'."),
    jobs: int = typer.Option(0, "-j", "--jobs", help="Worker processes (0: all cores)."),
    engine: str = typer.Option("auto", "--engine", help="auto, hyperscan or re."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Scan raw bytes for features, validate each one, and write one feature file per type."""
    try:
        select(scanners)
    except ValueError as exc:
        fail(str(exc), code=2)
    if jobs < 0:
        fail("-j must be 0 (all cores) or more", code=2)
    if not input_path.exists():
        fail(f"cannot scan {input_path}: no such file or directory")
    try:
        with byte_progress(f"scanning {input_path}", None) as advance:
            summary = scan(input_path, outdir, scanners=scanners, jobs=jobs or None,
                           engine=engine, progress=advance)
    except (ScanError, ValueError, OSError) as exc:
        fail(str(exc))
    for region in summary.unreadable:
        error(f"{region['path']}: {region['length']} bytes at offset {region['offset']} "
              f"could not be read ({region['error']}); skipped")
    for item in summary.skipped:
        error(f"{item['path']}: skipped ({item['reason']})")
    if as_json:
        print_json(summary.to_dict())
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("type")
    table.add_column("hits", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"{summary.bytes_scanned:,} bytes in {summary.seconds:.2f} s "
              f"({summary.mb_per_s:.1f} MB/s, {summary.engine}, -j {summary.jobs}); "
              f"feature files in {outdir}")
