"""Forms of the case pages: they parse and validate input; the services write the records."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from dalil.app.cases.models import Case, Exhibit, SceneRecord
from dalil.engine.evidence.custody import ACTIONS
from dalil.engine.evidence.scene import VOLATILITY

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format=DATETIME_FORMAT)


def _datetime_widgets(model: type[Any], names: list[str]) -> dict[str, forms.Widget]:
    widgets: dict[str, forms.Widget] = {}
    for name in names:
        if model._meta.get_field(name).get_internal_type() == "DateTimeField":
            widgets[name] = DateTimeInput()
    return widgets


CASE_FIELDS = [
    "number", "title", "offence", "kind", "jurisdiction", "authority_type",
    "authority_identifier", "authority_issuer", "authority_scope", "authority_valid_from",
    "authority_valid_until",
]


class CaseForm(forms.ModelForm[Case]):
    class Meta:
        model = Case
        fields = CASE_FIELDS
        widgets = {
            **_datetime_widgets(Case, CASE_FIELDS),
            "authority_scope": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_jurisdiction(self) -> str:
        value = str(self.cleaned_data.get("jurisdiction") or "").strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError(_("Use a two-letter country code, e.g. KZ."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("authority_valid_from"), data.get("authority_valid_until")
        if start and end and end < start:
            self.add_error("authority_valid_until",
                           _("The authority cannot end before it starts."))
        return data


# --- scene record ----------------------------------------------------------------------------

SCENE_FORM_FIELDS = [
    "location", "authority_reference", "arrival_at", "persons_present", "scene_secured",
    "scene_secured_how", "photographs_taken", "photographs_count", "device_states_recorded",
    "volatile_decision", "volatile_order", "volatile_justification", "volatile_tools",
    "shutdown_decision", "shutdown_justification", "packaging_labels", "non_digital_traces",
]


class VolatileOrderField(forms.CharField):
    """The volatile items collected, in the order collected: comma-separated RFC 3227 keys."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        text = super().to_python(value) or ""
        return [item.strip().lower().replace(" ", "_") for item in text.split(",")
                if item.strip()]

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        unknown = [item for item in value if item not in VOLATILITY]
        if unknown:
            raise forms.ValidationError(
                _("Unknown volatile item(s): %(unknown)s. Use: %(known)s."),
                params={"unknown": ", ".join(unknown), "known": ", ".join(VOLATILITY)},
                code="unknown",
            )
        if len(set(value)) != len(value):
            raise forms.ValidationError(_("Name each volatile item once."), code="duplicate")


class SceneForm(forms.ModelForm[SceneRecord]):
    volatile_order = VolatileOrderField(
        label=_("volatile data collected, in order"), required=False,
        help_text=_("Comma-separated, most volatile first, from: %(keys)s")
        % {"keys": ", ".join(VOLATILITY)},
        widget=forms.TextInput(attrs={"list": "volatility-keys", "autocomplete": "off"}),
    )

    class Meta:
        model = SceneRecord
        fields = SCENE_FORM_FIELDS
        widgets = {
            **_datetime_widgets(SceneRecord, SCENE_FORM_FIELDS),
            **{name: forms.Textarea(attrs={"rows": 2}) for name in (
                "persons_present", "scene_secured_how", "volatile_justification",
                "shutdown_justification", "packaging_labels", "non_digital_traces")},
        }

    def values(self) -> dict[str, Any]:
        """The cleaned values, for services.save_scene."""
        return {name: self.cleaned_data[name] for name in SCENE_FORM_FIELDS
                if name in self.cleaned_data}


# --- exhibits --------------------------------------------------------------------------------

EXHIBIT_FIELDS = [
    "number", "type", "description", "make", "model", "serial", "imei", "iccid", "condition",
    "seal_number", "seized_by", "seized_at", "seized_where", "power_state", "locked",
    "battery_percent", "charging", "network_indicators", "screen_content", "device_clock",
    "reference_clock", "isolation_method", "isolation_justification",
]


class ExhibitForm(forms.ModelForm[Exhibit]):
    evidence = forms.FileField(
        label=_("evidence file"), required=False,
        help_text=_("Optional. Streamed to the evidence store and hashed (MD5, SHA-1, SHA-256)."),
    )

    class Meta:
        model = Exhibit
        fields = EXHIBIT_FIELDS
        widgets = {
            **_datetime_widgets(Exhibit, EXHIBIT_FIELDS),
            "description": forms.Textarea(attrs={"rows": 2}),
            "screen_content": forms.Textarea(attrs={"rows": 2}),
            "isolation_justification": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case = case

    def clean_number(self) -> str:
        number = str(self.cleaned_data["number"]).strip()
        if self.case.exhibits.filter(number=number).exists():
            raise forms.ValidationError(_("This case already has an exhibit with that number."))
        return number

    def validate_unique(self) -> None:
        """Uniqueness within the case is checked in clean_number (the case is not a field)."""

    def fields_for_service(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in EXHIBIT_FIELDS if name != "number"}


# --- custody ---------------------------------------------------------------------------------

# Recorded by hand from an exhibit's page; created/acquired/verified are written by the system.
MANUAL_ACTIONS = [a for a in ACTIONS if a not in ("created", "acquired", "verified")]

ACTION_LABELS = {
    "seized": _("Seized"), "sealed": _("Sealed"), "transferred": _("Transferred"),
    "accessed": _("Accessed"), "examined": _("Examined"), "exported": _("Exported"),
    "imported": _("Imported"), "returned": _("Returned"), "destroyed": _("Destroyed"),
    "note": _("Note"), "created": _("Created"), "acquired": _("Acquired"),
    "verified": _("Verified"),
}

DETAIL_LABELS = {
    "seized_by": _("seized by"), "place": _("place"), "seal_number": _("seal number"),
    "released_by": _("released by"), "received_by": _("received by"), "purpose": _("purpose"),
    "seal_intact": _("seal intact"), "tool": _("tool"), "tool_version": _("tool version"),
    "what": _("what was examined"), "started_at": _("started at"), "ended_at": _("ended at"),
    "result": _("result"), "format": _("format"), "destination": _("destination"),
    "source": _("source"), "returned_to": _("returned to"), "method": _("method"),
    "authorised_by": _("authorised by"), "text": _("text"),
}


def detail_names() -> list[str]:
    names: list[str] = []
    for action in MANUAL_ACTIONS:
        names.extend(n for n in ACTIONS[action] if n not in names)
    return names


class CustodyForm(forms.Form):
    action = forms.ChoiceField(
        label=_("action"),
        choices=[(a, ACTION_LABELS.get(a, a)) for a in MANUAL_ACTIONS],
        widget=forms.Select(attrs={"data-custody-action": ""}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in detail_names():
            field: forms.Field
            if name == "seal_intact":
                field = forms.TypedChoiceField(
                    choices=[("", "—"), ("yes", _("Yes")), ("no", _("No"))],
                    coerce=lambda v: v == "yes", empty_value=None, required=False)
            elif name in ("text", "result", "what"):
                field = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                                        required=False, max_length=4000)
            else:
                field = forms.CharField(required=False, max_length=300)
            field.label = DETAIL_LABELS.get(name, name.replace("_", " "))
            self.fields[name] = field

    def detail_fields(self) -> list[tuple[forms.BoundField, str]]:
        """Each detail field with the actions (space-separated) that require it."""
        return [
            (self[name], " ".join(a for a in MANUAL_ACTIONS if name in ACTIONS[a]))
            for name in detail_names()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action:
            for name in ACTIONS[action]:
                if data.get(name) in (None, ""):
                    self.add_error(name, _("Required for this action."))
        return data

    def details(self) -> dict[str, Any]:
        action = self.cleaned_data["action"]
        return {name: self.cleaned_data[name] for name in ACTIONS[action]}


class PhotoForm(forms.Form):
    photo = forms.FileField(label=_("photograph"),
                            help_text=_("JPEG, PNG, GIF or WebP."))
    caption = forms.CharField(label=_("caption"), max_length=300, required=False)


# The image formats accepted as exhibit photographs, recognised by their first bytes (the
# browser's declared content type is not trusted: an SVG or HTML "photo" could run script).
IMAGE_SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def sniff_image_type(head: bytes) -> str | None:
    for signature, content_type in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class AcquisitionForm(forms.Form):
    """Image a block device (or a file dropped into DALIL_HOME/incoming) as a background job."""

    source = forms.CharField(
        label=_("Source"), max_length=500, required=False,
        help_text=_("A block device such as /dev/sdb, or a file in DALIL_HOME/incoming"),
    )
    from_store = forms.BooleanField(
        label=_("Image the bytes stored for this exhibit"), required=False,
        help_text=_("For a device image already in the evidence store, such as the USB "
                    "stick of a training lab: a working copy, hashed and verified"),
    )
    format = forms.ChoiceField(label=_("Format"), choices=[
        ("raw", _("Raw (dd)")), ("split", _("Split raw")), ("e01", _("EWF (E01)"))])
    segment_mib = forms.IntegerField(label=_("Segment size (MiB)"), min_value=1,
                                     initial=2048)
    algorithms = forms.MultipleChoiceField(
        label=_("Hashes"), initial=["md5", "sha256"], widget=forms.CheckboxSelectMultiple,
        choices=[(name, name) for name in ("md5", "sha1", "sha256", "sha512")],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("from_store") and not data.get("source") and "source" not in self.errors:
            self.add_error("source", _("Give a source, or image the stored bytes."))
        return data

    def clean_source(self) -> str:
        from pathlib import Path

        from dalil.app.cases.jobs import allowed_source

        if not self.cleaned_data.get("source"):
            return ""
        source = Path(self.cleaned_data["source"])
        if "\x00" in str(source) or not source.is_absolute():
            raise forms.ValidationError(_("Give an absolute path."))
        if not source.exists():
            raise forms.ValidationError(_("%(path)s does not exist on the server.")
                                        % {"path": source})
        if not allowed_source(source):
            raise forms.ValidationError(
                _("Only block devices and files in DALIL_HOME/incoming may be imaged here."))
        return str(source)
