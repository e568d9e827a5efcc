"""Entities in a captured page: PGP keys, wallets, e-mails, Telegram handles, onions, users.

The validated feature types of the scanner (:mod:`dalil.engine.scan.features`) do the
finding and checking, so a wallet here passes the same checksum as a wallet found on a
disk. Pages hide values in markup (``&#64;`` for ``@``, a key block split by ``<br>``), so
the text is also read once with tags removed and entities decoded.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dalil.engine.scan.features import BY_NAME, FeatureType

ENTITY_TYPES = ("pgp", "bitcoin", "ethereum", "monero", "tron", "litecoin", "email",
                "telegram", "onion")
_TAG = re.compile(rb"<(?:br|p|div|li|tr|pre)\b[^>]*>|</(?:p|div|li|tr|pre)>", re.I)
_ANY_TAG = re.compile(rb"<[^>]{0,2000}>")
# A user name is only a user name in context: "vendor: x", "jabber: x", "session id: x".
USERNAME_RE = re.compile(
    r"(?i)\b(user(?:name)?|login|vendor|seller|admin|jabber|xmpp|wickr|session(?: id)?"
    r"|threema|tox(?: id)?)\s*[:=]\s*([A-Za-z0-9_.@\-]{3,66})")


@dataclass(frozen=True, order=True)
class Entity:
    kind: str
    value: str


def page_text(data: bytes) -> bytes:
    """Visible text of an HTML page: block tags to newlines, other tags dropped, entities
    decoded (UTF-8, invalid bytes replaced)."""
    text = _TAG.sub(b"\n", data)
    text = _ANY_TAG.sub(b"", text)
    return html.unescape(text.decode("utf-8", "replace")).encode("utf-8")


def _features(buf: bytes, kinds: Iterable[FeatureType]) -> set[Entity]:
    found = set()
    for kind in kinds:
        for match in kind.regex.finditer(buf):
            span = kind.validate(buf, match.start(), match.end())
            if span is not None:
                found.add(Entity(kind.name, span[2]))
    return found


def extract_entities(data: bytes, kinds: Iterable[str] = ENTITY_TYPES) -> list[Entity]:
    """Every distinct validated entity in ``data`` (raw page and its visible text), sorted."""
    types = [BY_NAME[k] for k in kinds if k in BY_NAME]
    text = page_text(data)
    found = _features(data, types) | _features(text, types)
    for match in USERNAME_RE.finditer(text.decode("utf-8", "replace")):
        found.add(Entity("username", f"{match.group(1).lower()}:{match.group(2)}"))
    return sorted(found)


@dataclass(frozen=True)
class Link:
    """Sites that share one entity: the reason two captures are linked."""

    kind: str
    value: str
    sites: tuple[str, ...]


def correlate(sites: Mapping[str, Iterable[Entity]]) -> list[Link]:
    """Entities that appear on two or more sites, the most widely shared first."""
    where: dict[Entity, set[str]] = {}
    for site, entities in sites.items():
        for entity in entities:
            where.setdefault(entity, set()).add(site)
    links = [Link(e.kind, e.value, tuple(sorted(s))) for e, s in where.items() if len(s) > 1]
    return sorted(links, key=lambda link: (-len(link.sites), link.kind, link.value))
