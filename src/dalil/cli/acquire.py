"""`dalil acquire`: image a device or file into raw, split raw or E01, hashed and verified."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import typer

from dalil.cli.output import byte_progress, err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import default_actor, django_ready
from dalil.engine.evidence import acquisition as engine
from dalil.engine.evidence.hashing import parse_algorithms

MIB = 1024 * 1024


@app.command("acquire")
def acquire(
    source: Path = typer.Argument(..., help="Block device or file to image (opened read-only)"),
    case: str = typer.Option(..., "--case", help="Case number"),
    exhibit: str = typer.Option(..., "--exhibit", help="The source exhibit, e.g. E1"),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the image and its logs"),
    format_: str = typer.Option("raw", "--format", help="raw, split or e01"),
    segment_size: int = typer.Option(2048, "--segment-size", help="Segment size in MiB"),
    algorithms: str = typer.Option("md5,sha256", "-a", "--algorithms"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted acquisition"),
    checkpoint_mib: int = typer.Option(64, "--checkpoint-mib", hidden=True),
    actor: str | None = typer.Option(None, "--actor"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """Acquire SOURCE as a derived exhibit (E1 -> E1.1) with its own custody chain."""
    try:
        chosen = parse_algorithms(algorithms)
    except ValueError as exc:
        fail(str(exc), 2)
    if format_ not in ("raw", "split", "e01"):
        fail(f"--format must be raw, split or e01, not {format_!r}", 2)
    if not source.exists():
        fail(f"{source}: no such file or device")
    django_ready()
    from dalil.app.cases import services

    who = actor or default_actor()
    try:
        the_case = services.get_case(case)
        source_exhibit = _source_exhibit(services, the_case, exhibit, source, who)
    except services.CaseError as exc:
        fail(str(exc))
    basename = services.next_derived_number(source_exhibit)
    out_dir.mkdir(parents=True, exist_ok=True)
    request = engine.AcquisitionRequest(
        source=source, out_dir=out_dir, basename=basename, format=format_,  # type: ignore[arg-type]
        segment_size=segment_size * MIB, algorithms=chosen, resume=resume,
        checkpoint_interval=checkpoint_mib * MIB,
        metadata={"case_number": the_case.number, "evidence_number": basename,
                  "examiner": who, "description": f"image of exhibit {exhibit}"},
    )
    interrupted = _cancel_on_sigint()
    try:
        with byte_progress(f"acquiring {source.name} -> {basename}", None,
                           quiet=json_) as advance:
            result = engine.acquire(request, progress=advance, cancel=lambda: interrupted[0])
    except engine.AcquisitionCancelled:
        fail(f"acquisition of {source} interrupted; a checkpoint was kept in {out_dir}: "
             "re-run the same command with --resume", 130)
    except (engine.AcquisitionError, ValueError, OSError) as exc:
        fail(f"acquisition of {source} failed: {exc}")
    log = services.record_acquisition(the_case, source_exhibit, result.to_dict(), who,
                                      number=basename)
    log_path = out_dir / f"{basename}.acquisition-log.json"
    log_path.write_text(json.dumps(services.signed_log_document(log), indent=2))
    _report(result, basename, exhibit, log_path, json_)
    if not result.verified:
        raise typer.Exit(1)


def _source_exhibit(services: Any, case: Any, number: str, source: Path, who: str) -> Any:
    try:
        return services.get_exhibit(case, number)
    except services.CaseError:
        err.print(f"exhibit {number} is new in case {case.number}: recording it as the source")
        kind = "storage" if source.is_block_device() else "file"
        return services.add_exhibit(case, number=number, actor=who, type=kind,
                                    description=f"source of acquisition: {source}")


def _cancel_on_sigint() -> list[bool]:
    # Ctrl-C asks the engine to stop at the next chunk with a checkpoint, not mid-write.
    flag = [False]

    def handler(signum: int, frame: object) -> None:
        flag[0] = True

    if os.name == "posix":
        signal.signal(signal.SIGINT, handler)
    return flag


def _report(result: engine.AcquisitionResult, image: str, source: str, log_path: Path,
            json_: bool) -> None:
    document = {
        "exhibit": image,
        "source_exhibit": source,
        "image": result.image_paths,
        "size": result.size,
        "format": result.format,
        "hashes": result.hashes,
        "segment_hashes": result.segment_hashes,
        "verified": result.verified,
        "verification": result.verification,
        "errors": result.errors,
        "resumed_from": result.resumed_from,
        "log": str(log_path),
    }
    if json_:
        print_json(document)
        return
    out.print(f"exhibit [bold]{image}[/] ({result.format}, {result.size} bytes)")
    for name, value in result.hashes.items():
        out.print(f"  {name:8} {value}")
    for path in result.image_paths:
        out.print(f"  image    {path}")
    if result.errors:
        err.print(f"[yellow]{len(result.errors)} unreadable range(s) zero-filled:[/]")
        for e in result.errors:
            err.print(f"  offset {e['offset']} length {e['length']}")
    state = "[green]verified[/]" if result.verified else "[bold red]NOT verified[/]"
    err.print(f"{state}; signed log: {log_path}")
