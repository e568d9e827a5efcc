"""Attribution tags: GraphSense TagPacks (YAML) and Dalil's own tag lists (CSV or JSON).

A GraphSense TagPack is a YAML document whose header fields (``title``, ``creator``,
``label``, ``source``, ``currency``, ``category``, ``confidence``, ...) are inherited by
every entry of its ``tags:`` list; an entry names an ``address`` and may override any
header field. Dalil's own lists have one tag per row or object with the fields ``address,
label, category, source, confidence`` (category such as exchange, mixer, market,
ransomware, scam, sanctioned; ``currency`` optional, BTC by default).

Tags are committed to the ledger store as a Parquet part of the ``tags`` table (one part
per imported file, keyed by the file's SHA-256, so importing a file twice adds nothing).
A malformed file raises :class:`TagError` naming the file and the entry; nothing of it is
stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import duckdb

    from dalil.engine.ledger.store import LedgerStore

CATEGORIES = frozenset({
    "exchange", "mixer", "market", "ransomware", "scam", "sanctioned", "gambling",
    "mining_pool", "payment_processor", "wallet_service", "darknet", "fraud", "theft",
    "terrorism", "extortion", "service", "other",
})
# GraphSense taxonomy names for the same things.
GRAPHSENSE_CATEGORIES = {"mixing_service": "mixer", "market": "market",
                         "exchange": "exchange", "ransomware": "ransomware",
                         "scam": "scam", "miner": "mining_pool", "mining_service": "mining_pool",
                         "gambling": "gambling", "payment_processor": "payment_processor"}
INHERITED = ("label", "source", "currency", "category", "confidence", "creator", "title")


class TagError(ValueError):
    """A malformed tag file: the message names the file and the entry."""


@dataclass(frozen=True)
class Tag:
    address: str
    label: str
    category: str | None = None
    source: str | None = None
    confidence: str | None = None
    currency: str | None = None
    creator: str | None = None
    title: str | None = None
    file: str | None = None
    entry: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _category(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.lower().replace(" ", "_").replace("-", "_")
    return GRAPHSENSE_CATEGORIES.get(text, text)


def _tag(fields: Mapping[str, Any], path: str, entry: int, where: str) -> Tag:
    address = _text(fields.get("address"))
    if address is None:
        raise TagError(f"{path}: {where}: missing 'address'")
    label = _text(fields.get("label"))
    if label is None:
        raise TagError(f"{path}: {where} ({address}): missing 'label' (neither the entry "
                       f"nor the header gives one)")
    confidence = fields.get("confidence")
    if isinstance(confidence, float | int) and not isinstance(confidence, bool) and not (
            0 <= confidence <= 100):
        raise TagError(f"{path}: {where} ({address}): confidence {confidence} is out of "
                       f"range (0..1 or 0..100)")
    return Tag(address=address, label=label, category=_category(fields.get("category")),
               source=_text(fields.get("source")), confidence=_text(confidence),
               currency=(_text(fields.get("currency")) or "BTC").upper(),
               creator=_text(fields.get("creator")), title=_text(fields.get("title")),
               file=path, entry=entry)


def parse_tagpack(text: str, path: str) -> list[Tag]:
    """Tags of a GraphSense TagPack (YAML); header fields are inherited by each entry."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TagError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise TagError(f"{path}: a TagPack is a YAML mapping with a 'tags' list, "
                       f"not {type(document).__name__}")
    entries = document.get("tags")
    if not isinstance(entries, list) or not entries:
        raise TagError(f"{path}: missing or empty 'tags' list")
    header = {k: v for k, v in document.items() if k != "tags"}
    tags = []
    for n, entry in enumerate(entries):
        where = f"tags[{n}]"
        if not isinstance(entry, dict):
            raise TagError(f"{path}: {where}: an entry is a mapping with an 'address', "
                           f"not {entry!r}")
        merged = {k: header.get(k) for k in INHERITED}
        merged.update({k: v for k, v in entry.items() if v is not None})
        tags.append(_tag(merged, path, n, where))
    return tags


def parse_tag_rows(rows: Iterable[Mapping[str, Any]], path: str, *, first_row: int) -> list[Tag]:
    tags = []
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TagError(f"{path}: entry {n}: expected an object with 'address' and "
                           f"'label', not {row!r}")
        fields = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        tags.append(_tag(fields, path, n, f"row {n + first_row}" if first_row else
                         f"entry {n}"))
    return tags


def parse_tag_file(path: str | Path) -> list[Tag]:
    """Tags of a TagPack (``.yaml``/``.yml``), a CSV or a JSON tag list."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TagError(f"{p}: cannot read: {exc}") from None
    name = str(p)
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return parse_tagpack(text, name)
    if suffix == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TagError(f"{name}: not valid JSON at line {exc.lineno}, column "
                           f"{exc.colno}: {exc.msg}") from None
        if isinstance(document, dict) and isinstance(document.get("tags"), list):
            document = document["tags"]
        if not isinstance(document, list):
            raise TagError(f"{name}: expected a list of tags (or an object with 'tags')")
        return parse_tag_rows(document, name, first_row=0)
    if suffix in (".csv", ".tsv", ".txt"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        for required in ("address", "label"):
            if required not in columns:
                raise TagError(f"{name}: missing column '{required}' (columns: "
                               f"{', '.join(sorted(columns)) or 'none'})")
        return parse_tag_rows(list(reader), name, first_row=2)
    raise TagError(f"{name}: unknown tag file type {suffix or '(none)'}; expected .yaml/.yml "
                   f"(GraphSense TagPack), .csv or .json")


def import_tags(store: LedgerStore, path: str | Path) -> dict[str, Any]:
    """Parse a tag file and commit its tags to ``store``; returns what was imported."""
    import pyarrow as pa

    from dalil.engine.ledger.store import SIDE_SCHEMAS

    p = Path(path)
    tags = parse_tag_file(p)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    schema = SIDE_SCHEMAS["tags"]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for tag in tags:
        for key, value in tag.to_dict().items():
            columns[key].append(value)
        columns["imported"].append(now)
    added = store.append("tags", pa.table(columns, schema=schema), "tags:" + digest)
    categories: dict[str, int] = {}
    for tag in tags:
        key = tag.category or "(none)"
        categories[key] = categories.get(key, 0) + 1
    return {"file": str(p), "sha256": digest, "tags": len(tags),
            "addresses": len({t.address for t in tags}), "categories": categories,
            "already_imported": not added, "store": str(store.root)}


def tags_of(con: duckdb.DuckDBPyConnection, addresses: Iterable[str]) -> dict[str, list[Tag]]:
    """Every tag of each address (addresses without tags are left out)."""
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    rows = con.execute(
        "SELECT DISTINCT address, label, category, source, confidence, currency, creator, "
        "title, file, entry FROM tags WHERE address IN (SELECT unnest(?)) "
        "ORDER BY address, label, file, entry", [wanted]).fetchall()
    found: dict[str, list[Tag]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(Tag(*row))
    return found


def tagged_with(con: duckdb.DuckDBPyConnection, categories: Iterable[str]) -> dict[str, Tag]:
    """Addresses carrying a tag of one of ``categories`` (the first such tag of each)."""
    wanted = sorted({c.lower() for c in categories})
    if not wanted:
        return {}
    rows = con.execute(
        "SELECT address, label, category, source, confidence, currency, creator, title, "
        "file, entry FROM tags WHERE category IN (SELECT unnest(?)) "
        "ORDER BY address, file, entry", [wanted]).fetchall()
    found: dict[str, Tag] = {}
    for row in rows:
        found.setdefault(row[0], Tag(*row))
    return found
