"""Forms of the ledger pages: look-up, trace, why, and saving a finding into a case."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from dalil.app.cases.models import Case
from dalil.app.ledger.services import MAX_HOPS
from dalil.engine.ledger.cluster import HEURISTICS

MODEL_CHOICES = [("poison", _("Poison")), ("haircut", _("Haircut")),
                 ("fifo", _("FIFO (first in, first out)"))]
DIRECTION_CHOICES = [("forward", _("Forward: where did it go")),
                     ("backward", _("Backward: where did it come from"))]
HEURISTIC_CHOICES = [(h, h) for h in HEURISTICS]


class LookupForm(forms.Form):
    query = forms.CharField(label=_("Address or transaction id"), max_length=200)


class HeuristicsForm(forms.Form):
    heuristics = forms.MultipleChoiceField(
        label=_("Heuristics"), choices=HEURISTIC_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple)


class TraceForm(forms.Form):
    seed = forms.CharField(label=_("Seed (address, txid or txid:vout)"), max_length=200)
    direction = forms.ChoiceField(label=_("Direction"), choices=DIRECTION_CHOICES,
                                  initial="forward")
    hops = forms.IntegerField(label=_("Hops"), min_value=1, max_value=MAX_HOPS, initial=3)
    model = forms.ChoiceField(label=_("Taint model"), choices=MODEL_CHOICES,
                              initial="haircut")
    stop = forms.CharField(label=_("Stop at tag categories"), max_length=200, required=False,
                           initial="exchange",
                           help_text=_("Comma-separated, e.g. exchange, mixer; empty: never."))

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"seed": data["seed"].strip(), "direction": data["direction"],
                "hops": data["hops"], "model": data["model"],
                "stop": [s.strip().lower() for s in (data.get("stop") or "").split(",")
                         if s.strip()]}


class WhyForm(forms.Form):
    a = forms.CharField(label=_("First address"), max_length=200)
    b = forms.CharField(label=_("Second address"), max_length=200)


class SaveFindingForm(forms.Form):
    case = forms.ModelChoiceField(label=_("Case"), queryset=Case.objects.none())
    title = forms.CharField(label=_("Title"), max_length=300, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(
        attrs={"rows": 2}))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["case"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Case.objects.visible_to(user).filter(status=Case.Status.OPEN)
