"""The filters of the file browser and the timeline, and the bookmark note (GET forms)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

ENTRY_TYPES = [("", _("any")), ("file", _("files")), ("directory", _("directories")),
               ("symlink", _("symbolic links")), ("other", _("other"))]
DELETED = [("", _("any")), ("yes", _("deleted only")), ("no", _("allocated only"))]
TIME_KINDS = [("m", _("modified (M)")), ("a", _("accessed (A)")), ("c", _("changed (C)")),
              ("b", _("created (B)"))]
ARTIFACT_EVENTS = [("web-visit", _("web visit")), ("download", _("download")),
                   ("photo-taken", _("photo taken")), ("message-sent", _("message sent")),
                   ("sms", _("SMS")), ("contact", _("contact last contacted"))]
ARTIFACT_SECTIONS = [("browser-visit", _("Web history")), ("browser-download", _("Downloads")),
                     ("exif", _("Photos (EXIF, GPS)")), ("telegram-message", _("Messages")),
                     ("sms", _("SMS")), ("contact", _("Contacts")),
                     ("artifact-error", _("Files the parsers could not read"))]


class _TimeRange(forms.Form):
    start = forms.DateTimeField(label=_("from (UTC)"), required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(label=_("until (UTC)"), required=False,
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("The end of the time range is before its start."))
        return data


class BrowseForm(_TimeRange):
    dir = forms.CharField(required=False, widget=forms.HiddenInput)
    vol = forms.IntegerField(label=_("volume"), required=False, widget=forms.HiddenInput)
    lv = forms.CharField(label=_("logical volume"), required=False, max_length=128,
                         widget=forms.HiddenInput)
    sub = forms.BooleanField(label=_("include subfolders"), required=False)
    q = forms.CharField(label=_("path contains"), required=False, max_length=300)
    deleted = forms.ChoiceField(label=_("deleted"), choices=DELETED, required=False)
    type = forms.ChoiceField(label=_("entry type"), choices=ENTRY_TYPES, required=False)
    ftype = forms.ChoiceField(label=_("content type"), required=False, choices=[])
    mismatch = forms.BooleanField(label=_("extension mismatch only"), required=False)
    known_bad = forms.BooleanField(label=_("known-bad only"), required=False)

    def __init__(self, *args: object, file_types: list[str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["ftype"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("any")), *((t, t) for t in file_types or [])]


class TimelineForm(_TimeRange):
    kinds = forms.MultipleChoiceField(label=_("events"), choices=TIME_KINDS + ARTIFACT_EVENTS,
                                      required=False, widget=forms.CheckboxSelectMultiple)
    deleted = forms.ChoiceField(label=_("deleted"), choices=DELETED, required=False)
    q = forms.CharField(label=_("path contains"), required=False, max_length=300)


class ArtifactForm(forms.Form):
    kind = forms.ChoiceField(label=_("artifact"), choices=[("", _("all")), *ARTIFACT_SECTIONS],
                             required=False)
    q = forms.CharField(label=_("text contains"), required=False, max_length=300)
    gps = forms.BooleanField(label=_("photos with GPS only"), required=False)


class BookmarkForm(forms.Form):
    note = forms.CharField(label=_("note"), required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 3}))
