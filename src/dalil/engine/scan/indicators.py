"""Known indicators from STIX 2.1 bundles and MISP feeds, and the hits that match them.

A partner unit or a private-sector feed hands over domains, IP addresses and networks,
URLs, e-mail addresses, phone numbers, file hashes and wallet addresses. They are
loaded into an :class:`IndicatorSet`; every hit of the scan is looked up (an exact match
after normalisation, and for host names a match of the name or any parent domain, so that
``mail.evil.example`` matches the indicator ``evil.example``; IP addresses also match
networks such as ``198.51.100.0/24``; a URL or an e-mail address also matches through its
host). Each match is an :class:`Alert` naming the feed and the indicator.

STIX 2.1: the ``indicator`` objects of a bundle whose ``pattern_type`` is ``stix``. Their
patterns are read by a small tokenizer here, not by the ``stix2`` library: ``stix2`` reads
patterns through ``stix2-patterns``, an ANTLR grammar that pins an old
``antlr4-python3-runtime`` and brings ``requests``, ``pytz`` and ``simplejson`` along,
for what amounts to collecting the ``path = 'literal'`` and ``path IN (...)`` comparisons
below; a syntax error is still reported, naming the file and the object. Comparisons that
cannot be matched against a scan hit (``LIKE``, ``MATCHES``, ``!=``, other object types)
are counted as unsupported, not guessed at.

MISP: an event (``{"Event": {...}}``), a list of them, or an API ``response``; the
attributes of the event and of its objects, of the types in :data:`MISP_TYPES` (other
types are counted as unsupported).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IndicatorError(Exception):
    """A feed that cannot be read; the message names the file and the object."""


class PatternError(ValueError):
    """A STIX pattern that is not well formed."""


@dataclass(frozen=True)
class Indicator:
    feed: str
    indicator: str
    """The indicator's name or id (STIX), or the event and attribute (MISP)."""
    kind: str
    """domain, ip, url, email, phone, hash or wallet."""
    value: str
    """Normalised value."""


@dataclass(frozen=True)
class Match:
    feed: str
    indicator: str
    value: str


@dataclass(frozen=True)
class Alert:
    where: str
    """Offset or forensic path of the hit."""
    type: str
    feature: str
    context: str
    feed: str
    indicator: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"offset": self.where, "type": self.type, "feature": self.feature,
                "feed": self.feed, "indicator": self.indicator, "value": self.value}


# ---------------------------------------------------------------- normalisation


def norm_domain(value: str) -> str:
    return value.strip().rstrip(".").lower()


def norm_email(value: str) -> str:
    return value.strip().lower()


def norm_url(value: str) -> str:
    """Scheme and host in lower case, no trailing slash; path and query as they are."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    scheme, rest = text.split("://", 1)
    cut = len(rest)
    for sep in "/?#":
        at = rest.find(sep)
        if at >= 0:
            cut = min(cut, at)
    return f"{scheme.lower()}://{rest[:cut].lower()}{rest[cut:]}".rstrip("/")


def norm_phone(value: str) -> str:
    digits = re.sub(r"[^0-9]", "", value)
    return ("+" if value.strip().startswith("+") else "") + digits


def norm_wallet(value: str) -> str:
    text = value.strip()
    lower = text.lower()
    if lower.startswith(("0x", "bc1", "ltc1", "tb1")):
        return lower  # hex and bech32 are case-insensitive
    return text


def _host(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def _parents(domain: str) -> Iterator[str]:
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        yield ".".join(parts[i:])


# ---------------------------------------------------------------- the set


@dataclass
class _Feed:
    name: str
    path: str
    format: str
    indicators: int = 0
    unsupported: int = 0
    source: str | None = None


@dataclass
class IndicatorSet:
    _exact: dict[tuple[str, str], list[Indicator]] = field(default_factory=dict)
    _networks: list[tuple[IPNetwork, Indicator]] = field(default_factory=list)
    _feeds: list[_Feed] = field(default_factory=list)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> IndicatorSet:
        result = cls()
        for path in paths:
            result.load_file(Path(path))
        return result

    @property
    def has_hashes(self) -> bool:
        return any(kind == "hash" for kind, _ in self._exact)

    def __len__(self) -> int:
        return sum(len(v) for v in self._exact.values()) + len(self._networks)

    def feeds(self) -> list[dict[str, object]]:
        return [{"name": f.name, "path": f.path, "format": f.format,
                 "indicators": f.indicators, "unsupported": f.unsupported,
                 "source": f.source} for f in self._feeds]

    def add(self, feed: _Feed, label: str, kind: str, raw: str) -> None:
        """Add one value of ``kind`` (not yet normalised)."""
        value = raw.strip()
        if not value:
            return
        if kind == "ip":
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                feed.unsupported += 1
                return
            if network.num_addresses > 1:
                self._networks.append((network, Indicator(feed.name, label, kind, value)))
                feed.indicators += 1
                return
            value = str(network.network_address)
        elif kind == "domain":
            value = norm_domain(value)
        elif kind == "email":
            value = norm_email(value)
        elif kind == "url":
            value = norm_url(value)
        elif kind == "phone":
            value = norm_phone(value)
        elif kind == "hash":
            value = value.lower()
        elif kind == "wallet":
            value = norm_wallet(value)
        self._exact.setdefault((kind, value), []).append(Indicator(feed.name, label, kind,
                                                                   value))
        feed.indicators += 1

    # ------------------------------------------------------------ matching

    def _lookup(self, kind: str, value: str, out: list[Match]) -> None:
        for ind in self._exact.get((kind, value), ()):
            out.append(Match(ind.feed, ind.indicator, ind.value))

    def _domain(self, host: str, out: list[Match]) -> None:
        for parent in _parents(norm_domain(host)):
            self._lookup("domain", parent, out)

    def _ip(self, text: str, out: list[Match]) -> None:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return
        self._lookup("ip", str(address), out)
        for network, ind in self._networks:
            if address.version == network.version and address in network:
                out.append(Match(ind.feed, ind.indicator, ind.value))

    def match(self, type_name: str, feature: str) -> list[Match]:
        """The indicators that a hit of ``type_name`` with text ``feature`` matches."""
        out: list[Match] = []
        if type_name == "email":
            self._lookup("email", norm_email(feature), out)
            self._domain(feature.rsplit("@", 1)[-1], out)
        elif type_name in ("url", "telegram"):
            self._lookup("url", norm_url(feature), out)
            host = _host(feature if "://" in feature else "http://" + feature)
            if re.fullmatch(r"[0-9.]+|[0-9A-Fa-f:]+", host):
                self._ip(host, out)
            else:
                self._domain(host, out)
        elif type_name in ("domain", "onion", "onion_v2"):
            self._domain(feature, out)
        elif type_name == "ip":
            self._ip(feature, out)
        elif type_name == "telephone":
            self._lookup("phone", norm_phone(feature), out)
        elif type_name in ("bitcoin", "ethereum", "tron", "monero", "litecoin"):
            self._lookup("wallet", norm_wallet(feature), out)
        return out

    def match_hashes(self, hashes: dict[str, Any]) -> list[Match]:
        """The file-hash indicators that one of ``hashes`` (algorithm -> hex) matches."""
        out: list[Match] = []
        for digest in hashes.values():
            self._lookup("hash", str(digest).lower(), out)
        return out

    # ------------------------------------------------------------ loading

    def load_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise IndicatorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise IndicatorError(f"{path}: not UTF-8 text ({exc.reason} at byte "
                                 f"{exc.start})") from exc
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IndicatorError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} "
                                 f"column {exc.colno}") from exc
        if isinstance(doc, dict) and (doc.get("type") == "bundle"
                                      or doc.get("type") == "indicator"):
            self._load_stix(path, doc)
        elif _misp_events(doc) is not None:
            self._load_misp(path, doc)
        else:
            raise IndicatorError(f"{path}: neither a STIX 2.1 bundle (type 'bundle') nor a "
                                 "MISP event (an 'Event' with an 'Attribute' list)")

    def _load_stix(self, path: Path, doc: dict[str, Any]) -> None:
        feed = _Feed(path.name, str(path), "stix2.1")
        self._feeds.append(feed)
        objects = doc.get("objects", []) if doc.get("type") == "bundle" else [doc]
        if not isinstance(objects, list):
            raise IndicatorError(f"{path}: the bundle's 'objects' is not a list")
        identities = {o.get("id"): o.get("name") for o in objects
                      if isinstance(o, dict) and o.get("type") == "identity"}
        sources: set[str] = set()
        for index, obj in enumerate(objects):
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                raise IndicatorError(f"{path}: object {index}: not a STIX object "
                                     "(no 'type')")
            if obj["type"] != "indicator":
                continue
            ident = str(obj.get("id") or f"#{index}")
            if obj.get("revoked") is True:
                continue
            if obj.get("pattern_type", "stix") != "stix":
                feed.unsupported += 1
                continue
            pattern = obj.get("pattern")
            if not isinstance(pattern, str):
                raise IndicatorError(f"{path}: object {ident}: indicator without a "
                                     "'pattern' string")
            try:
                comparisons = parse_pattern(pattern)
            except PatternError as exc:
                raise IndicatorError(f"{path}: object {ident}: bad STIX pattern "
                                     f"{pattern!r}: {exc}") from exc
            if (creator := identities.get(obj.get("created_by_ref"))) is not None:
                sources.add(str(creator))
            label = str(obj.get("name") or ident)
            for object_path, value in comparisons:
                kind = stix_kind(object_path)
                if kind is None:
                    feed.unsupported += 1
                else:
                    self.add(feed, label, kind, value)
        if not sources:  # no indicator says who made it: the bundle's identities do
            sources = {str(name) for name in identities.values() if name}
        feed.source = ", ".join(sorted(sources)) or None

    def _load_misp(self, path: Path, doc: Any) -> None:
        feed = _Feed(path.name, str(path), "misp")
        self._feeds.append(feed)
        sources: set[str] = set()
        for event_index, event in enumerate(_misp_events(doc) or []):
            info = str(event.get("info") or event.get("uuid") or f"event {event_index}")
            orgc = event.get("Orgc")
            if isinstance(orgc, dict) and orgc.get("name"):
                sources.add(str(orgc["name"]))
            attributes = event.get("Attribute", [])
            if not isinstance(attributes, list):
                raise IndicatorError(f"{path}: event {info!r}: 'Attribute' is not a list")
            objects = event.get("Object", [])
            if not isinstance(objects, list):
                raise IndicatorError(f"{path}: event {info!r}: 'Object' is not a list")
            for obj in objects:
                inner = obj.get("Attribute", []) if isinstance(obj, dict) else None
                if not isinstance(inner, list):
                    raise IndicatorError(f"{path}: event {info!r}: an object's 'Attribute' "
                                         "is not a list")
                attributes = attributes + inner
            for index, attr in enumerate(attributes):
                if not isinstance(attr, dict) or not isinstance(attr.get("type"), str) \
                        or not isinstance(attr.get("value"), str):
                    name = attr.get("uuid", index) if isinstance(attr, dict) else index
                    raise IndicatorError(f"{path}: event {info!r}: attribute {name}: needs "
                                         "a 'type' and a 'value' string")
                label = f"{info} [{attr['type']} {attr.get('uuid', index)}]"
                self._misp_attribute(feed, label, attr["type"], attr["value"])
        feed.source = ", ".join(sorted(sources)) or None

    def _misp_attribute(self, feed: _Feed, label: str, kind: str, value: str) -> None:
        if "|" in kind:
            left, right = kind.split("|", 1)
            parts = value.split("|", 1)
            if len(parts) != 2:
                feed.unsupported += 1
                return
            for sub_kind, sub_value in ((left, parts[0]), (right, parts[1])):
                if sub_kind in MISP_TYPES:
                    self.add(feed, label, MISP_TYPES[sub_kind], sub_value)
            return
        if kind in MISP_TYPES:
            self.add(feed, label, MISP_TYPES[kind], value)
        else:
            feed.unsupported += 1


MISP_TYPES: dict[str, str] = {
    "domain": "domain", "hostname": "domain",
    "ip-src": "ip", "ip-dst": "ip", "ip": "ip",
    "url": "url", "uri": "url",
    "email": "email", "email-src": "email", "email-dst": "email", "email-reply-to": "email",
    "whois-registrant-email": "email", "target-email": "email",
    "phone-number": "phone", "whois-registrant-phone": "phone",
    "md5": "hash", "sha1": "hash", "sha224": "hash", "sha256": "hash", "sha384": "hash",
    "sha512": "hash",
    "btc": "wallet", "xmr": "wallet", "dash": "wallet", "eth": "wallet",
    "cryptocurrency-address": "wallet",
}
"""MISP attribute types that a scan hit can match, and the kind of value they carry.
Composite types (``domain|ip``, ``ip-dst|port``, ``filename|sha256``) use their parts."""


def _misp_events(doc: Any) -> list[dict[str, Any]] | None:
    if isinstance(doc, dict) and isinstance(doc.get("response"), list):
        doc = doc["response"]
    if isinstance(doc, list):
        events = [d.get("Event") if isinstance(d, dict) and "Event" in d else d for d in doc]
        if events and all(isinstance(e, dict) for e in events):
            return [e for e in events if isinstance(e, dict)]
        return None
    if isinstance(doc, dict) and isinstance(doc.get("Event"), dict):
        return [doc["Event"]]
    if isinstance(doc, dict) and "Attribute" in doc:
        return [doc]
    return None


# ---------------------------------------------------------------- STIX patterns

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>[hbt]?'(?:[^'\\]|\\.)*')
    | (?P<path>[a-z0-9][a-z0-9\-]*:(?:[A-Za-z0-9_\-]+|'(?:[^'\\]|\\.)*'|\[(?:\*|\d+)\]|\.)+)
    | (?P<op>>=|<=|!=|=|<|>)
    | (?P<word>[A-Za-z]+)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<punct>[()\[\],])
    )""",
    re.VERBOSE,
)


def _tokens(pattern: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    end = len(pattern.rstrip())
    while pos < end:
        m = _TOKEN.match(pattern, pos)
        if m is None or m.end() == pos:
            raise PatternError(f"unexpected {pattern[pos:].lstrip()[:12]!r} at column "
                               f"{pos + 1}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _literal(token: str) -> str:
    if token[0] in "hbt":
        token = token[1:]
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def parse_pattern(pattern: str) -> list[tuple[str, str]]:
    """The ``(object path, value)`` of each equality (``=`` or ``IN``) comparison of a STIX
    pattern. Raises :class:`PatternError` when the pattern is not well formed."""
    tokens = _tokens(pattern)
    depth = {"[": 0, "(": 0}
    closing = {"]": "[", ")": "("}
    comparisons: list[tuple[str, str]] = []
    seen_comparison = False
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text in depth:
            depth[text] += 1
        elif kind == "punct" and text in closing:
            depth[closing[text]] -= 1
            if depth[closing[text]] < 0:
                raise PatternError(f"unbalanced {text!r}")
        elif kind == "path":
            j = i + 1
            negated = j < len(tokens) and tokens[j] == ("word", "NOT")
            if negated:
                j += 1
            if j >= len(tokens):
                raise PatternError(f"comparison of {text} has no operator")
            op_kind, op = tokens[j]
            if op_kind not in ("op", "word"):
                raise PatternError(f"comparison of {text} has no operator")
            if op_kind == "word" and op.upper() == "EXISTS":
                raise PatternError("EXISTS takes the path after it")
            if depth["["] <= 0:
                raise PatternError(f"comparison of {text} outside [...]")
            if j + 1 >= len(tokens) or (op_kind == "op" and tokens[j + 1][0] not in
                                        ("string", "number", "word")):
                raise PatternError(f"comparison of {text} has no value")
            seen_comparison = True
            if op == "=" and not negated and tokens[j + 1][0] == "string":
                comparisons.append((text, _literal(tokens[j + 1][1])))
                i = j + 2
                continue
            if op.upper() == "IN" and not negated and tokens[j + 1] == ("punct", "("):
                k = j + 2
                while k < len(tokens) and tokens[k] != ("punct", ")"):
                    if tokens[k][0] == "string":
                        comparisons.append((text, _literal(tokens[k][1])))
                    elif tokens[k] != ("punct", ","):
                        raise PatternError(f"unexpected {tokens[k][1]!r} in a set")
                    k += 1
                if k >= len(tokens):
                    raise PatternError("unclosed '(' in a set")
                i = k + 1
                continue
        i += 1
    if any(depth.values()):
        raise PatternError("unbalanced brackets")
    if not seen_comparison:
        raise PatternError("no comparison expression")
    return comparisons


def stix_kind(object_path: str) -> str | None:
    """The kind of value an object path carries, or None if no scan hit can match it."""
    obj, _, prop = object_path.partition(":")
    prop = prop.replace("'", "")
    if obj == "domain-name" and prop == "value":
        return "domain"
    if obj in ("ipv4-addr", "ipv6-addr") and prop == "value":
        return "ip"
    if obj == "url" and prop == "value":
        return "url"
    if obj == "email-addr" and prop == "value":
        return "email"
    if obj == "email-message" and prop.endswith(".value") and "_ref" in prop:
        return "email"
    if obj == "file" and prop.startswith("hashes."):
        return "hash"
    if ("wallet" in obj or "crypto" in obj) and prop in ("address", "value"):
        return "wallet"
    if "phone" in obj and prop in ("value", "number"):
        return "phone"
    return None
