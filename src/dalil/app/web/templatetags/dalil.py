"""Template filters shared by the Dalil pages."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

register = template.Library()


@register.filter
def detail_value(value: Any) -> str:
    """A custody detail as readable text: dicts as "key value; ...", lists joined, booleans."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return "; ".join(f"{key} {detail_value(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(detail_value(item) for item in value)
    return "" if value is None else str(value)


# The scene checklist (engine.evidence.scene) speaks English and knows nothing of Django;
# its fixed messages are listed here so that makemessages puts them in the catalogs.
CHECKLIST_MESSAGES = [
    gettext_noop("Record the legal authority (warrant, consent, order)"),
    gettext_noop("Record the time of arrival"),
    gettext_noop("List the persons present"),
    gettext_noop("Secure the scene and say so"),
    gettext_noop("Say how the scene was secured"),
    gettext_noop("Photograph the scene and the devices before touching them"),
    gettext_noop("Give the number of photographs"),
    gettext_noop("Record the state of every device"),
    gettext_noop("Decide whether to collect volatile data"),
    gettext_noop("List the volatile data collected, most volatile first"),
    gettext_noop("Name the tools used for volatile collection"),
    gettext_noop("Justify the volatile data decision"),
    gettext_noop("Decide how to shut down the computers"),
    gettext_noop("Justify the shutdown decision"),
    gettext_noop("Describe packaging and labels"),
    gettext_noop("Consider non-digital traces (fingerprints, DNA, notes)"),
    gettext_noop("Record the devices seized as exhibits"),
    gettext_noop("record its power state"),
    gettext_noop("isolate the phone from networks"),
    gettext_noop("justify the isolation method"),
    gettext_noop("seal it and record the seal number"),
    gettext_noop("record the first custody entry (seizure)"),
]

_EXHIBIT_ITEM = re.compile(r"^Exhibit (?P<number>.+?): (?P<rest>.+)$")


@register.filter
def checklist_message(message: str) -> str:
    """A scene checklist message in the current language (as is when not in the catalog)."""
    match = _EXHIBIT_ITEM.match(message)
    if match:
        return _("Exhibit %(number)s: %(item)s") % {
            "number": match["number"], "item": _(match["rest"])}
    return _(message)
