from typing import Any

from django import template
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
