"""National pools: the names, places, phone numbers, currency and time zone of one country.

A pool is ``content/pools/<CC>.yaml``. Scenario parameters are drawn from it so that a
Kazakh class reads of Almaty streets and +7 7xx numbers, a Tajik class of Dushanbe and
+992, without a change to the template.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dalil.engine.training.yamlmarks import ContentError, Marked, Problem, load_marked

POOL_KINDS = ("person", "given_name", "surname", "city", "street", "phone", "currency",
              "timezone")
"""What a template parameter may be drawn from."""

_LISTS = ("given_names", "surnames", "cities", "streets")
_OFFSET = re.compile(r"[+-]\d\d:\d\d")


@dataclass(frozen=True)
class Pool:
    country: str
    names: dict[str, str]
    timezone: str
    utc_offset: str
    currency: str
    phone_format: str
    phone_prefixes: tuple[str, ...]
    case_prefix: str
    given_names: tuple[str, ...]
    surnames: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def fixed_offset(self) -> dt.timezone:
        sign = -1 if self.utc_offset.startswith("-") else 1
        hours, minutes = (int(x) for x in self.utc_offset[1:].split(":"))
        return dt.timezone(sign * timedelta(hours=hours, minutes=minutes))

    def phone(self, rng: random.Random) -> str:
        number = self.phone_format.replace("{prefix}", rng.choice(self.phone_prefixes))
        return "".join(str(rng.randrange(10)) if c == "#" else c for c in number)

    def person(self, rng: random.Random) -> str:
        return f"{rng.choice(self.given_names)} {rng.choice(self.surnames)}"

    def draw(self, kind: str, rng: random.Random) -> str:
        """One value of a pool kind (see POOL_KINDS)."""
        if kind == "person":
            return self.person(rng)
        if kind == "phone":
            return self.phone(rng)
        if kind == "currency":
            return self.currency
        if kind == "timezone":
            return self.timezone
        choices = {"given_name": self.given_names, "surname": self.surnames,
                   "city": self.cities, "street": self.streets}[kind]
        return rng.choice(choices)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the national time, checked against the declared offset.

        The pool's ``utc_offset`` pins the offset so that a key is the same on every
        machine; a time-zone database that disagrees (too old) is an error, not a silent
        variant.
        """
        local = moment.astimezone(self.zone())
        if local.utcoffset() != self.fixed_offset().utcoffset(None):
            raise ValueError(
                f"this machine's time-zone database gives {self.timezone} the offset "
                f"{local.strftime('%z')} on {local.date()}, the pool declares "
                f"{self.utc_offset}: update tzdata")
        return local


def pools_dir(content: Path) -> Path:
    return content / "pools"


def available_countries(content: Path) -> list[str]:
    return sorted(p.stem for p in pools_dir(content).glob("*.yaml"))


def load_pool(content: Path, country: str) -> Pool:
    """Load and validate ``pools/<country>.yaml``; ContentError names file and line."""
    path = pools_dir(content) / f"{country}.yaml"
    doc = load_marked(path, display=_display(path, content))
    problems = _validate(doc, country)
    if problems:
        raise ContentError(problems)
    d: dict[str, Any] = doc.data
    phone = d["phone"]
    return Pool(
        country=country, names={str(k): str(v) for k, v in d["name"].items()},
        timezone=d["timezone"], utc_offset=d["utc_offset"], currency=d["currency"],
        phone_format=phone["format"], phone_prefixes=tuple(str(p) for p in phone["prefixes"]),
        case_prefix=str(d.get("case_prefix", country)),
        given_names=tuple(map(str, d["given_names"])), surnames=tuple(map(str, d["surnames"])),
        cities=tuple(map(str, d["cities"])), streets=tuple(map(str, d["streets"])),
    )


def _display(path: Path, content: Path) -> str:
    try:
        return str(Path(content.name) / path.relative_to(content))
    except ValueError:
        return str(path)


def _validate(doc: Marked, country: str) -> list[Problem]:
    d = doc.data
    if not isinstance(d, dict):
        return [doc.problem((), "a pool is a mapping of fields")]
    problems: list[Problem] = []

    def need(cond: bool, path: tuple[str | int, ...], message: str) -> None:
        if not cond:
            problems.append(doc.problem(path, message))

    need(d.get("country") == country, ("country",),
         f"'country' must be {country!r} (the file name), not {d.get('country')!r}")
    need(isinstance(d.get("name"), dict) and "en" in d["name"], ("name",),
         "'name' needs the country's name per locale, at least 'en'")
    zone = d.get("timezone")
    try:
        ZoneInfo(str(zone))
        zone_ok = isinstance(zone, str)
    except (ZoneInfoNotFoundError, ValueError):
        zone_ok = False
    need(zone_ok, ("timezone",), f"unknown time zone {zone!r} (an IANA name, e.g. Asia/Almaty)")
    need(isinstance(d.get("utc_offset"), str) and bool(_OFFSET.fullmatch(d["utc_offset"])),
         ("utc_offset",), "'utc_offset' is the current offset as text, e.g. \"+05:00\"")
    need(isinstance(d.get("currency"), str) and bool(re.fullmatch(r"[A-Z]{3}", d["currency"])),
         ("currency",), "'currency' is an ISO 4217 code, e.g. KZT")
    phone = d.get("phone")
    if not isinstance(phone, dict):
        problems.append(doc.problem(("phone",), "'phone' needs 'format' and 'prefixes'"))
    else:
        fmt = phone.get("format")
        need(isinstance(fmt, str) and fmt.startswith("+") and "{prefix}" in fmt and "#" in fmt,
             ("phone", "format"), "phone 'format' is like \"+7 {prefix} ### ## ##\"")
        prefixes = phone.get("prefixes")
        need(isinstance(prefixes, list) and bool(prefixes)
             and all(isinstance(p, str) and p.isdigit() for p in prefixes),
             ("phone", "prefixes"), "phone 'prefixes' is a list of digit strings, e.g. \"701\"")
    for name in _LISTS:
        value = d.get(name)
        need(isinstance(value, list) and len(value) >= 3
             and all(isinstance(v, str) and v.strip() for v in value),
             (name,), f"{name!r} is a list of at least 3 names")
    return problems
