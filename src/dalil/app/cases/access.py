"""Who may see and change which case: the lookups every app's case pages share.

A user sees the cases of their institution and those shared with them
(:meth:`CaseQuerySet.visible_to`); anything else is a 404, never a 403, so that a case
number cannot be probed.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from dalil.app.cases.models import Case, Exhibit


def visible_case(request: HttpRequest, pk: int) -> Case:
    return get_object_or_404(Case.objects.visible_to(request.user), pk=pk)


def visible_exhibit(request: HttpRequest, pk: int, exhibit_pk: int) -> Exhibit:
    return get_object_or_404(Exhibit.objects.select_related("case"),
                             case=visible_case(request, pk), pk=exhibit_pk)


def can_edit(request: HttpRequest) -> bool:
    """Whether the user's role may change cases (an examiner may, a prosecutor may not)."""
    return bool(getattr(request.user, "can_edit_cases", False))
