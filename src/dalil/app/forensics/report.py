"""This app's part of the case report: the bookmarked files of examined images (registered
with the cases app's report in ``ForensicsConfig.ready``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from dalil.app.cases.models import Case
from dalil.app.cases.reports import BookmarkedItem
from dalil.app.forensics.models import Bookmark


def bookmarked_files(case: Case) -> Iterator[BookmarkedItem]:
    marks = Bookmark.objects.filter(case=case).select_related("record", "record__exhibit")
    for mark in marks.order_by("created_at", "id"):
        record = mark.record
        hashes = tuple((name, value) for name, value in (
            ("md5", record.md5), ("sha1", record.sha1), ("sha256", record.sha256)) if value)
        details = [(_("volume"), f"{record.volume_index} ({record.fs_type}, "
                                 f"{_('offset')} {record.volume_offset})"),
                   (_("inode"), record.address), (_("size (bytes)"), str(record.size))]
        if record.logical_volume:
            label = _("APFS volume") if record.fs_type == "apfs" else _("logical volume (LVM)")
            details.insert(1, (label, record.logical_volume))
        if record.file_type:
            details.append((_("content type"), record.file_type))
        if record.mtime:
            details.append((_("modified (UTC)"), record.mtime.strftime("%Y-%m-%d %H:%M:%S")))
        yield BookmarkedItem(
            kind=_("file"), exhibit=record.exhibit.number, where=record.path, note=mark.note,
            actor=mark.actor, created_at=mark.created_at, hashes=hashes,
            details=tuple(details), deleted=record.deleted)
