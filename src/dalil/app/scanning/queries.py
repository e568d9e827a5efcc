"""Read-only queries of the findings pages (filters, counts, histograms)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from dalil.app.cases.models import Exhibit
from dalil.app.scanning.models import Finding, ScanRun

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
