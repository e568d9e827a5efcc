"""Cases, exhibits, scene records and the chain of custody."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from dalil.engine.evidence.custody import CustodyRecord


class CaseQuerySet(models.QuerySet["Case"]):
    def visible_to(self, user: Any) -> QuerySet[Case]:
        """The cases of the user's institution and those shared with them."""
        if not user.is_authenticated:
            return self.none()
        if user.sees_all_cases:
            return self
        query = Q(shared_with=user) | Q(created_by=user)
        if user.institution_id:
            query |= Q(institution_id=user.institution_id)
        return self.filter(query).distinct()


class Case(models.Model):
    class Kind(models.TextChoices):
        REAL = "real", _("Real case")
        TRAINING = "training", _("Training")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")
        ARCHIVED = "archived", _("Archived")

    class AuthorityType(models.TextChoices):
        WARRANT = "warrant", _("Search warrant")
        CONSENT = "consent", _("Consent")
        COURT_ORDER = "court_order", _("Court order")
        PRODUCTION_ORDER = "production_order", _("Production order")
        OTHER = "other", _("Other legal basis")

    number = models.CharField(_("case number"), max_length=64, unique=True)
    title = models.CharField(_("title"), max_length=300)
    offence = models.CharField(_("offence"), max_length=300, blank=True)
    authority_type = models.CharField(
        _("legal authority"), max_length=20, choices=AuthorityType.choices, blank=True
    )
    authority_identifier = models.CharField(_("authority identifier"), max_length=120, blank=True)
    authority_issuer = models.CharField(_("issuing authority"), max_length=200, blank=True)
    authority_scope = models.TextField(_("scope of the authority"), blank=True)
    authority_valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    authority_valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    jurisdiction = models.CharField(_("jurisdiction (country)"), max_length=2, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.REAL)
    institution = models.ForeignKey(
        "accounts.Institution", on_delete=models.PROTECT, null=True, blank=True,
        related_name="cases",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="created_cases",
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_cases"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The signed head of the custody chain (engine.evidence.custody.ChainHead as a dict).
    custody_head = models.JSONField(null=True, blank=True, editable=False)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.number} — {self.title}"


class ExhibitType(models.TextChoices):
    PHONE = "phone", _("Mobile phone")
    COMPUTER = "computer", _("Computer")
    LAPTOP = "laptop", _("Laptop")
    STORAGE = "storage", _("Storage medium")
    SIM = "sim", _("SIM card")
    MEMORY_CARD = "memory_card", _("Memory card")
    ROUTER = "router", _("Router / network device")
    IMAGE = "image", _("Image file")
    CAPTURE = "capture", _("Capture")
    DOCUMENT = "document", _("Document")
    FILE = "file", _("File")
    OTHER = "other", _("Other")


class Isolation(models.TextChoices):
    NONE = "", _("Not applicable")
    FARADAY = "faraday", _("Faraday bag")
    AIRPLANE = "airplane", _("Airplane mode")
    POWERED_OFF = "powered_off", _("Powered off")


class Exhibit(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="exhibits")
    number = models.CharField(_("exhibit number"), max_length=40)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived",
        verbose_name=_("derived from"),
    )
    description = models.TextField(_("description"), blank=True)
    type = models.CharField(_("type"), max_length=20, choices=ExhibitType.choices,
                            default=ExhibitType.FILE)
    make = models.CharField(_("make"), max_length=100, blank=True)
    model = models.CharField(_("model"), max_length=100, blank=True)
    serial = models.CharField(_("serial number"), max_length=100, blank=True)
    imei = models.CharField("IMEI", max_length=20, blank=True)
    iccid = models.CharField("ICCID", max_length=22, blank=True)
    condition = models.CharField(_("condition"), max_length=300, blank=True)
    seal_number = models.CharField(_("seal number"), max_length=60, blank=True)
    seized_by = models.CharField(_("seized by"), max_length=200, blank=True)
    seized_at = models.DateTimeField(_("seized at"), null=True, blank=True)
    seized_where = models.CharField(_("seized where"), max_length=300, blank=True)
    # Device state at seizure (ACPO principle 2 and ISO/IEC 27037 §7.1.3.2).
    power_state = models.CharField(
        _("power state"), max_length=10, blank=True,
        choices=[("on", _("On")), ("off", _("Off")), ("sleep", _("Asleep")),
                 ("unknown", _("Unknown"))],
    )
    locked = models.BooleanField(_("screen locked"), null=True, blank=True)
    battery_percent = models.PositiveSmallIntegerField(_("battery %"), null=True, blank=True)
    charging = models.BooleanField(_("charging"), null=True, blank=True)
    network_indicators = models.CharField(_("network indicators"), max_length=200, blank=True)
    screen_content = models.TextField(_("what the screen showed"), blank=True)
    device_clock = models.DateTimeField(_("device clock"), null=True, blank=True)
    reference_clock = models.DateTimeField(_("real time when read"), null=True, blank=True)
    isolation_method = models.CharField(_("isolation"), max_length=12, choices=Isolation.choices,
                                        blank=True)
    isolation_justification = models.TextField(_("isolation justification"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="exhibit_number_unique_in_case")
        ]

    def __str__(self) -> str:
        return f"{self.case.number}/{self.number}"

    @property
    def root_number(self) -> str:
        """The original exhibit this one derives from: the root of E1.1.2 is E1."""
        node = self
        while node.parent_id is not None:
            node = node.parent  # type: ignore[assignment]
        return node.number

    @property
    def clock_offset_seconds(self) -> float | None:
        """Device clock minus real time (seconds); positive when the device runs ahead."""
        if self.device_clock and self.reference_clock:
            return (self.device_clock - self.reference_clock).total_seconds()
        return None

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files.all())


class ExhibitFile(models.Model):
    """The bytes of an exhibit: a blob in the store, or an image written outside it."""

    exhibit = models.ForeignKey(Exhibit, on_delete=models.PROTECT, related_name="files")
    name = models.CharField(max_length=500)  # the original name, shown, never used as a path
    size = models.BigIntegerField()  # bytes
    sha256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32, blank=True)
    sha1 = models.CharField(max_length=40, blank=True)
    in_store = models.BooleanField(default=True)
    external_path = models.TextField(blank=True)  # acquisitions too large to copy
    order = models.PositiveIntegerField(default=0)  # segment order of a split image

    class Meta:
        ordering = ["exhibit", "order", "id"]

    def hashes(self) -> dict[str, str]:
        return {k: v for k, v in (("md5", self.md5), ("sha1", self.sha1),
                                  ("sha256", self.sha256)) if v}


class ExhibitPhoto(models.Model):
    exhibit = models.ForeignKey(Exhibit, on_delete=models.PROTECT, related_name="photos")
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=60)
    caption = models.CharField(max_length=300, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)


class AcquisitionLog(models.Model):
    """What an acquisition did, as the engine reported it, signed by the installation key."""

    image_exhibit = models.OneToOneField(Exhibit, on_delete=models.PROTECT,
                                         related_name="acquisition")
    source_exhibit = models.ForeignKey(Exhibit, on_delete=models.PROTECT,
                                       related_name="acquisitions")
    examiner = models.CharField(max_length=150)
    document = models.JSONField()  # canonical log: case, exhibit, examiner, tool, result
    document_sha256 = models.CharField(max_length=64)
    key_id = models.CharField(max_length=80)
    signature = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)


class AppendOnlyError(RuntimeError):
    pass


class CustodyEntry(models.Model):
    """One sealed custody entry. Rows are only ever inserted (see save/delete)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="custody")
    seq = models.PositiveIntegerField()
    exhibit = models.ForeignKey(Exhibit, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="custody")
    exhibit_number = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=20)
    actor = models.CharField(max_length=150)
    at = models.CharField(max_length=40)  # UTC ISO 8601 exactly as signed
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=80)
    entry_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=120)

    class Meta:
        ordering = ["case", "seq"]
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="custody_seq_unique")]
        verbose_name_plural = "custody entries"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("custody entries are append-only; record a new entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("custody entries are append-only and cannot be deleted")

    def to_record(self) -> CustodyRecord:
        return CustodyRecord(
            seq=self.seq, case=self.case.number,
            exhibit=self.exhibit_number or None, action=self.action, actor=self.actor,
            at=self.at, details=self.details, prev_hash=self.prev_hash, key_id=self.key_id,
            entry_hash=self.entry_hash, signature=self.signature,
        )


class SceneRecord(models.Model):
    """The first responder's record of a scene (ACPO, ISO/IEC 27037, NIJ guide, RFC 3227)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="scenes")
    location = models.CharField(_("location"), max_length=300, blank=True)
    authority_reference = models.CharField(_("authority presented"), max_length=200, blank=True)
    arrival_at = models.DateTimeField(_("arrival time"), null=True, blank=True)
    persons_present = models.TextField(_("persons present"), blank=True,
                                       help_text=_("One per line: name, role"))
    scene_secured = models.BooleanField(_("scene secured"), null=True, blank=True)
    scene_secured_how = models.TextField(_("how the scene was secured"), blank=True)
    photographs_taken = models.BooleanField(_("photographs taken"), null=True, blank=True)
    photographs_count = models.PositiveIntegerField(_("number of photographs"), null=True,
                                                    blank=True)
    device_states_recorded = models.BooleanField(_("device states recorded"), null=True,
                                                 blank=True)
    volatile_order = models.JSONField(
        _("volatile data collected, in order"), default=list, blank=True,
        help_text=_("Items in order of volatility, e.g. memory, network state, processes"),
    )
    volatile_decision = models.CharField(
        _("volatile data decision"), max_length=12, blank=True,
        choices=[("collect", _("Collect volatile data")),
                 ("none", _("No volatile collection"))],
    )
    volatile_justification = models.TextField(_("justification"), blank=True)
    volatile_tools = models.CharField(_("tools used"), max_length=300, blank=True)
    shutdown_decision = models.CharField(
        _("computer shutdown decision"), max_length=16, blank=True,
        choices=[("left_running", _("Left running (live acquisition)")),
                 ("graceful", _("Graceful shutdown")),
                 ("pull_plug", _("Power cable pulled")),
                 ("already_off", _("Already off"))],
    )
    shutdown_justification = models.TextField(_("shutdown justification"), blank=True)
    packaging_labels = models.TextField(_("packaging and labels"), blank=True)
    non_digital_traces = models.TextField(_("non-digital traces"), blank=True,
                                          help_text=_("Fingerprints, DNA, notes with passwords"))
    recorded_by = models.CharField(_("recorded by"), max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Scene {self.pk} of {self.case.number}"
