from datetime import timedelta
from typing import Any

from django import template
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from dalil.app.training.services import pretty_answer as _pretty_answer

register = template.Library()


@register.filter
def pretty_answer(value: Any) -> str:
    """An expected answer as a trainee would type it (text as is, lists and objects as JSON)."""
    return _pretty_answer(value)


_MARKDOWN = MarkdownIt("commonmark", {"html": False})  # raw HTML in the text is escaped


@register.filter
def briefing_html(text: str) -> SafeString:
    """A scenario briefing's Markdown as HTML; any HTML in the source is shown as text."""
    html: str = _MARKDOWN.render(str(text or ""))
    return mark_safe(html)  # noqa: S308 - raw HTML is disabled above


@register.filter
def percent(value: float | None) -> str:
    """A share (0..1) as a whole percentage, or a dash when there is none."""
    if value is None:
        return "—"
    return f"{formats.number_format(round(100 * value))} %"


@register.filter
def score_percent(value: float | None) -> str:
    """A score already in percent, to one decimal, or a dash."""
    if value is None:
        return "—"
    return f"{formats.number_format(value, decimal_pos=1)} %"


@register.filter
def signed(value: float | None) -> str:
    """A gain in percentage points with its sign, or a dash."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "−"
    return sign + formats.number_format(abs(value), decimal_pos=1)


@register.filter
def duration(value: timedelta | None) -> str:
    """A duration as h:mm:ss (or m:ss under an hour), or a dash."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
