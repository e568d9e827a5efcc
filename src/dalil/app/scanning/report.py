"""This app's part of the case report: the bookmarked scan findings (registered with the
cases app's report in ``ScanningConfig.ready``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from dalil.app.cases.models import Case
from dalil.app.cases.reports import BookmarkedItem
from dalil.app.scanning.models import FindingBookmark


def bookmarked_findings(case: Case) -> Iterator[BookmarkedItem]:
    marks = FindingBookmark.objects.filter(case=case).select_related("finding",
                                                                     "finding__exhibit")
    for mark in marks.order_by("created_at", "id"):
        finding = mark.finding
        details = [(_("type"), finding.type), (_("feature"), finding.feature),
                   (_("offset"), str(finding.offset))]
        if finding.feed:
            details.append((_("indicator feed"), f"{finding.feed}: {finding.indicator}"))
        if finding.context:
            details.append((_("context"), finding.context))
        yield BookmarkedItem(
            kind=_("scan finding"), exhibit=finding.exhibit.number, where=finding.where,
            note=mark.note, actor=mark.actor, created_at=mark.created_at,
            details=tuple(details))
