"""Import transaction lists exported from block explorers into the ``transfers`` table.

A case often has no full node, only what an explorer exported for the addresses of
interest. Each row becomes one transfer (from, to, value in the token's base unit, time
in UTC, transaction hash) in the ledger store, and :func:`dalil.engine.ledger.trace.
trace_transfers` follows them in the account model.

Formats (the column names of each export are matched case-insensitively; aliases cover
the explorers' older and newer headers):

- ``etherscan``: Etherscan's ERC-20 token-transfer CSV export (``Transaction Hash`` or
  ``Txhash``, ``Blockno``, ``UnixTimestamp`` or ``DateTime (UTC)``, ``From``, ``To``,
  ``TokenValue`` or ``Quantity``, ``ContractAddress``, ``TokenSymbol``), or the JSON of its
  ``tokentx`` API (``hash``, ``timeStamp``, ``from``, ``to``, ``value`` in base units,
  ``tokenDecimal``).
- ``tronscan``: Tronscan's TRC-20 transfer export, CSV or the JSON of its
  ``token_trc20/transfers`` API (``transaction_id``, ``block_ts`` in ms, ``from_address``,
  ``to_address``, ``quant`` in base units, ``tokenInfo.tokenAbbr/tokenDecimal``).
- ``btc-csv``: a Bitcoin explorer list, CSV or JSON, one row per sender-recipient pair:
  ``txid``, ``time``, ``from``, ``to`` and ``value`` (satoshi) or ``amount`` (BTC).

A missing column raises :class:`ExplorerError` naming the file and the column; a bad
value names the file, the row and the column. Nothing of a bad file is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dalil.engine.ledger.store import LedgerStore

FORMATS = ("etherscan", "tronscan", "btc-csv")
CHAINS = {"etherscan": "ethereum", "tronscan": "tron", "btc-csv": "bitcoin"}
KNOWN_DECIMALS = {"USDT": 6, "USDC": 6, "BTC": 8, "WBTC": 8, "DAI": 18, "WETH": 18}
DEFAULT_DECIMALS = {"ethereum": 18, "tron": 6, "bitcoin": 8}

# field -> (aliases of a column holding a human amount or text, aliases in base units)
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "etherscan": {
        "txid": ("transaction hash", "txhash", "hash", "tx hash"),
        "block": ("blockno", "block", "blocknumber", "block number"),
        "time": ("unixtimestamp", "timestamp", "datetime (utc)", "datetime", "date time (utc)"),
        "from": ("from", "from address"),
        "to": ("to", "to address"),
        "amount": ("tokenvalue", "quantity", "value_formatted", "token value", "amount"),
        "units": ("value",),
        "token": ("tokensymbol", "token symbol", "symbol"),
        "contract": ("contractaddress", "contract address", "token contract"),
        "decimals": ("tokendecimal", "token decimal", "decimals"),
        "position": ("logindex", "log index", "transactionindex"),
    },
    "tronscan": {
        "txid": ("transaction_id", "txn hash", "transaction hash", "hash", "txid"),
        "block": ("block", "block number", "blockno"),
        "time": ("block_ts", "time(utc)", "time (utc)", "time", "timestamp", "date(utc)"),
        "from": ("from_address", "from"),
        "to": ("to_address", "to"),
        "amount": ("amount", "quantity", "value", "token value"),
        "units": ("quant",),
        "token": ("tokenabbr", "token", "token symbol", "symbol", "token_symbol"),
        "contract": ("contract_address", "tokenid", "token contract", "contract"),
        "decimals": ("tokendecimal", "token decimal", "decimals"),
        "position": ("event_index", "position"),
    },
    "btc-csv": {
        "txid": ("txid", "hash", "tx_hash", "transaction hash", "transaction"),
        "block": ("block", "block_height", "height", "block height"),
        "time": ("time", "timestamp", "date", "block_time", "datetime (utc)"),
        "from": ("from", "sender", "input_address", "from_address", "input"),
        "to": ("to", "recipient", "output_address", "to_address", "address", "output"),
        "amount": ("amount", "amount_btc", "btc"),
        "units": ("value", "satoshi", "value_sat", "sats"),
        "token": (),
        "contract": (),
        "decimals": (),
        "position": ("vout", "position", "n"),
    },
}
REQUIRED = ("txid", "time", "from", "to")


class ExplorerError(ValueError):
    """A malformed explorer export: names the file, and the row and column when known."""


@dataclass(frozen=True)
class Transfer:
    chain: str
    token: str
    contract: str | None
    txid: str
    position: int
    block: int | None
    time: int | None
    from_address: str
    to_address: str
    value: int  # base units (satoshi, 10^-6 USDT, ...)
    decimals: int
    file: str
    row: int


def _flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One level of nested objects (Tronscan's ``tokenInfo``) flattened into the row."""
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, Mapping):
            for k, v in value.items():
                flat.setdefault(str(k).strip().lower(), v)
        else:
            flat[str(key).strip().lower()] = value
    return flat


def _rows(path: Path, text: str) -> tuple[list[dict[str, Any]], int]:
    """Rows as lower-cased dicts, and the number of the first row (for messages)."""
    name = str(path)
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExplorerError(f"{name}: not valid JSON at line {exc.lineno}, column "
                                f"{exc.colno}: {exc.msg}") from None
        if isinstance(document, dict):
            for key in ("result", "token_transfers", "data", "transfers", "transactions"):
                if isinstance(document.get(key), list):
                    document = document[key]
                    break
        if not isinstance(document, list):
            raise ExplorerError(f"{name}: expected a list of transfers (or an object with "
                                f"'result', 'token_transfers' or 'data')")
        rows = []
        for n, item in enumerate(document):
            if not isinstance(item, Mapping):
                raise ExplorerError(f"{name}: entry {n}: expected an object, not {item!r}")
            rows.append(_flatten(item))
        return rows, 0
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ExplorerError(f"{name}: empty file (no header row)")
    rows = [{str(k).strip().lower(): v for k, v in row.items() if k is not None}
            for row in reader]
    if not rows:
        return [{k.strip().lower(): None for k in reader.fieldnames}], -1
    return rows, 2


def _pick(columns: Sequence[str], aliases: Sequence[str]) -> str | None:
    present = set(columns)
    return next((a for a in aliases if a in present), None)


def _time(text: Any) -> int | None:
    if text is None or str(text).strip() == "":
        return None
    value = str(text).strip()
    try:
        number = int(Decimal(value))
    except InvalidOperation:
        pass
    else:
        return number // 1000 if number > 100_000_000_000 else number
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M",
                "%Y-%m-%d"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"unreadable time {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _decimal(text: Any) -> Decimal:
    value = str(text).strip().replace(",", "").replace("_", "")
    if not value:
        raise ValueError("empty amount")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"not a non-negative amount: {text!r}")
    return number


def parse_export(path: str | Path, fmt: str) -> list[Transfer]:
    """Transfers of one explorer export file."""
    if fmt not in FORMATS:
        raise ExplorerError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    p = Path(path)
    name = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplorerError(f"{name}: cannot read: {exc}") from None
    rows, first = _rows(p, text)
    columns = list(rows[0]) if rows else []
    aliases = COLUMNS[fmt]
    picked = {f: _pick(columns, a) for f, a in aliases.items()}
    for field in REQUIRED:
        if picked[field] is None:
            raise ExplorerError(f"{name}: missing column '{field}' (expected one of: "
                                f"{', '.join(aliases[field])}; the file has: "
                                f"{', '.join(columns) or 'none'})")
    if picked["amount"] is None and picked["units"] is None:
        raise ExplorerError(f"{name}: missing column 'amount' (expected one of: "
                            f"{', '.join(aliases['amount'] + aliases['units'])}; the file "
                            f"has: {', '.join(columns) or 'none'})")
    if first < 0:
        return []
    chain = CHAINS[fmt]
    transfers = []
    for n, row in enumerate(rows):
        where = f"row {n + first}" if first else f"entry {n}"
        column = ""
        try:
            column = picked["token"] or ""
            symbol = str(row.get(column) or "").strip().upper() if column else ""
            token = "BTC" if chain == "bitcoin" else (symbol or "USDT")
            decimals = KNOWN_DECIMALS.get(token, DEFAULT_DECIMALS[chain])
            column = picked["decimals"] or ""
            if column and str(row.get(column) or "").strip():
                decimals = int(str(row[column]).strip())
            if picked["units"] is not None and str(row.get(picked["units"]) or "").strip():
                column = picked["units"]
                number = _decimal(row[column])
                if number != number.to_integral_value():
                    raise ValueError(f"{number} is not a whole number of base units")
                value = int(number)
            else:
                column = picked["amount"] or picked["units"] or ""
                value = int((_decimal(row.get(column)) * (Decimal(10) ** decimals))
                            .to_integral_value())
            column = picked["time"] or ""
            time = _time(row.get(column))
            column = picked["block"] or ""
            block = int(_decimal(row[column])) if column and str(row.get(column) or "") \
                .strip() else None
            column = picked["position"] or ""
            position = int(_decimal(row[column])) if column and str(row.get(column) or "") \
                .strip() else n
            values = {}
            for field in ("txid", "from", "to"):
                column = picked[field] or ""
                values[field] = str(row.get(column) or "").strip()
                if not values[field]:
                    raise ValueError("empty")
        except (ValueError, TypeError) as exc:
            raise ExplorerError(f"{name}: {where}, column '{column}': {exc}") from None
        contract = str(row.get(picked["contract"] or "") or "").strip() or None
        lower = chain == "ethereum"  # hex addresses: case carries only a checksum
        transfers.append(Transfer(
            chain=chain, token=token, contract=contract.lower() if contract and lower
            else contract, txid=values["txid"].lower() if chain != "tron" else values["txid"],
            position=position, block=block, time=time,
            from_address=values["from"].lower() if lower else values["from"],
            to_address=values["to"].lower() if lower else values["to"],
            value=value, decimals=decimals, file=name, row=n + max(first, 0)))
    return transfers


def import_transfers(store: LedgerStore, path: str | Path, fmt: str) -> dict[str, Any]:
    """Parse an explorer export and commit its transfers to ``store``."""
    import pyarrow as pa

    from dalil.engine.ledger.store import SIDE_SCHEMAS

    p = Path(path)
    transfers = parse_export(p, fmt)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    schema = SIDE_SCHEMAS["transfers"]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for t in transfers:
        for key in schema.names:
            value = getattr(t, key)
            columns[key].append(Decimal(value) if key == "value" else value)
    added = store.append("transfers", pa.table(columns, schema=schema),
                         f"transfers:{fmt}:{digest}")
    tokens: dict[str, int] = {}
    for t in transfers:
        tokens[t.token] = tokens.get(t.token, 0) + 1
    times = [t.time for t in transfers if t.time is not None]
    return {"file": str(p), "format": fmt, "chain": CHAINS[fmt], "sha256": digest,
            "transfers": len(transfers),
            "addresses": len({a for t in transfers for a in (t.from_address, t.to_address)}),
            "tokens": tokens,
            "first": datetime.fromtimestamp(min(times), UTC).isoformat() if times else None,
            "last": datetime.fromtimestamp(max(times), UTC).isoformat() if times else None,
            "already_imported": not added, "store": str(store.root)}
