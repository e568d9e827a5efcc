"""The findings filter (a GET form), the bookmark note, and the case's uploads."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class FindingFilterForm(forms.Form):
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
    type = forms.ChoiceField(label=_("type"), required=False, choices=[])
    q = forms.CharField(label=_("feature or context contains"), required=False, max_length=300)
    alerts = forms.BooleanField(label=_("known indicators only"), required=False)
    stopped = forms.BooleanField(label=_("show stop-listed hits"), required=False)

    def __init__(self, *args: object, types: list[str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("any")), *((t, t) for t in types or [])]


class BookmarkForm(forms.Form):
    note = forms.CharField(label=_("note"), required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 2}))


class FeedUploadForm(forms.Form):
    file = forms.FileField(label=_("STIX 2.1 bundle or MISP feed (JSON)"))


class StopListUploadForm(forms.Form):
    file = forms.FileField(label=_("stop list (one feature a line)"))
