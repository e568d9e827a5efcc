"""The records a trainee kept in their own training case, as the plain summary the engine grades.

A ``case_records`` task is not answered with text: "Check my case records" reads the
trainee's training case (scene record, exhibits, custody chain) and hands this summary to
``dalil.engine.training.graders.grade_case_records``. The lab material the generator
provided (exhibits ``L1``, ``L2``, ...) is left out of the exhibits: the trainee records the
devices found at the scene, not the files the lab handed out. Their custody entries stay in
(an acquisition of the provided image is recorded on its exhibit).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from dalil.app.cases.models import Case
from dalil.app.cases.services import SCENE_FIELDS, actor_name, verify_case
from dalil.app.training.models import Variant

CASE_RECORDS = "case_records"

_EXHIBIT_FIELDS = ("number", "type", "power_state", "isolation_method",
                   "isolation_justification", "seal_number", "serial", "imei", "iccid")


class NoTrainingCase(Exception):
    """The variant has no training case to read (generated before cases were made)."""


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def summary(variant: Variant) -> dict[str, Any]:
    """The trainee's case records as ``grade_case_records`` reads them (JSON-safe)."""
    if variant.case_id is None:
        raise NoTrainingCase(_("This lab has no training case to check."))
    case = Case.objects.get(pk=variant.case_id)
    provided = set(dict(variant.case_exhibits).values())
    scene = case.scenes.order_by("-updated_at", "-pk").first()
    exhibits = []
    for exhibit in case.exhibits.select_related("parent").order_by("pk"):
        if exhibit.number in provided:
            continue
        row: dict[str, Any] = {name: getattr(exhibit, name) for name in _EXHIBIT_FIELDS}
        row["parent"] = exhibit.parent.number if exhibit.parent is not None else None
        exhibits.append(row)
    custody = [{"exhibit": e.exhibit_number or None, "action": e.action, "details": e.details}
               for e in case.custody.order_by("seq")]
    report = verify_case(case, actor_name(variant.trainee), record=False)
    return {
        "case": case.number,
        "case_has_authority": bool(case.authority_type),
        "scene": None if scene is None else {name: _plain(getattr(scene, name))
                                             for name in SCENE_FIELDS},
        "exhibits": exhibits,
        "custody": custody,
        "verification": {"intact": report.intact, "first_failure": report.first_failure()},
    }
