"""Read-only queries of the findings pages (filters, counts, histograms)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import Count, Q, QuerySet

from dalil.app.cases.models import Exhibit
from dalil.app.forensics.models import FileRecord
from dalil.app.scanning.models import BlockMap, BlockRun, Finding, ScanRun

HISTOGRAM_ROWS = 20


def runs(exhibit: Exhibit) -> QuerySet[ScanRun]:
    return ScanRun.objects.filter(exhibit=exhibit).order_by("-started_at", "-id")


def findings(run: ScanRun, data: dict[str, Any]) -> QuerySet[Finding]:
    rows = Finding.objects.filter(run=run)
    if not data.get("stopped"):
        rows = rows.filter(stopped=False)
    if data.get("type"):
        rows = rows.filter(type=data["type"])
    if data.get("alerts"):
        rows = rows.exclude(feed="")
    if text := (data.get("q") or "").strip():
        rows = rows.filter(Q(feature__icontains=text) | Q(context__icontains=text))
    return rows.order_by("offset", "id")


def type_counts(run: ScanRun, data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = Finding.objects.filter(run=run)
    if not data.get("stopped"):
        rows = rows.filter(stopped=False)
    counts: list[dict[str, Any]] = [
        dict(row) for row in rows.values("type").annotate(
            n=Count("id"), alerts=Count("id", filter=~Q(feed=""))).order_by("-n", "type")]
    top = max((c["n"] for c in counts), default=0)
    for item in counts:
        item["width"] = round(100 * item["n"] / top) if top else 0
    return counts


def histogram(rows: QuerySet[Finding]) -> list[dict[str, Any]]:
    """The most frequent features of ``rows`` with their counts (bulk_extractor's
    ``<type>_histogram.txt``)."""
    counts: list[dict[str, Any]] = [
        dict(row) for row in rows.order_by().values("feature").annotate(n=Count("id"))
        .order_by("-n", "feature")[:HISTOGRAM_ROWS]]
    top = counts[0]["n"] if counts else 0
    for item in counts:
        item["width"] = round(100 * item["n"] / top) if top else 0
    return counts


def highlighted(finding: Finding) -> tuple[str, str, str]:
    """The context cut around the feature (before, feature, after), for highlighting."""
    at = finding.context.find(finding.feature)
    if at < 0:
        return finding.context, "", ""
    end = at + len(finding.feature)
    return finding.context[:at], finding.context[at:end], finding.context[end:]


EXPORT_HEADER = ["offset", "forensic_path", "type", "feature", "context", "feed",
                 "indicator", "stop_list"]


def export_rows(rows: QuerySet[Finding]) -> tuple[list[str], Iterator[Sequence[Any]]]:
    """The columns and rows of a findings export (read in chunks, values unescaped)."""
    def values() -> Iterator[Sequence[Any]]:
        for f in rows.iterator(chunk_size=2000):
            yield [f.offset, f.path, f.type, f.feature, f.context, f.feed, f.indicator,
                   "yes" if f.stopped else ""]
    return list(EXPORT_HEADER), values()


def locations(exhibit: Exhibit, offsets: Sequence[int]) -> dict[int, dict[str, Any]] | None:
    """Where each offset is, when the exhibit's block map is computed and a file system
    was read in it (else ``None``):
    ``{"run": BlockRun, "file_offset": int, "record": FileRecord | None}`` for an offset a
    file holds, ``{}`` for unallocated space. The ingested file (FileRecord) is the one of
    the latest ingest with the same volume, LVM logical volume, inode and path."""
    block_map = BlockMap.objects.filter(exhibit=exhibit).first()
    if block_map is None or not block_map.volumes:
        return None  # not mapped yet, or no file system read: nothing to say
    found: dict[int, dict[str, Any]] = {}
    records: dict[tuple[int, str, int, str], FileRecord | None] = {}
    for offset in sorted(set(offsets)):
        run = (BlockRun.objects.filter(block_map=block_map, start__lte=offset)
               .order_by("-start").first())
        if run is None or run.end <= offset:
            found[offset] = {}
            continue
        key = (run.volume_index, run.logical_volume, run.inode, run.path)
        if key not in records:
            # Two LVs of one PV share its volume index and may hold the same inode and path.
            records[key] = (FileRecord.objects.filter(
                exhibit=exhibit, volume_index=run.volume_index,
                logical_volume=run.logical_volume, inode=run.inode,
                path=run.path).order_by("-run_id", "-id").first())
        found[offset] = {"run": run, "file_offset": run.file_offset + offset - run.start,
                         "record": records[key]}
    return found
