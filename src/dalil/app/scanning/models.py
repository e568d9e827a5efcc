"""What a feature scan of an exhibit found: the runs (with their reports as blobs), one
row per hit with its provenance (run, offset or forensic path, context, matching
indicator), the case's indicator feeds and stop lists, and the examiners' bookmarks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IndicatorFeed(models.Model):
    """A STIX 2.1 bundle or MISP feed uploaded to a case; its bytes are a blob."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT,
                             related_name="indicator_feeds")
    name = models.CharField(_("name"), max_length=200)  # the uploaded file's (safe) name
    format = models.CharField(_("format"), max_length=20)  # stix2.1 or misp
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    indicators = models.PositiveIntegerField(_("indicators"), default=0)
    unsupported = models.PositiveIntegerField(_("unsupported"), default=0)
    source = models.CharField(_("source"), max_length=300, blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "name", "id"]

    def __str__(self) -> str:
        return self.name


class StopList(models.Model):
    """Features known to be noise (vendor addresses, sample card numbers), one a line;
    hits that match one are kept but hidden unless asked for."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="stop_lists")
    name = models.CharField(_("name"), max_length=200)
    sha256 = models.CharField(max_length=64)
    entries = models.PositiveIntegerField(_("entries"), default=0)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "name", "id"]


class ScanRun(models.Model):
    """One scan of an exhibit's bytes; a cancelled or interrupted run resumes (same row)
    from the last page it finished."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        PARTIAL = "partial", _("Completed with gaps")  # some pages could not be scanned
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        INTERRUPTED = "interrupted", _("Interrupted")

    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="scan_runs")
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="scan_runs")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.RUNNING)
    actor = models.CharField(_("examiner"), max_length=150)
    tool = models.CharField(max_length=40, default="dalil")
    tool_version = models.CharField(_("tool version"), max_length=40)
    options = models.JSONField(default=dict)  # scanners, page size, margin, recursion...
    source = models.JSONField(default=dict)  # container, media size, files and hashes
    feeds = models.JSONField(default=list)  # the indicator feeds used (name, sha256, count)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    bytes_total = models.BigIntegerField(_("bytes"), default=0)
    bytes_done = models.BigIntegerField(_("bytes scanned"), default=0)  # resume point
    parts = models.PositiveIntegerField(default=0)  # engine runs (1 + resumes)
    counts = models.JSONField(default=dict)  # type -> hits
    findings = models.PositiveIntegerField(_("findings"), default=0)
    alerts = models.PositiveIntegerField(_("alerts"), default=0)
    stopped = models.PositiveIntegerField(_("stopped"), default=0)
    notes = models.JSONField(default=list)  # what could not be scanned or decompressed
    # Byte ranges not scanned (a worker process died on them): offset, length, reason.
    unscanned = models.JSONField(default=list)
    report_sha256 = models.CharField(max_length=64, blank=True)  # DFXML report.xml
    features_sha256 = models.CharField(max_length=64, blank=True)  # zip of feature files
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.exhibit}"

    @property
    def finished(self) -> bool:
        return self.status != self.Status.RUNNING

    @property
    def percent(self) -> int | None:
        if not self.bytes_total:
            return None
        return min(100, int(100 * self.bytes_done / self.bytes_total))


class Finding(models.Model):
    """One validated hit, where it is in the exhibit, and the indicator it matches."""

    run = models.ForeignKey(ScanRun, on_delete=models.PROTECT, related_name="finding_rows")
    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="findings")
    type = models.CharField(_("type"), max_length=20)
    feature = models.TextField(_("feature"))  # bulk_extractor-escaped text
    offset = models.BigIntegerField(_("offset"))  # in the exhibit's (logical) bytes
    path = models.CharField(_("forensic path"), max_length=500, blank=True)  # 1234-GZIP-56
    context = models.TextField(_("context"), blank=True)
    feed = models.CharField(_("feed"), max_length=200, blank=True)
    indicator = models.CharField(_("indicator"), max_length=500, blank=True)
    stopped = models.BooleanField(_("on a stop list"), default=False)

    class Meta:
        ordering = ["offset", "id"]
        indexes = [
            models.Index(fields=["run", "type", "offset"]),
            models.Index(fields=["run", "offset"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.feature} at {self.where}"

    @property
    def where(self) -> str:
        return self.path or str(self.offset)

    @property
    def alert(self) -> bool:
        return bool(self.feed)


class FindingBookmark(models.Model):
    """An examiner's note on a finding, for the case report."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT,
                             related_name="finding_bookmarks")
    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="bookmarks")
    note = models.TextField(_("note"), blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class BlockMap(models.Model):
    """Which file holds each byte of an exhibit that is a disk image (computed once, after
    its first scan, by :func:`dalil.engine.forensics.blockmap.map_image`)."""

    exhibit = models.OneToOneField("cases.Exhibit", on_delete=models.PROTECT,
                                   related_name="block_map")
    tool_version = models.CharField(max_length=40)
    volumes = models.JSONField(default=list)  # index, offset, logical_volume, fs_type, extents
    problems = models.JSONField(default=list)  # file systems or directories not read
    extents = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class BlockRun(models.Model):
    """Bytes ``[start, end)`` of the exhibit's media are bytes of a file from
    ``file_offset`` on; the runs of one map do not overlap."""

    block_map = models.ForeignKey(BlockMap, on_delete=models.PROTECT, related_name="runs")
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    volume_index = models.IntegerField()
    # The LVM logical volume whose file system holds the file, as FileRecord names it.
    logical_volume = models.CharField(max_length=300, blank=True, default="")  # as FileRecord
    fs_type = models.CharField(max_length=20)
    inode = models.BigIntegerField()
    address = models.CharField(max_length=60)
    path = models.TextField()
    file_offset = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    slack = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["block_map", "start"])]
