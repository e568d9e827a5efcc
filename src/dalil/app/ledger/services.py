"""Ledger pages' operations: read the store in DALIL_HOME/ledger, save findings to cases.

The store is only read here (the CLI's ``dalil chain ingest`` and ``tags import`` write
it). Saving a trace or a cluster as a case finding is the one write, and it happens here:
the finding, and a case-level custody note saying it was recorded, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy

from dalil import __version__
from dalil.app.cases import services as cases
from dalil.app.cases.models import Case
from dalil.app.ledger.amounts import btc
from dalil.app.ledger.models import LedgerFinding
from dalil.engine.ledger.cluster import (
    ADDRESS_TYPE,
    MULTI_INPUT,
    ONE_TIME_CHANGE,
    OPTIMAL_CHANGE,
    ROUND_VALUE,
    parse_heuristics,
)
from dalil.engine.ledger.trace import DIRECTIONS, MODELS, TraceError

if TYPE_CHECKING:
    from dalil.engine.ledger.cluster import Clustering
    from dalil.engine.ledger.store import LedgerStore

MAX_HOPS = 10
CLUSTER_CACHE_SIZE = 4
LedgerError = TraceError


# --- the store ---------------------------------------------------------------------------


def store() -> LedgerStore:
    """The installation's ledger store, ``$DALIL_HOME/ledger`` (the CLI's default)."""
    # Imported here: DuckDB and Arrow load only when a ledger page is asked for.
    from dalil.engine.ledger.store import LedgerStore

    return LedgerStore(Path(settings.DALIL_HOME) / "ledger")


@dataclass(frozen=True)
class StoreInfo:
    """What a result was read from: the manifest's hash pins the parts (blocks, tags)."""

    root: str
    manifest_sha256: str
    parts: int
    counts: dict[str, int]
    first_written: str | None
    last_written: str | None
    tag_sources: list[dict[str, Any]]

    @property
    def empty(self) -> bool:
        return self.parts == 0

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "manifest_sha256": self.manifest_sha256,
                "parts": self.parts, "counts": dict(self.counts),
                "first_written": self.first_written, "last_written": self.last_written,
                "tag_sources": list(self.tag_sources)}


def store_info(ledger: LedgerStore | None = None) -> StoreInfo:
    ledger = ledger or store()
    try:
        data = ledger.manifest_path.read_bytes()
    except OSError:
        data = b""
    entries = _manifest_entries(data)
    counts: dict[str, int] = {}
    for table in ("blocks", "transactions", "inputs", "outputs", "tags", "transfers"):
        counts[table] = sum(int(e.get("counts", {}).get(table, 0)) for e in entries)
    written = sorted(str(e.get("written", "")) for e in entries if e.get("written"))
    sources: list[dict[str, Any]] = []
    if counts.get("tags"):
        rows = ledger.connect().execute(
            "SELECT file, list(DISTINCT source ORDER BY source) FILTER (WHERE source IS NOT "
            "NULL), any_value(title), count(*), any_value(imported) FROM tags GROUP BY file "
            "ORDER BY file").fetchall()
        sources = [{"file": r[0], "source": "; ".join(r[1] or []), "title": r[2],
                    "tags": int(r[3]), "imported": r[4]} for r in rows]
    return StoreInfo(root=str(ledger.root), manifest_sha256=hashlib.sha256(data).hexdigest(),
                     parts=len(entries), counts=counts,
                     first_written=written[0] if written else None,
                     last_written=written[-1] if written else None, tag_sources=sources)


def _manifest_entries(data: bytes) -> list[dict[str, Any]]:
    """The committed parts listed in a manifest; a line cut by a crash is not one."""
    entries = []
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


# --- clusters ----------------------------------------------------------------------------

_clusterings: OrderedDict[tuple[str, str, tuple[str, ...]], Clustering] = OrderedDict()
_lock = threading.Lock()


def heuristics_from(values: Iterable[str]) -> tuple[str, ...]:
    """Heuristic names from a form (multi-input when none); ValueError names unknown ones."""
    names = [v for value in values for v in value.split(",") if v.strip()]
    return parse_heuristics(names) if names else (MULTI_INPUT,)


def clustering(heuristics: Sequence[str] = (MULTI_INPUT,),
               info: StoreInfo | None = None) -> Clustering:
    """The store's clusters under ``heuristics``, cached while the manifest is unchanged."""
    from dalil.engine.ledger.cluster import cluster_store

    ledger = store()
    info = info or store_info(ledger)
    key = (info.root, info.manifest_sha256, tuple(heuristics))
    with _lock:
        found = _clusterings.get(key)
        if found is not None:
            _clusterings.move_to_end(key)
            return found
    result = cluster_store(ledger.connect(), heuristics=heuristics)
    with _lock:
        _clusterings[key] = result
        while len(_clusterings) > CLUSTER_CACHE_SIZE:
            _clusterings.popitem(last=False)
    return result


def tags_of(addresses: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    from dalil.engine.ledger.tags import tags_of as engine_tags_of

    found = engine_tags_of(store().connect(), addresses)
    return {a: [t.to_dict() for t in tags] for a, tags in found.items()}


def address_summary(address: str, heuristics: Sequence[str] = (MULTI_INPUT,)
                    ) -> dict[str, Any]:
    """As ``dalil chain address --json``: amounts, first/last seen, cluster and tags."""
    summary = store().address(address)
    found = clustering(heuristics)
    members = found.cluster_of(address)
    summary["cluster"] = found.cluster_id(address)
    summary["cluster_size"] = len(members)
    summary["heuristics"] = list(heuristics)
    tags = tags_of(members or [address])
    summary["tags"] = tags.get(address, [])
    summary["cluster_tags"] = [t for a in sorted(tags) for t in tags[a] if a != address]
    summary["known"] = bool(summary["outputs"] or summary["inputs"] or summary["tags"])
    return summary


def transaction_detail(txid: str) -> dict[str, Any] | None:
    found = store().transaction(txid.strip().lower())
    if found is None:
        return None
    found["time"] = _iso(found["time"])
    found["total_out"] = sum(o["value"] or 0 for o in found["outputs"])
    values = [i["value"] for i in found["inputs"] if not i["coinbase"]]
    found["total_in"] = sum(values) if values and None not in values else None
    found["fee"] = (found["total_in"] - found["total_out"]
                    if found["total_in"] is not None else None)
    return found


def cluster_result(address: str, heuristics: Sequence[str] = (MULTI_INPUT,)
                   ) -> dict[str, Any] | None:
    """The cluster of ``address``: members, tags of each, and what produced it."""
    found = clustering(heuristics)
    members = found.cluster_of(address)
    if not members:
        return None
    summary = found.summary(top=5)
    return {"address": address, "cluster": found.cluster_id(address), "size": len(members),
            "heuristics": list(heuristics), "members": members, "tags": tags_of(members),
            "skipped_transactions": summary["skipped_transactions"],
            "warnings": summary["warnings"]}


def why(a: str, b: str, heuristics: Sequence[str] = (MULTI_INPUT,)
        ) -> list[dict[str, str]] | None:
    """The unions that link ``a`` and ``b`` (see Clustering.why), or None."""
    return clustering(heuristics).why(a.strip(), b.strip())


# --- traces ------------------------------------------------------------------------------


def trace_parameters(seed: str, direction: str = "forward", hops: int = 3,
                     model: str = "haircut", stop: Sequence[str] = ("exchange",)
                     ) -> dict[str, Any]:
    if direction not in DIRECTIONS:
        raise LedgerError(f"unknown direction {direction!r}")
    if model not in MODELS:
        raise LedgerError(f"unknown taint model {model!r}")
    if not 1 <= hops <= MAX_HOPS:
        raise LedgerError(f"hops must be between 1 and {MAX_HOPS}")
    return {"seed": seed.strip(), "direction": direction, "hops": int(hops), "model": model,
            "stop": [s.strip().lower() for s in stop if s.strip()]}


def run_trace(parameters: dict[str, Any]) -> dict[str, Any]:
    """The trace as a JSON-ready dict (``Trace.to_dict``); TraceError when it cannot run."""
    from dalil.engine.ledger.trace import trace

    result = trace(store().connect(), parameters["seed"], direction=parameters["direction"],
                   hops=parameters["hops"], model=parameters["model"],
                   stop_categories=parameters["stop"])
    return result.to_dict()


def graph_elements(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Cytoscape.js elements of a trace: nodes with their tags, edges with amount and taint."""
    elements: list[dict[str, Any]] = []
    for n in result["nodes"]:
        value = n["id"].split(":", 1)[1]
        labels = sorted({t["label"] for t in n.get("tags") or []})
        short = value if len(value) <= 16 else value[:8] + "…" + value[-6:]
        elements.append({"group": "nodes", "data": {
            "id": n["id"], "kind": n["kind"], "value": value, "hop": n["hop"],
            "label": short + ("\n" + ", ".join(labels) if labels else ""),
            "tags": ", ".join(labels), "stop": bool(n.get("stop")), "seed": bool(n.get("seed")),
            "time": n.get("time") or ""}})
    for k, e in enumerate(result["edges"]):
        elements.append({"group": "edges", "data": {
            "id": f"e{k}", "source": e["source"], "target": e["target"],
            "amount": e["amount"], "taint": e["taint"], "fraction": e["fraction"],
            "label": f"{e['taint']:,} / {e['amount']:,} ({e['fraction']:.0%})",
            "time": e.get("time") or ""}})
    return elements


# --- exports -----------------------------------------------------------------------------

TRACE_HEADER = ["source", "target", "txid", "index", "amount", "amount_btc", "tainted",
                "tainted_btc", "fraction", "time_utc", "source_tags", "target_tags"]
CLUSTER_HEADER = ["address", "label", "category", "source", "confidence", "currency",
                  "tag_file"]


def trace_rows(result: dict[str, Any]) -> list[list[Any]]:
    tags = {n["id"]: "; ".join(sorted({t["label"] for t in n.get("tags") or []}))
            for n in result["nodes"]}
    bitcoin = result.get("ledger") == "bitcoin"
    return [[e["source"], e["target"], e["txid"], e["index"], e["amount"],
             btc(e["amount"]) if bitcoin else "", e["taint"],
             btc(e["taint"]) if bitcoin else "", e["fraction"], e.get("time") or "",
             tags.get(e["source"], ""), tags.get(e["target"], "")]
            for e in result["edges"]]


def cluster_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for member in result["members"]:
        tags = result["tags"].get(member) or [{}]
        for t in tags:
            rows.append([member, t.get("label") or "", t.get("category") or "",
                         t.get("source") or "", t.get("confidence") or "",
                         t.get("currency") or "", t.get("file") or ""])
    return rows


def parameter_rows(parameters: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, ", ".join(str(x) for x in v) if isinstance(v, list) else str(v))
            for k, v in parameters.items()]


def provenance(parameters: dict[str, Any], info: StoreInfo) -> list[tuple[str, Any]]:
    return [*((f"parameter {k}", v) for k, v in parameter_rows(parameters)),
            ("store", info.root), ("store manifest sha256", info.manifest_sha256),
            ("store parts", info.parts), ("engine", f"dalil {__version__}"),
            ("exported at", datetime.now(UTC).isoformat(timespec="seconds"))]


# --- findings ----------------------------------------------------------------------------


def save_finding(case: Case, *, kind: str, parameters: dict[str, Any],
                 result: dict[str, Any], info: StoreInfo, user: Any,
                 title: str = "", note: str = "") -> LedgerFinding:
    """Record a trace or cluster in ``case`` with its provenance, and a custody note."""
    if kind not in LedgerFinding.Kind.values:
        raise cases.CaseError(f"unknown finding kind {kind!r}")
    if info.empty:
        raise cases.CaseError("the ledger store is empty: nothing to record")
    title = (title.strip() or default_title(kind, parameters))[:300]
    actor = cases.actor_name(user)
    with transaction.atomic():
        finding = LedgerFinding.objects.create(
            case=case, kind=kind, title=title, parameters=parameters, result=result,
            store_manifest_sha256=info.manifest_sha256, store_parts=info.parts,
            engine_version=__version__, note=note.strip(), created_by=user)
        cases.record_custody(case, None, "note", actor, {
            "text": f"ledger {kind} finding recorded: {title}",
            "finding": finding.pk, "store_manifest_sha256": info.manifest_sha256,
            "result_sha256": result_sha256(result)})
    return finding


def default_title(kind: str, parameters: dict[str, Any]) -> str:
    if kind == LedgerFinding.Kind.TRACE:
        return (f"{parameters['direction']} trace from {parameters['seed']} "
                f"({parameters['model']}, {parameters['hops']} hops)")
    return f"cluster of {parameters['address']} ({', '.join(parameters['heuristics'])})"


def result_sha256(result: dict[str, Any]) -> str:
    from dalil.engine.evidence.canonical import canonical_sha256

    try:
        return canonical_sha256(result)
    except ValueError:  # an integer beyond JSON's safe range (token base units)
        data = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(int(epoch), UTC).isoformat()


# --- what the court report says about each method ----------------------------------------

HEURISTIC_TEXT: dict[str, dict[str, Any]] = {
    MULTI_INPUT: {
        "name": gettext_lazy("Multi-input (common-input-ownership)"),
        "assumption": gettext_lazy(
            "All inputs of one transaction are controlled by one person or service, "
            "because spending them needs all their keys."),
        "limits": [
            gettext_lazy("CoinJoin transactions join the inputs of many owners. Dalil skips "
                         "transactions that match Whirlpool, Wasabi 1.x and 2.0, JoinMarket "
                         "and the equal-output rule, but an unrecognised CoinJoin or a "
                         "PayJoin still merges unrelated owners."),
            gettext_lazy("Custodial services (exchanges, wallets) spend their customers' "
                         "coins together: a cluster can be a whole service, not a person."),
            gettext_lazy("When the spent output is not in the store, the input's address is "
                         "derived from its spending script (P2PKH and P2WPKH public keys) and "
                         "marked as derived; other inputs of unknown origin are not "
                         "clustered."),
        ],
    },
    ONE_TIME_CHANGE: {
        "name": gettext_lazy("One-time change"),
        "assumption": gettext_lazy(
            "The only output to a never-seen address that is never used again is the "
            "sender's change."),
        "limits": [gettext_lazy("Wallets that send payments to fresh addresses make this "
                                "pick the payment: a false positive merges payer and payee.")],
    },
    ADDRESS_TYPE: {
        "name": gettext_lazy("Address type"),
        "assumption": gettext_lazy(
            "Change goes to the same script type as the inputs; the payment to another type."),
        "limits": [gettext_lazy("A payee using the sender's script type (common since "
                                "SegWit became the default) makes the pick wrong or "
                                "ambiguous.")],
    },
    ROUND_VALUE: {
        "name": gettext_lazy("Round value"),
        "assumption": gettext_lazy(
            "Of two outputs, a round amount (whole mBTC) is the payment; the other the change."),
        "limits": [gettext_lazy("Payments priced in fiat are rarely round in bitcoin; "
                                "round change happens by chance.")],
    },
    OPTIMAL_CHANGE: {
        "name": gettext_lazy("Optimal change"),
        "assumption": gettext_lazy(
            "An output smaller than every input is the change: a wallet would not have "
            "needed the smallest input otherwise."),
        "limits": [gettext_lazy("Wallets that consolidate coins or pick inputs randomly "
                                "break the assumption; needs every input's value.")],
    },
}
CHANGE_LIMIT = gettext_lazy(
    "Change detection has false positives: one wrong change link merges two owners' "
    "clusters, and chains of them build super-clusters. Dalil warns when a merge joins two "
    "large clusters.")


def heuristic_texts(names: Iterable[str]) -> list[dict[str, Any]]:
    texts = []
    for name in names:
        entry = dict(HEURISTIC_TEXT[name])
        entry["id"] = name
        if name != MULTI_INPUT:
            entry["limits"] = [*entry["limits"], CHANGE_LIMIT]
        texts.append(entry)
    return texts

