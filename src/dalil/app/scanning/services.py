"""Scanning an exhibit's bytes for features: the one place that writes scan records.

``scan_exhibit`` runs the feature scanner (:mod:`dalil.engine.scan`) over the exhibit's
stored bytes: a plain file or raw image is read directly; an E01, split raw, QCOW2, VMDK
or VHD image is read through the forensics container layer, so offsets are in the
image's logical media. Every hit of the case's indicator feeds is flagged, the case's stop
lists mark known noise. The engine writes bulk_extractor feature files; each part of the
run is then bulk-inserted as :class:`Finding` rows; at the end the feature files go to the
blob store as one zip and the DFXML report as a blob, and an ``examined`` custody entry
records the run (also when it was cancelled or failed, saying so).

Resuming: pages are scanned in order and the engine reports progress after each page, so
the last offset reported is a safe resume point: a cancelled or interrupted run keeps
what it stored and the next run of the same exhibit scans from there (same run row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dalil import __version__
from dalil.app.cases import services as cases
from dalil.app.cases.models import Case, Exhibit
from dalil.app.forensics.services import IngestError, image_path
from dalil.app.jobs import services as jobs
from dalil.app.jobs.models import Job
from dalil.app.jobs.services import JobCancelled
from dalil.app.scanning import jobs as jobs_module
from dalil.app.scanning.models import (
    BlockMap,
    BlockRun,
    Finding,
    FindingBookmark,
    IndicatorFeed,
    ScanRun,
    StopList,
)
from dalil.engine.evidence.blobstore import BlobStoreError
from dalil.engine.forensics.blockmap import map_image
from dalil.engine.forensics.extract import safe_component
from dalil.engine.forensics.image import ImageError, open_image
from dalil.engine.scan import ScanError, select
from dalil.engine.scan.indicators import IndicatorError, IndicatorSet
from dalil.engine.scan.pages import DEFAULT_MARGIN, DEFAULT_PAGE_SIZE
from dalil.engine.scan.runner import ScanSummary, scan_image

JOB_KIND = jobs_module.JOB_KIND
BATCH_SIZE = 2000
MAX_FEED_BYTES = 64 * 1024 * 1024
WHAT = ("feature scan of the exhibit's bytes (emails, URLs, domains, IPs, phones, cards, "
        "IBANs, IIN/BIN, crypto wallets, onion services, PGP, Telegram), UTF-16 and "
        "compressed streams included; hits matched against the case's indicator feeds")
_RESUMABLE = (ScanRun.Status.CANCELLED, ScanRun.Status.INTERRUPTED)


class ScanningError(Exception):
    """The scan cannot start or go on; the message names the exhibit and the reason."""


class Context(Protocol):
    """A job's JobContext, or the CLI's progress bar."""

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None: ...

    def cancelled(self) -> bool: ...


class QuietContext:
    """No progress shown, never cancelled (tests, scripts)."""

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None:
        return None

    def cancelled(self) -> bool:
        return False


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _work_dir(run: ScanRun) -> Path:
    return Path(settings.DALIL_HOME) / "scans" / f"run-{run.pk}"


# --- indicator feeds and stop lists -----------------------------------------------------------


def import_feed(case: Case, content: BinaryIO, name: str, *, actor: str) -> IndicatorFeed:
    """Store a STIX 2.1 bundle or MISP feed for the case, after checking that it reads."""
    name = safe_component(Path(name).name) or "feed.json"
    data = content.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise ScanningError(f"{name}: larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    with tempfile.TemporaryDirectory(dir=_temp_root()) as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        indicators = IndicatorSet()
        try:
            indicators.load_file(path)
        except IndicatorError as exc:
            raise ScanningError(str(exc).replace(str(path), name)) from exc
    feed = indicators.feeds()[0]
    blob = cases.blob_store().put_bytes(data)
    return IndicatorFeed.objects.create(
        case=case, name=name, format=str(feed["format"]), sha256=blob.sha256, size=blob.size,
        indicators=int(str(feed["indicators"])), unsupported=int(str(feed["unsupported"])),
        source=str(feed["source"] or "")[:300], actor=actor)


def add_stop_list(case: Case, content: BinaryIO, name: str, *, actor: str) -> StopList:
    """Store a stop list (one feature a line; ``#`` starts a comment) for the case."""
    data = content.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise ScanningError(f"{name}: larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    try:
        entries = _stop_entries(data)
    except UnicodeDecodeError as exc:
        raise ScanningError(f"{name}: not UTF-8 text") from exc
    blob = cases.blob_store().put_bytes(data)
    return StopList.objects.create(case=case, name=safe_component(Path(name).name) or "stop",
                                   sha256=blob.sha256, entries=len(entries), actor=actor)


def _stop_entries(data: bytes) -> set[str]:
    lines = data.decode("utf-8-sig").splitlines()
    return {line.split("\t", 1)[0].strip().lower() for line in lines
            if line.strip() and not line.lstrip().startswith("#")}


def stop_set(case: Case) -> set[str]:
    store = cases.blob_store()
    entries: set[str] = set()
    for item in case.stop_lists.all():
        with store.open(item.sha256) as handle:
            entries |= _stop_entries(handle.read())
    return entries


def _temp_root() -> Path:
    root = Path(settings.DALIL_HOME) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def case_indicators(case: Case) -> Iterator[tuple[IndicatorSet | None, list[dict[str, Any]]]]:
    """The case's feeds loaded (each under its own name), and what was used."""
    feeds = list(case.indicator_feeds.all())
    if not feeds:
        yield None, []
        return
    store = cases.blob_store()
    with tempfile.TemporaryDirectory(dir=_temp_root()) as folder:
        paths = []
        for index, feed in enumerate(feeds):
            path = Path(folder) / str(index) / feed.name
            path.parent.mkdir()
            path.symlink_to(store.path_for(feed.sha256))
            paths.append(path)
        try:
            indicators = IndicatorSet.load(paths)
        except IndicatorError as exc:
            raise ScanningError(f"case {case.number}: an indicator feed cannot be read: "
                                f"{exc}") from exc
        yield indicators, [{"name": f.name, "format": f.format, "sha256": f.sha256,
                            "indicators": f.indicators} for f in feeds]


# --- the scan ---------------------------------------------------------------------------------


def start_scan(exhibit: Exhibit, *, user: Any, actor: str,
               options: dict[str, Any] | None = None) -> Job:
    """Start the scan job of ``exhibit`` (or return the one already queued or running)."""
    running = Job.objects.filter(kind=JOB_KIND, params__exhibit_id=exhibit.pk,
                                 status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).first()
    if running is not None:
        return running
    return jobs.start(JOB_KIND, {"case_id": exhibit.case_id, "exhibit_id": exhibit.pk,
                                 "exhibit": exhibit.number, "actor": actor,
                                 "options": options or {}},
                      user=user, case=exhibit.case)


def resumable_run(exhibit: Exhibit) -> ScanRun | None:
    latest = ScanRun.objects.filter(exhibit=exhibit).order_by("-started_at", "-id").first()
    if latest is not None and latest.status in _RESUMABLE and \
            latest.bytes_done < latest.bytes_total:
        return latest
    return None


def scan_exhibit(exhibit: Exhibit, ctx: Context, *, actor: str, job: Job | None = None,
                 options: dict[str, Any] | None = None) -> ScanRun:
    """Scan the exhibit's bytes (resuming its cancelled or interrupted run, if any)."""
    if not exhibit.files.exists():
        raise ScanningError(f"exhibit {exhibit}: no bytes are recorded for it")
    run = resumable_run(exhibit)
    if run is not None:
        ScanRun.objects.filter(pk=run.pk).update(status=ScanRun.Status.RUNNING, error="",
                                                 job=job, ended_at=None)
        run.refresh_from_db()
    else:
        opts = {"scanners": "all", "page_size": DEFAULT_PAGE_SIZE, "margin": DEFAULT_MARGIN,
                "recurse": True, "utf16": True, "jobs": 0}
        opts.update({k: v for k, v in (options or {}).items() if k in opts})
        try:
            opts["scanners"] = ",".join(t.name for t in select(str(opts["scanners"])))
        except ValueError as exc:
            raise ScanningError(str(exc)) from exc
        run = ScanRun.objects.create(exhibit=exhibit, job=job, actor=actor,
                                     tool_version=__version__, options=opts,
                                     started_at=timezone.now())
    try:
        _scan_part(exhibit, run, ctx)
    except JobCancelled:
        _finish(run, ScanRun.Status.CANCELLED, "cancelled; scan again to resume")
        raise
    except KeyboardInterrupt:
        _finish(run, ScanRun.Status.INTERRUPTED, "interrupted; scan again to resume")
        raise
    except (ScanningError, IngestError, ImageError, ScanError, BlobStoreError,
            OSError) as exc:
        message = str(exc)
        if not message.startswith(f"exhibit {exhibit}"):
            message = f"exhibit {exhibit}: {message}"
        _finish(run, ScanRun.Status.FAILED, message)
        raise ScanningError(message) from exc
    except Exception as exc:
        _finish(run, ScanRun.Status.FAILED, f"internal error: {exc!r}")
        raise
    ensure_block_map(exhibit)
    run.refresh_from_db()
    if run.unscanned:
        _finish(run, ScanRun.Status.PARTIAL,
                f"{len(run.unscanned)} byte ranges could not be scanned (a worker process "
                "died on them); every other hit is kept")
    else:
        _finish(run, ScanRun.Status.SUCCEEDED, "")
    return run


class _Stop(Exception):
    """Raised from the engine's progress callback when the user cancelled."""


def _scan_part(exhibit: Exhibit, run: ScanRun, ctx: Context) -> None:
    """One engine run from ``run.bytes_done`` to the end; findings stored as it stops."""
    opts = run.options
    part = run.parts + 1
    outdir = _work_dir(run) / f"part-{part}"
    if outdir.exists():
        shutil.rmtree(outdir)
    ScanRun.objects.filter(pk=run.pk).update(parts=part)
    run.parts = part
    start = run.bytes_done
    label = f"{exhibit.case.number}/{exhibit.number}"
    done = [start]

    def progress(bytes_done: int, total: int) -> None:
        done[0] = bytes_done
        ctx.progress(bytes_done, total, f"scanning {label}", stop_if_cancelled=False)
        if ctx.cancelled():
            raise _Stop

    common: dict[str, Any] = {
        "scanners": opts["scanners"], "jobs": int(opts.get("jobs") or 0) or None,
        "page_size": int(opts["page_size"]), "margin": int(opts["margin"]),
        "recurse": bool(opts["recurse"]), "utf16": bool(opts["utf16"]),
        "progress": progress, "start": start,
        "command_line": ["dalil", "scan", exhibit.case.number, "--exhibit", exhibit.number],
    }
    stopped = False
    summary: ScanSummary | None = None
    with case_indicators(exhibit.case) as (indicators, feeds), image_path(exhibit) as path:
        image = open_image(path)
        try:
            source = {"container": image.info.container, "size": image.size,
                      "files": [{"name": f.name, "size": f.size, "sha256": f.sha256}
                                for f in exhibit.files.order_by("order", "id")]}
        finally:
            image.close()
        ScanRun.objects.filter(pk=run.pk).update(source=source, feeds=feeds,
                                                 bytes_total=image.size)
        run.source, run.feeds, run.bytes_total = source, feeds, image.size
        try:
            summary = scan_image(path, outdir, container=image.info.container,
                                 size=image.size, name=label, indicators=indicators,
                                 **common)
        except _Stop:
            stopped = True
    # The engine wrote the feature files of every page it finished, also when stopped.
    stored = _store_findings(run, outdir, stop_set(exhibit.case))
    notes = list(run.notes)
    if summary is not None:
        notes += summary.notes + [{"path": str(r["path"]), "message":
                                   f"{r['length']} bytes at offset {r['offset']} unreadable: "
                                   f"{r['error']}"} for r in summary.unreadable]
    run.bytes_done = run.bytes_total if summary is not None else done[0]
    run.notes = notes[:1000]
    if summary is not None and summary.unscanned:
        run.unscanned = list(run.unscanned) + [
            {"offset": r["offset"], "length": r["length"], "reason": r["reason"]}
            for r in summary.unscanned]
    for key, value in stored.items():
        setattr(run, key, getattr(run, key) + value if key != "counts" else
                dict(Counter(run.counts) + Counter(value)))
    run.save(update_fields=["bytes_done", "notes", "unscanned", "findings", "alerts",
                            "stopped", "counts"])
    if stopped:
        raise JobCancelled()


_FORENSIC_PATH = re.compile(r"(\d+)")


def _store_findings(run: ScanRun, outdir: Path, stop: set[str]) -> dict[str, Any]:
    """Bulk-insert the hits of one part from its feature files (and alerts.txt)."""
    alerts: dict[tuple[str, str, str], tuple[str, str]] = {}
    alerts_file = outdir / "alerts.txt"
    if alerts_file.is_file():
        for line in _lines(alerts_file):
            cells = line.split("\t")
            if len(cells) >= 6:
                alerts.setdefault((cells[3], cells[0], cells[1]), (cells[4], cells[5]))
    counts: Counter[str] = Counter()
    n_alerts = n_stopped = 0
    batch: list[Finding] = []
    for ftype in select(run.options["scanners"]):
        path = outdir / ftype.filename
        if not path.is_file():
            continue
        for line in _lines(path):
            cells = line.split("\t")
            if len(cells) < 2:
                continue
            where, feature = cells[0], cells[1]
            context = cells[2] if len(cells) > 2 else ""
            match = _FORENSIC_PATH.match(where)
            if match is None:
                continue
            feed, indicator = alerts.get((ftype.name, where, feature), ("", ""))
            is_stopped = feature.lower() in stop
            batch.append(Finding(run=run, exhibit_id=run.exhibit_id, type=ftype.name,
                                 feature=feature, offset=int(match.group(1)),
                                 path="" if where.isdigit() else where[:500],
                                 context=context, feed=feed[:200], indicator=indicator[:500],
                                 stopped=is_stopped))
            counts[ftype.name] += 1
            n_alerts += bool(feed)
            n_stopped += is_stopped
            if len(batch) >= BATCH_SIZE:
                _insert(batch)
    _insert(batch)
    return {"counts": dict(counts), "findings": sum(counts.values()), "alerts": n_alerts,
            "stopped": n_stopped}


def _insert(batch: list[Finding]) -> None:
    if batch:
        with transaction.atomic():
            Finding.objects.bulk_create(batch, batch_size=BATCH_SIZE)
        batch.clear()


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            line = line.rstrip("\n")
            if line:
                yield line


def _merge_outputs(run: ScanRun) -> tuple[bytes, bytes]:
    """The zip of the run's feature files (the parts of a resumed run put end to end, the
    histograms summed) and its DFXML report (the last part's)."""
    root = _work_dir(run)
    parts = sorted((p for p in root.glob("part-*") if p.is_dir()),
                   key=lambda p: int(p.name.split("-")[1]))
    buffer = io.BytesIO()
    report = b""
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        names = sorted({f.name for part in parts for f in part.iterdir() if f.is_file()})
        for name in names:
            present = [part / name for part in parts if (part / name).is_file()]
            if name.endswith(("report.xml", "report.json")):
                for index, path in enumerate(present, 1):
                    target = name if len(present) == 1 else \
                        f"{name.rsplit('.', 1)[0]}-part-{index}.{name.rsplit('.', 1)[1]}"
                    archive.write(path, target)
                if name == "report.xml":
                    report = present[-1].read_bytes()
            elif name.endswith("_histogram.txt") and len(present) > 1:
                archive.writestr(name, _sum_histograms(present))
            else:
                archive.writestr(name, _concatenate(present))
    return buffer.getvalue(), report


def _concatenate(paths: list[Path]) -> bytes:
    out = bytearray(paths[0].read_bytes())
    for path in paths[1:]:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.startswith(b"#"):
                    out += line
    return bytes(out)


def _sum_histograms(paths: list[Path]) -> bytes:
    header: list[str] = []
    total: Counter[str] = Counter()
    for index, path in enumerate(paths):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                if index == 0:
                    header.append(line)
                continue
            count, _, feature = line.partition("\t")
            total[feature] += int(count.removeprefix("n="))
    rows = [f"n={n}\t{feature}" for feature, n in
            sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ("\n".join([*header, *rows]) + "\n").encode("utf-8")


def _files_intact(exhibit: Exhibit) -> bool:
    """The exhibit's files still hash to their recorded SHA-256 (checked after the scan)."""
    store = cases.blob_store()
    for item in exhibit.files.all():
        digest = hashlib.sha256()
        try:
            handle = store.open(item.sha256) if item.in_store else open(  # noqa: SIM115
                item.external_path, "rb")
        except (OSError, BlobStoreError):
            return False
        with handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != item.sha256:
            return False
    return True


def _finish(run: ScanRun, status: str, error: str) -> None:
    run.refresh_from_db()
    run.status = status
    run.error = error
    run.ended_at = timezone.now()
    fields = ["status", "error", "ended_at"]
    if status in (ScanRun.Status.SUCCEEDED, ScanRun.Status.PARTIAL):
        archive, report = _merge_outputs(run)
        store = cases.blob_store()
        run.features_sha256 = store.put_bytes(archive).sha256
        if report:
            run.report_sha256 = store.put_bytes(report).sha256
        fields += ["features_sha256", "report_sha256"]
        shutil.rmtree(_work_dir(run), ignore_errors=True)
    run.save(update_fields=fields)
    exhibit = run.exhibit
    intact = _files_intact(exhibit)
    outcome = "completed" if status == ScanRun.Status.SUCCEEDED else \
        f"completed with gaps: {error}" if status == ScanRun.Status.PARTIAL else \
        f"{status}: {error}"
    cases.record_custody(exhibit.case, exhibit, "examined", run.actor, {
        "tool": run.tool, "tool_version": run.tool_version, "what": WHAT,
        "started_at": _iso(run.started_at), "ended_at": _iso(run.ended_at),
        "result": f"{outcome}; {result_text(run)}", "scan_run": run.pk,
        "bytes_scanned": run.bytes_done, "bytes_total": run.bytes_total,
        "indicator_feeds": [f["name"] for f in run.feeds],
        "report_sha256": run.report_sha256 or None,
        "features_sha256": run.features_sha256 or None,
        "evidence_intact_after": intact,
    })


def result_text(run: ScanRun) -> str:
    return (f"{run.findings} findings ({run.alerts} matching a known indicator, "
            f"{run.stopped} on a stop list), {run.bytes_done} of {run.bytes_total} bytes "
            "scanned")


def summary(run: ScanRun) -> dict[str, Any]:
    return {
        "run": run.pk, "case": run.exhibit.case.number, "exhibit": run.exhibit.number,
        "status": run.status, "tool": run.tool, "tool_version": run.tool_version,
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at) if run.ended_at else None,
        "bytes_total": run.bytes_total, "bytes_scanned": run.bytes_done, "parts": run.parts,
        "container": run.source.get("container"), "counts": run.counts,
        "findings": run.findings, "alerts": run.alerts, "stopped": run.stopped,
        "indicator_feeds": run.feeds, "notes": run.notes, "unscanned": run.unscanned,
        "error": run.error,
        "report_sha256": run.report_sha256, "features_sha256": run.features_sha256,
        "summary": result_text(run),
    }


# --- which file holds an offset ---------------------------------------------------------------


def ensure_block_map(exhibit: Exhibit) -> BlockMap | None:
    """The exhibit's block map, computed and stored the first time (after its first scan):
    which file of which volume holds each byte. An exhibit without a readable file system
    gets an empty map (every offset then shows as unallocated, with the problem noted); an
    error while mapping never fails the scan (``None``, tried again after the next one)."""
    existing = BlockMap.objects.filter(exhibit=exhibit).first()
    if existing is not None and not _mapped_before_logical_volumes(existing):
        return existing
    try:
        with image_path(exhibit) as path:
            image = open_image(path)
            try:
                blocks = map_image(image)
            finally:
                image.close()
    except (IngestError, ImageError, OSError, BlobStoreError):
        return None
    with transaction.atomic():
        if existing is not None:  # derived data only: findings point at offsets, not runs
            BlockRun.objects.filter(block_map=existing).delete()
            existing.delete()
        stored = BlockMap.objects.create(exhibit=exhibit, tool_version=__version__,
                                         volumes=blocks.volumes, problems=blocks.problems[:200],
                                         extents=len(blocks.extents))
        batch = [BlockRun(block_map=stored, start=e.start, end=e.end,
                          volume_index=e.volume_index, logical_volume=e.logical_volume,
                          fs_type=e.fs_type, inode=e.inode,
                          address=e.address[:60], path=e.path, file_offset=e.file_offset,
                          deleted=e.deleted, slack=e.slack) for e in blocks.extents]
        BlockRun.objects.bulk_create(batch, batch_size=BATCH_SIZE)
    return stored


def _mapped_before_logical_volumes(block_map: BlockMap) -> bool:
    """A map made before LVM logical volumes were mapped (its volumes do not say which
    LV): hits inside an LV would show as unallocated for ever, so it is made again."""
    return any("logical_volume" not in volume for volume in block_map.volumes)


# --- bookmarks --------------------------------------------------------------------------------


def add_bookmark(finding: Finding, note: str, *, user: Any, actor: str) -> FindingBookmark:
    return FindingBookmark.objects.create(case=finding.exhibit.case, finding=finding,
                                          note=note.strip(), user=user, actor=actor)
