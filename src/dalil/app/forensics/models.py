"""What an examination of an exhibit's image found: one row per walked entry, with its
provenance (exhibit, volume, inode, path, ingest run), plus the runs and the bookmarks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IngestRun(models.Model):
    """One run of the ingest pipeline over an exhibit (a resumed run is a new row)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        INTERRUPTED = "interrupted", _("Interrupted")

    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="ingest_runs")
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="ingest_runs")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.RUNNING)
    actor = models.CharField(_("examiner"), max_length=150)
    tool = models.CharField(max_length=40, default="dalil")
    tool_version = models.CharField(_("tool version"), max_length=40)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    image_sha256 = models.CharField(max_length=64, blank=True)  # checked before and after
    entries = models.PositiveIntegerField(_("entries stored"), default=0)
    files_hashed = models.PositiveIntegerField(_("files hashed"), default=0)
    bytes_hashed = models.BigIntegerField(_("bytes hashed"), default=0)
    skipped = models.PositiveIntegerField(_("entries already stored"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)
    known_bad = models.PositiveIntegerField(_("known-bad files"), default=0)
    # What was walked to the end: a volume's index, or {"volume": N, "logical_volume": NAME}
    # for an LVM logical volume or APFS volume (see services.completed_volumes).
    completed_volumes = models.JSONField(default=list)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"ingest {self.pk} of {self.exhibit}"

    @property
    def finished(self) -> bool:
        return self.status != self.Status.RUNNING


class FileRecord(models.Model):
    """One entry of a file system inside an exhibit's image, as the walk found it."""

    # No index of its own: the walk-position constraint's index starts with the exhibit
    # (one index fewer to update for each of the 100,000s of rows an ingest writes).
    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="file_records", db_index=False)
    run = models.ForeignKey(IngestRun, on_delete=models.PROTECT, related_name="records")
    volume_index = models.IntegerField(_("volume"))
    volume_offset = models.BigIntegerField(_("volume offset"))  # the PV's, for an LV
    # The LVM logical volume's name ("" for a file system walked directly in the volume):
    # names are unique in a volume group and survive lvextend, unlike positions. For an
    # APFS container, the APFS volume's name (apfs.unit_names: indexed when two share one;
    # volume_offset is the container's).
    # max_length: an APFS volume's name has up to 255 bytes, and a unit name may add
    # "#index" (apfs.unit_names); LVM names have at most 127.
    logical_volume = models.CharField(_("logical volume"), max_length=300, blank=True,
                                      default="")
    fs_type = models.CharField(_("file system"), max_length=20)
    seq = models.PositiveIntegerField()  # position in the walk of its (logical) volume
    inode = models.BigIntegerField(_("inode"))
    address = models.CharField(_("address"), max_length=60)  # fls form: 13 or 4-128-4
    attr_type = models.IntegerField(null=True, blank=True)  # NTFS stream
    attr_id = models.IntegerField(null=True, blank=True)
    path = models.TextField(_("path"))  # fls -p form, no leading slash
    parent = models.TextField(_("directory"), blank=True)  # "" or "dir/sub/"
    name = models.TextField(_("name"))
    type = models.CharField(_("type"), max_length=20)  # file, directory, symlink, ...
    size = models.BigIntegerField(_("size"))
    deleted = models.BooleanField(_("deleted"), default=False)
    meta_allocated = models.BooleanField(null=True, blank=True)
    mtime = models.DateTimeField(_("modified"), null=True, blank=True)
    atime = models.DateTimeField(_("accessed"), null=True, blank=True)
    ctime = models.DateTimeField(_("changed"), null=True, blank=True)
    crtime = models.DateTimeField(_("created"), null=True, blank=True)
    md5 = models.CharField(max_length=32, null=True, blank=True)
    sha1 = models.CharField(max_length=40, null=True, blank=True)
    # No index: nothing looks a record up by its digest (hash sets are matched while
    # ingesting), and an index of random 64-character keys was a third of the time an
    # ingest spends writing its rows (0.5 s of 1.1 s for 100,000 rows).
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    bytes_read = models.BigIntegerField(default=0)
    file_type = models.CharField(_("content type"), max_length=40, blank=True)
    mime = models.CharField(max_length=100, blank=True)
    extension_mismatch = models.BooleanField(_("extension mismatch"), default=False)
    verdict = models.CharField(_("hash-set verdict"), max_length=12, blank=True)
    hash_sets = models.JSONField(default=list, blank=True)  # names of the matching sets
    error = models.TextField(_("error"), blank=True)  # content unreadable (hashes partial)
    # Set by the walk when the file's first bytes rule out every artifact parser its type
    # would call (see Parser.head): the artifact step does not read it again.
    artifacts_ruled_out = models.BooleanField(default=False)

    class Meta:
        ordering = ["volume_index", "logical_volume", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["exhibit", "volume_index", "logical_volume", "seq"],
                                    name="file_record_walk_position_unique"),
        ]
        indexes = [
            models.Index(fields=["exhibit", "volume_index", "logical_volume", "parent"],
                         name="file_record_folder_idx"),
            models.Index(fields=["exhibit", "deleted"]),
            models.Index(fields=["exhibit", "mtime"]),
        ]

    def __str__(self) -> str:
        return f"{self.exhibit}: {self.path}"

    @property
    def is_dir(self) -> bool:
        return self.type in ("directory", "virtual-directory")

    @property
    def readable(self) -> bool:
        """Content that can be read back from the image (a regular file with metadata)."""
        return self.type == "file" and self.md5 is not None

    def times(self) -> list[tuple[str, Any]]:
        return [("m", self.mtime), ("a", self.atime), ("c", self.ctime), ("b", self.crtime)]


class IngestProblem(models.Model):
    """A place the walk could not read (a damaged directory, an unopenable volume)."""

    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="ingest_problems")
    run = models.ForeignKey(IngestRun, on_delete=models.PROTECT, related_name="problems")
    volume_index = models.IntegerField(null=True, blank=True)
    volume_offset = models.BigIntegerField(null=True, blank=True)
    logical_volume = models.CharField(max_length=300, blank=True, default="")  # as FileRecord
    kind = models.CharField(max_length=20)  # directory, volume, file
    path = models.TextField(blank=True)
    inode = models.BigIntegerField(null=True, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["exhibit", "volume_index", "logical_volume", "kind",
                                            "path", "inode"], name="ingest_problem_once"),
        ]


class Bookmark(models.Model):
    """An examiner's note on a file, for the case report."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="bookmarks")
    record = models.ForeignKey(FileRecord, on_delete=models.PROTECT, related_name="bookmarks")
    note = models.TextField(_("note"), blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ParsedFile(models.Model):
    """A file the artifact parsers have read (with or without records): the resume key of
    the artifact step, written in the same transaction as the file's records."""

    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="parsed_files")
    run = models.ForeignKey(IngestRun, on_delete=models.PROTECT, related_name="parsed_files")
    record = models.OneToOneField(FileRecord, on_delete=models.PROTECT,
                                  related_name="artifact_scan")
    parsers = models.JSONField(default=list)  # names of the parsers that ran
    records = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)


class ArtifactRecord(models.Model):
    """One typed record an artifact parser found in a file of an exhibit (a web visit, a
    download, a photo's EXIF, a message, an SMS, a contact, or a parser's error)."""

    exhibit = models.ForeignKey("cases.Exhibit", on_delete=models.PROTECT,
                                related_name="artifact_records")
    run = models.ForeignKey(IngestRun, on_delete=models.PROTECT,
                            related_name="artifact_records")
    record = models.ForeignKey(FileRecord, on_delete=models.PROTECT,
                               related_name="artifact_records")
    seq = models.PositiveIntegerField()  # position among the file's records
    parser = models.CharField(_("parser"), max_length=60)
    parser_version = models.CharField(max_length=40)
    kind = models.CharField(_("kind"), max_length=40)  # browser-visit, exif, sms, ...
    event = models.CharField(_("event"), max_length=20, blank=True)  # web-visit, ... or ""
    time = models.DateTimeField(_("time"), null=True, blank=True)  # UTC; None: not placed
    description = models.TextField(_("description"), blank=True)
    data = models.JSONField(default=dict)  # the record's fields (without its source)

    class Meta:
        ordering = ["time", "id"]
        constraints = [
            models.UniqueConstraint(fields=["record", "parser", "seq"],
                                    name="artifact_record_position_unique"),
        ]
        indexes = [
            models.Index(fields=["exhibit", "kind", "time"]),
            models.Index(fields=["exhibit", "event", "time"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in {self.record}"
