"""Forms of the training pages: they parse input; training.services writes the rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from dalil.app.accounts.models import Role, User
from dalil.app.cases.forms import DateTimeInput
from dalil.app.training.models import TrainingClass


class DateInput(forms.DateInput):
    input_type = "date"


class TrainingClassForm(forms.ModelForm[TrainingClass]):
    class Meta:
        model = TrainingClass
        fields = ["name", "course", "language", "starts_on", "ends_on", "classroom"]
        widgets = {"starts_on": DateInput(), "ends_on": DateInput()}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and end < start:
            self.add_error("ends_on", _("A class cannot end before it starts."))
        return data


class TraineeField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_full_name() or obj.username} ({obj.username})"


class EnrolForm(forms.Form):
    trainees = TraineeField(
        label=_("Trainees"), queryset=User.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 6}))

    def __init__(self, *args: Any, training_class: TrainingClass, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["trainees"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = (User.objects.filter(role=Role.TRAINEE, is_active=True)
                          .exclude(enrolments__training_class=training_class)
                          .order_by("last_name", "first_name", "username"))


class AssignForm(forms.Form):
    template = forms.ChoiceField(label=_("Lab or quiz"))
    opens_at = forms.DateTimeField(label=_("Opens at"), required=False, widget=DateTimeInput(),
                                   help_text=_("Empty: now."))
    closes_at = forms.DateTimeField(label=_("Closes at"), required=False,
                                    widget=DateTimeInput(),
                                    help_text=_("After this, answers are closed and each "
                                                "trainee sees the expected answers."))

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["template"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("opens_at"), data.get("closes_at")
        if start and end and end <= start:
            self.add_error("closes_at", _("A lab must close after it opens."))
        return data


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("Your answer"), max_length=100_000, strip=False)


class GradeForm(forms.Form):
    score = forms.FloatField(label=_("Score"), min_value=0)
    comment = forms.CharField(label=_("Comment for the trainee"), required=False,
                              max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class PreviewForm(forms.Form):
    seed = forms.IntegerField(label=_("Seed"), min_value=0, max_value=2**31 - 1, initial=1)
    country = forms.ChoiceField(label=_("Country"), required=False)

    def __init__(self, *args: Any, countries: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["country"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Drawn by the seed"))] + [(c, c) for c in countries]


class TemplateCheckForm(forms.Form):
    archive = forms.FileField(label=_("Template as a ZIP archive"), required=False,
                              help_text=_("The template's directory: template.yaml and its "
                                          "briefings."))
    directory = forms.ChoiceField(label=_("Or a directory in DALIL_HOME/templates"),
                                  required=False)

    def __init__(self, *args: Any, directories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["directory"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—")] + [(d, d) for d in directories]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("archive")) == bool(data.get("directory")):
            raise forms.ValidationError(_("Upload an archive or choose a directory (one of "
                                          "the two)."))
        return data
