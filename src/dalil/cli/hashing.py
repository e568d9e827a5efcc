"""``dalil hash``: hash files and block devices with several algorithms in one pass."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dalil.cli.output import byte_progress, error, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.evidence.hashing import (
    DEFAULT_ALGORITHMS,
    HashingError,
    HashResult,
    hash_file,
    parse_algorithms,
)


@app.command("hash")
def hash_command(
    paths: list[str] = typer.Argument(
        ..., help="Files or block devices to hash.", metavar="PATH..."
    ),
    algorithms: str = typer.Option(
        ",".join(DEFAULT_ALGORITHMS),
        "-a",
        "--algorithms",
        help="Comma-separated: md5, sha1, sha256, sha512, sha3_256, blake2b.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Hash files or devices, reading each once whatever the number of algorithms."""
    try:
        names = parse_algorithms(algorithms)
    except ValueError as exc:
        fail(str(exc), code=2)

    results: list[HashResult] = []
    failed = False
    for path in paths:
        try:
            with byte_progress(f"hashing {path}", None) as advance:
                results.append(hash_file(path, names, progress=advance))
        except HashingError as exc:
            # Report and go on: one unreadable exhibit must not hide the others' hashes.
            error(str(exc))
            failed = True

    if as_json:
        print_json([r.to_dict() for r in results])
    elif results:
        table = _table(results, names)
        if out.is_terminal:
            out.print(table)
        else:
            # Piped or redirected: no 80-column limit, so that no digest is ever folded.
            Console(file=out.file, width=_natural_width(results, names)).print(table)
    if failed:
        raise typer.Exit(1)


def _table(results: list[HashResult], names: tuple[str, ...]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("path", overflow="fold")
    table.add_column("size (bytes)", justify="right")
    table.add_column("algorithm")
    # Never truncate a digest with an ellipsis: a hash that cannot be copied whole is useless.
    table.add_column("digest", overflow="fold", no_wrap=False)
    for result in results:
        first = True
        for name in names:
            cells: list[Any] = [result.path, f"{result.size:,}"] if first else ["", ""]
            table.add_row(*cells, name, result.hashes[name])
            first = False
        table.add_section()
    return table


def _natural_width(results: list[HashResult], names: tuple[str, ...]) -> int:
    path = max(len("path"), *(len(r.path) for r in results))
    size = max(len("size (bytes)"), *(len(f"{r.size:,}") for r in results))
    algorithm = max(len("algorithm"), *(len(n) for n in names))
    digest = max(len(r.hashes[n]) for r in results for n in names)
    return path + size + algorithm + digest + 4 * 3 + 1
