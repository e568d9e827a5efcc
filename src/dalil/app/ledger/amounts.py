"""Bitcoin amounts: satoshi as BTC text, exactly (no floating point)."""

from __future__ import annotations

SATOSHI_PER_BTC = 100_000_000


def btc(satoshi: int | None) -> str:
    """``123456789`` → ``"1.23456789"``; empty for an unknown amount."""
    if satoshi is None:
        return ""
    sign = "-" if satoshi < 0 else ""
    whole, frac = divmod(abs(int(satoshi)), SATOSHI_PER_BTC)
    return f"{sign}{whole}.{frac:08d}"
