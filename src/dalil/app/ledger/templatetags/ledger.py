"""Amounts for the ledger pages: satoshi with grouping, and the same in BTC."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format

from dalil.app.ledger.amounts import btc as _btc

register = template.Library()


@register.filter
def sat(value: Any) -> str:
    """Satoshi (or token base units) with the locale's digit grouping; "?" when unknown."""
    if value is None or value == "":
        return "?"
    return number_format(int(value), force_grouping=True)


@register.filter
def btc(value: Any) -> str:
    """Satoshi as BTC with eight decimals; "?" when unknown."""
    if value is None or value == "":
        return "?"
    return _btc(int(value))


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return ""


@register.filter
def node_value(node_id: str) -> str:
    """The address or txid of a trace node id ("addr:…", "tx:…")."""
    return str(node_id).split(":", 1)[-1]


@register.filter
def node_kind(node_id: str) -> str:
    return str(node_id).split(":", 1)[0]
