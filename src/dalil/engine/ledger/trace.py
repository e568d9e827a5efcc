"""Follow money through the ledger: forward or backward, N hops, with a taint model.

Two ledgers are traced the same way and give the same :class:`Trace`:

- Bitcoin (UTXO) transactions in the store: from an address, a transaction id or one
  output (``txid:vout``).
- Account-model transfers imported from explorer exports (``transfers`` table, USDT on
  Ethereum or Tron, or BTC explorer lists): from an address or a transaction id.

Taint models (the assumptions are repeated, in words, in every result):

- ``poison``: anything touched by tainted value is wholly tainted.
- ``haircut``: a transaction (or an account) mixes what it receives; every output carries
  tainted value in proportion to the tainted share of what went in.
- ``fifo``: first in, first out. Bitcoin: the inputs' satoshis are laid end to end in input
  order and handed to the outputs in output order (the fee comes last). Accounts: an
  outgoing transfer spends the oldest received value first.

Backward, the same models say where the traced value came from.

Hops count transactions (Bitcoin) or transfers (accounts) followed from the seed; a seed
transaction is hop 0. Tracing stops at addresses tagged with a service category (by
default ``exchange``): that is where a production order can be served.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

MODELS = ("poison", "haircut", "fifo")
DIRECTIONS = ("forward", "backward")
STOP_CATEGORIES = ("exchange",)
MAX_TRANSACTIONS = 20_000
PEEL_MIN_LENGTH = 3

ASSUMPTIONS = {
    "poison": "Poison: any output (or transfer) that receives any tainted value is treated "
              "as wholly tainted. It over-states taint and is an upper bound.",
    "haircut": "Haircut: value is mixed in proportion; each output of a transaction (or each "
               "transfer out of an account) carries tainted value in the same proportion as "
               "the tainted share of the value that went in. Fees take their share.",
    "fifo": "FIFO (first in, first out): the satoshis of a transaction's inputs are laid end "
            "to end in input order and handed to the outputs in output order, the fee last; "
            "an account spends the value it received first before later receipts.",
}
COMMON = [
    "Amounts are in the smallest unit (satoshi for Bitcoin, 10^-decimals of the token for "
    "transfers); times are UTC.",
    "Only transactions and transfers in the store are followed; value from outside the "
    "store is treated as clean (untainted).",
    "Tracing stops at addresses tagged with a service category ({stops}); tags are "
    "attributions from their sources, not proof.",
]


class TraceError(ValueError):
    """The seed is not in the store or the options are not valid."""


class SeedNotFound(TraceError):
    """The seed (address, transaction, output) is not in the ledger being traced."""


@dataclass
class FlowNode:
    id: str
    kind: str  # "tx" or "address"
    hop: int
    time: str | None = None
    tags: list[dict[str, Any]] = field(default_factory=list)
    stop: bool = False  # a tagged service: not followed further
    seed: bool = False


@dataclass
class FlowEdge:
    source: str
    target: str
    amount: int
    taint: int
    fraction: float
    time: str | None
    txid: str
    index: int  # vin (into a tx), vout (out of a tx), or the transfer's position


@dataclass
class Trace:
    seed: str
    seed_kind: str
    ledger: str  # "bitcoin" or "transfers"
    direction: str
    model: str
    hops: int
    nodes: list[FlowNode]
    edges: list[FlowEdge]
    peeling_chains: list[dict[str, Any]]
    stopped_at: list[dict[str, Any]]
    assumptions: list[str]
    notes: list[str]
    truncated: bool = False
    unit: str = "satoshi"

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "seed_kind": self.seed_kind, "ledger": self.ledger,
            "direction": self.direction, "model": self.model, "hops": self.hops,
            "unit": self.unit, "truncated": self.truncated,
            "nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges],
            "peeling_chains": self.peeling_chains, "stopped_at": self.stopped_at,
            "assumptions": self.assumptions, "notes": self.notes,
            "totals": self.totals(),
        }

    def totals(self) -> dict[str, int]:
        """Tainted value at the end points: unspent, at services, or at the hop limit."""
        leaving = {e.source for e in self.edges}
        arriving = {e.target for e in self.edges}
        end: dict[str, int] = defaultdict(int)
        for e in self.edges:
            if self.direction == "forward" and e.target not in leaving:
                end[e.target] += e.taint
            elif self.direction == "backward" and e.source not in arriving:
                end[e.source] += e.taint
        return dict(sorted(end.items()))


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(int(epoch), UTC).isoformat()


def _check(direction: str, model: str, hops: int) -> None:
    if direction not in DIRECTIONS:
        raise TraceError(f"unknown direction {direction!r}; one of {', '.join(DIRECTIONS)}")
    if model not in MODELS:
        raise TraceError(f"unknown taint model {model!r}; one of {', '.join(MODELS)}")
    if hops < 1:
        raise TraceError(f"hops must be 1 or more, not {hops}")


def parse_seed(seed: str) -> tuple[str, str, int | None]:
    """(kind, value, vout): kind is "output" (txid:vout), "tx" (64 hex digits) or "address"."""
    text = seed.strip()
    head, sep, tail = text.rpartition(":")
    if sep and len(head) == 64 and _is_hex(head) and tail.isdigit():
        return "output", head.lower(), int(tail)
    if len(text) == 64 and _is_hex(text):
        return "tx", text.lower(), None
    if len(text) == 66 and text.lower().startswith("0x") and _is_hex(text[2:]):
        return "tx", text.lower(), None  # an Ethereum transaction hash
    if not text:
        raise TraceError("empty seed: give an address, a txid or txid:vout")
    return "address", text, None


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


# --- taint arithmetic ----------------------------------------------------------------------

Intervals = list[tuple[int, int]]


def map_intervals(src_values: Sequence[int], src_taint: Sequence[Intervals],
                  dst_values: Sequence[int]) -> list[Intervals]:
    """FIFO: lay ``src`` end to end, map each one's tainted intervals onto ``dst`` items.

    Intervals are [start, end) offsets inside each item. Forward, src are the inputs and dst
    the outputs (value past the outputs is the fee); backward, the other way round.
    """
    dst_starts: list[int] = []
    pos = 0
    for v in dst_values:
        dst_starts.append(pos)
        pos += v
    dst_end = pos
    result: list[Intervals] = [[] for _ in dst_values]
    offset = 0
    for value, intervals in zip(src_values, src_taint, strict=True):
        for a, b in intervals:
            lo, hi = offset + a, min(offset + b, dst_end)
            k = max(bisect.bisect_right(dst_starts, lo) - 1, 0)
            while lo < hi and k < len(dst_values):
                start, end = dst_starts[k], dst_starts[k] + dst_values[k]
                cut_lo, cut_hi = max(lo, start), min(hi, end)
                if cut_lo < cut_hi:
                    _add_interval(result[k], cut_lo - start, cut_hi - start)
                k += 1
                if end >= hi:
                    break
        offset += value
    return result


def _add_interval(target: Intervals, a: int, b: int) -> None:
    if target and target[-1][1] == a:
        target[-1] = (target[-1][0], b)
    else:
        target.append((a, b))


def _length(intervals: Intervals) -> int:
    return sum(b - a for a, b in intervals)


def _split(model: str, src_values: Sequence[int | None], src_taint: Sequence[Any],
           dst_values: Sequence[int]) -> tuple[list[Any], bool]:
    """Taint of each dst item from the src items' taint; True when FIFO fell back to pro rata.

    Taint is a list of intervals under FIFO and an amount (float) otherwise.
    """
    if model == "poison":
        hit = any(_amount(t) > 0 for t in src_taint)
        return [float(v) if hit else 0.0 for v in dst_values], False
    if model == "fifo" and all(v is not None for v in src_values):
        known = [int(v or 0) for v in src_values]
        return map_intervals(known, src_taint, dst_values), False
    tainted = sum(_amount(t) for t in src_taint)
    total = max(sum(v for v in src_values if v is not None), 1)
    amounts = [v * tainted / total for v in dst_values]
    if model == "fifo":  # an input of unknown value: no FIFO order is possible
        return [[(0, round(a))] if round(a) > 0 else [] for a in amounts], True
    return amounts, False


def _split_back(model: str, out_values: Sequence[int], out_taint: Sequence[Any],
                in_values: Sequence[int | None]) -> tuple[list[Any], bool]:
    """Backward: how much of each input the traced part of the outputs came from."""
    if model == "poison":
        return [float(v or 0) for v in in_values], False
    if model == "fifo" and all(v is not None for v in in_values):
        return map_intervals(out_values, out_taint, [int(v or 0) for v in in_values]), False
    traced = sum(_amount(t) for t in out_taint)
    total = sum(v for v in in_values if v is not None)
    amounts = [(v or 0) * traced / total if total else 0.0 for v in in_values]
    if model == "fifo":
        return [[(0, round(a))] if round(a) > 0 else [] for a in amounts], True
    return amounts, False


def _amount(taint: Any) -> float:
    return float(_length(taint)) if isinstance(taint, list) else float(taint)


def _full(model: str, value: int) -> Any:
    return [(0, value)] if model == "fifo" and value > 0 else float(value)


# --- Bitcoin (UTXO) ------------------------------------------------------------------------


@dataclass
class _Tx:
    txid: str
    time: int | None
    coinbase: bool
    # (prev_txid, prev_vout, value or None, address)
    inputs: list[tuple[str, int, int | None, str | None]]
    # (value, address, spent_by txid or None)
    outputs: list[tuple[int, str | None, str | None]]


class _Ledger:
    """Batch loader of transactions from a store connection, with a cache."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.cache: dict[str, _Tx] = {}

    def load(self, txids: Iterable[str]) -> dict[str, _Tx]:
        txids = list(txids)
        wanted = sorted({t for t in txids if t not in self.cache})
        if wanted:
            con = self.con
            head = {r[0]: r for r in con.execute(
                "SELECT txid, min(time), bool_or(is_coinbase) FROM transactions "
                "WHERE txid IN (SELECT unnest(?)) GROUP BY txid", [wanted]).fetchall()}
            ins: dict[str, dict[int, tuple[str, int, int | None, str | None]]] = \
                defaultdict(dict)
            for txid, vin, prev, pvout, value, address in con.execute(
                    "SELECT txid, vin, prev_txid, prev_vout, value, address "
                    "FROM inputs_resolved WHERE txid IN (SELECT unnest(?))",
                    [wanted]).fetchall():
                ins[txid][vin] = (prev, pvout, value, address)
            outs: dict[str, dict[int, tuple[int, str | None, str | None]]] = defaultdict(dict)
            for txid, vout, value, address, spender in con.execute(
                    "SELECT o.txid, o.vout, o.value, o.address, min(i.txid) FROM outputs o "
                    "LEFT JOIN inputs i ON i.prev_txid = o.txid AND i.prev_vout = o.vout "
                    "WHERE o.txid IN (SELECT unnest(?)) GROUP BY ALL", [wanted]).fetchall():
                outs[txid][vout] = (value, address, spender)
            for txid, time, coinbase in head.values():
                self.cache[txid] = _Tx(
                    txid, time, bool(coinbase),
                    [ins[txid][k] for k in sorted(ins[txid])],
                    [outs[txid][k] for k in sorted(outs[txid])])
        return {t: self.cache[t] for t in txids if t in self.cache}

    def receipts(self, address: str) -> list[tuple[str, int]]:
        return [(t, v) for t, v in self.con.execute(
            "SELECT DISTINCT txid, vout FROM outputs WHERE address = ? ORDER BY txid, vout",
            [address]).fetchall()]

    def exists(self, txid: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM transactions WHERE txid = ?",
                                     [txid]).fetchone()[0])  # type: ignore[index]


def _stops(con: duckdb.DuckDBPyConnection, stop: Iterable[str]
           ) -> tuple[dict[str, dict[str, Any]], Any]:
    from dalil.engine.ledger.tags import tagged_with, tags_of

    services = {a: t.to_dict() for a, t in tagged_with(con, stop).items()}
    return services, tags_of


def trace_bitcoin(con: duckdb.DuckDBPyConnection, seed: str, *, direction: str = "forward",
                  hops: int = 3, model: str = "haircut",
                  stop_categories: Iterable[str] = STOP_CATEGORIES,
                  max_transactions: int = MAX_TRANSACTIONS) -> Trace:
    """Trace Bitcoin value through the store (see the module's docstring)."""
    _check(direction, model, hops)
    kind, value, vout = parse_seed(seed)
    ledger = _Ledger(con)
    stop = tuple(stop_categories)
    services, tags_of = _stops(con, stop)
    if kind == "address":
        services.pop(value, None)  # tracing from a service's own address follows it
    notes: list[str] = []
    forward = direction == "forward"
    # Tainted (forward) or traced (backward) coins, keyed (txid, vout), and the hop each
    # transaction is processed at.
    coins: dict[tuple[str, int], Any] = {}
    tx_hop: dict[str, int] = {}
    seed_nodes: set[str] = set()
    if kind == "address":
        receipts = ledger.receipts(value)
        if not receipts:
            raise SeedNotFound(f"address {value} received nothing in the store")
        seed_nodes.add("addr:" + value)
        loaded = ledger.load(t for t, _ in receipts)
        for t, v in receipts:
            coins[(t, v)] = _full(model, loaded[t].outputs[v][0])
            if not forward:
                tx_hop[t] = 1
    elif kind == "tx":
        if not ledger.exists(value):
            raise SeedNotFound(f"transaction {value} is not in the store")
        tx_hop[value] = 0
        seed_nodes.add("tx:" + value)
        tx = ledger.load([value])[value]
        for k, (v, _a, _s) in enumerate(tx.outputs):
            coins[(value, k)] = _full(model, v)
    else:
        assert vout is not None
        if not ledger.exists(value):
            raise SeedNotFound(f"transaction {value} is not in the store")
        tx = ledger.load([value])[value]
        if vout >= len(tx.outputs):
            raise TraceError(f"transaction {value} has no output {vout} (it has "
                             f"{len(tx.outputs)})")
        coins[(value, vout)] = _full(model, tx.outputs[vout][0])
        seed_nodes.add(f"out:{value}:{vout}")
        if not forward:
            tx_hop[value] = 1

    # 1. Discover the transactions within ``hops`` (breadth first), before any taint.
    truncated = False
    if forward:
        frontier = list(coins)
        level = 1
        while frontier and level <= hops:
            loaded = ledger.load({t for t, _ in frontier})
            spenders = set()
            for t, v in frontier:
                out = loaded[t].outputs[v] if t in loaded and v < len(loaded[t].outputs) \
                    else None
                if out is None or out[2] is None or out[1] in services:
                    continue
                spenders.add(out[2])
            new = [s for s in spenders if s not in tx_hop]
            for s in new:
                tx_hop[s] = level
            if len(tx_hop) > max_transactions:
                truncated = True
                break
            frontier = [(s, k) for s in new for k in range(len(ledger.load([s])[s].outputs))]
            level += 1
    else:
        level = min(tx_hop.values(), default=0)
        frontier_tx = [t for t, h in tx_hop.items() if h == level]
        while frontier_tx and level < hops:
            loaded = ledger.load(frontier_tx)
            creators = set()
            for t in frontier_tx:
                for prev, _pv, _val, address in loaded[t].inputs:
                    if loaded[t].coinbase or address in services:
                        continue
                    creators.add(prev)
            level += 1
            new = [c for c in ledger.load(creators) if c not in tx_hop]
            for c in new:
                tx_hop[c] = level
            if len(tx_hop) > max_transactions:
                truncated = True
                break
            frontier_tx = new
    txs = ledger.load(tx_hop)
    missing = sorted(set(tx_hop) - set(txs))
    if missing:
        notes.append(f"{len(missing)} transaction(s) referenced but not in the store")

    # 2. Propagate in dependency order (a spender after what it spends).
    order = _topological(txs)
    if not forward:
        order.reverse()
    nodes: dict[str, FlowNode] = {}
    edges: list[FlowEdge] = []
    fallback = 0

    def node(nid: str, kind_: str, hop: int, time: int | None = None) -> FlowNode:
        if nid not in nodes:
            nodes[nid] = FlowNode(nid, kind_, hop, _iso(time), seed=nid in seed_nodes)
        else:
            nodes[nid].hop = min(nodes[nid].hop, hop)
        return nodes[nid]

    if kind == "address":
        node("addr:" + value, "address", 0)
    for t in order:
        tx = txs[t]
        hop = tx_hop[t]
        in_values = [v for _p, _k, v, _a in tx.inputs]
        out_values = [v for v, _a, _s in tx.outputs]
        if forward:
            in_taint = [coins.get((p, k), [] if model == "fifo" else 0.0)
                        for p, k, _v, _a in tx.inputs]
            if kind == "tx" and t == value:
                in_taint = [_full(model, v or 0) for v in in_values]
            if not any(_amount(x) > 0 for x in in_taint):
                continue
            out_taint, fell = _split(model, in_values, in_taint, out_values)
            if kind == "tx" and t == value:
                out_taint = [_full(model, v) for v in out_values]
        else:
            out_taint = [coins.get((t, k), [] if model == "fifo" else 0.0)
                         for k in range(len(out_values))]
            if not any(_amount(x) > 0 for x in out_taint):
                continue
            if tx.coinbase:
                in_taint = [0.0 for _ in in_values]
                notes.append(f"transaction {t} is a coinbase: newly mined value")
                fell = False
            else:
                in_taint, fell = _split_back(model, out_values, out_taint, in_values)
        fallback += fell
        tx_node = node("tx:" + t, "tx", hop, tx.time)
        time = _iso(tx.time)
        for vin, ((prev, pvout, ivalue, address), taint) in enumerate(
                zip(tx.inputs, in_taint, strict=True)):
            amount = _amount(taint)
            if tx.coinbase or amount <= 0 or (forward and kind == "tx" and t == value):
                continue
            src = "addr:" + (address or f"unknown:{prev}:{pvout}")
            src_hop = hop - 1 if forward else hop
            node(src, "address", max(src_hop, 0))
            edges.append(FlowEdge(src, tx_node.id, int(ivalue or 0), round(amount),
                                  _fraction(amount, ivalue), time, t, vin))
            if not forward:
                coins[(prev, pvout)] = taint
                if address in services:
                    node(src, "address", hop).stop = True
        for k, ((v, address, _spender), taint) in enumerate(
                zip(tx.outputs, out_taint, strict=True)):
            amount = _amount(taint)
            if amount <= 0:
                continue
            dst = "addr:" + (address or f"script:{t}:{k}")
            node(dst, "address", hop if forward else hop - 1)
            edges.append(FlowEdge(tx_node.id, dst, v, round(amount), _fraction(amount, v),
                                  time, t, k))
            if forward:
                coins[(t, k)] = taint
                if address in services:
                    nodes[dst].stop = True
    if fallback:
        notes.append(f"{fallback} transaction(s) had inputs of unknown value: split pro rata "
                     f"instead of FIFO")
    addresses = [n.id[5:] for n in nodes.values() if n.kind == "address"]
    for address, found in tags_of(con, addresses).items():
        nodes["addr:" + address].tags = [t.to_dict() for t in found]
    stopped = [{"address": n.id[5:], "tags": n.tags} for n in nodes.values() if n.stop]
    peels = detect_peeling_chains(txs[t] for t in order if "tx:" + t in nodes)
    return Trace(seed=seed.strip(), seed_kind=kind, ledger="bitcoin", direction=direction,
                 model=model, hops=hops, nodes=list(nodes.values()), edges=edges,
                 peeling_chains=peels, stopped_at=stopped,
                 assumptions=_assumptions(model, stop), notes=notes, truncated=truncated)


def _fraction(amount: float, value: int | None) -> float:
    return round(min(amount / value, 1.0), 8) if value else 0.0


def _assumptions(model: str, stop: Sequence[str]) -> list[str]:
    return [ASSUMPTIONS[model], *(c.format(stops=", ".join(stop) or "none") for c in COMMON)]


def _topological(txs: dict[str, _Tx]) -> list[str]:
    """Transactions ordered so that each comes after the ones (in ``txs``) it spends."""
    indegree = dict.fromkeys(txs, 0)
    children: dict[str, list[str]] = defaultdict(list)
    for t, tx in txs.items():
        for parent in {p for p, _k, _v, _a in tx.inputs if p in txs and p != t}:
            indegree[t] += 1
            children[parent].append(t)
    ready = deque(sorted((t for t, d in indegree.items() if d == 0),
                         key=lambda t: (txs[t].time or 0, t)))
    order = []
    while ready:
        t = ready.popleft()
        order.append(t)
        for c in children[t]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    return order


def detect_peeling_chains(txs: Iterable[_Tx], min_length: int = PEEL_MIN_LENGTH
                          ) -> list[dict[str, Any]]:
    """Runs of ``min_length``+ transactions that each peel a small payment off a large coin.

    A peel transaction has exactly two outputs, one at least twice as large as the other;
    the next transaction of the run spends the large one (the change).
    """
    peel: dict[str, _Tx] = {}
    for tx in txs:
        if tx.coinbase or len(tx.outputs) != 2:
            continue
        small, large = sorted((tx.outputs[0][0], tx.outputs[1][0]))
        if large >= 2 * small:
            peel[tx.txid] = tx
    nxt: dict[str, str] = {}
    for t, tx in peel.items():
        change = max(range(2), key=lambda k: tx.outputs[k][0])
        spender = tx.outputs[change][2]
        if spender in peel:
            nxt[t] = spender
    has_prev = set(nxt.values())
    chains = []
    for start in sorted(t for t in peel if t not in has_prev and t in nxt):
        run = [start]
        while run[-1] in nxt and nxt[run[-1]] not in run:
            run.append(nxt[run[-1]])
        if len(run) < min_length:
            continue
        payments: list[dict[str, Any]] = []
        for t in run:
            tx = peel[t]
            k = min(range(2), key=lambda j: tx.outputs[j][0])
            payments.append({"txid": t, "vout": k, "address": tx.outputs[k][1],
                             "value": tx.outputs[k][0]})
        chains.append({"transactions": run, "length": len(run), "payments": payments,
                       "peeled": sum(p["value"] for p in payments),
                       "start_value": sum(v for _p, _k, v, _a in peel[start].inputs
                                          if v is not None)})
    return chains


# --- account model (explorer transfers) ----------------------------------------------------


@dataclass
class _Transfer:
    key: int
    txid: str
    position: int
    time: int | None
    source: str
    target: str
    value: int
    token: str | None


def _transfers_of(con: duckdb.DuckDBPyConnection, addresses: Iterable[str],
                  token: str | None) -> list[_Transfer]:
    wanted = sorted(set(addresses))
    rows = con.execute(
        "SELECT DISTINCT txid, position, time, block, from_address, to_address, value, token "
        "FROM transfers WHERE (from_address IN (SELECT unnest(?)) "
        "OR to_address IN (SELECT unnest(?))) "
        "AND (CAST(? AS VARCHAR) IS NULL OR token = ?) "
        "ORDER BY time NULLS FIRST, block NULLS FIRST, txid, position",
        [wanted, wanted, token, token]).fetchall()
    return [_Transfer(0, r[0], r[1] or 0, r[2], r[4], r[5], int(Decimal(r[6])), r[7])
            for r in rows]


def trace_transfers(con: duckdb.DuckDBPyConnection, seed: str, *,
                    direction: str = "forward", hops: int = 3, model: str = "haircut",
                    token: str | None = None,
                    stop_categories: Iterable[str] = STOP_CATEGORIES) -> Trace:
    """Trace token (or explorer BTC) transfers in the account model."""
    _check(direction, model, hops)
    kind, value, _vout = parse_seed(seed)
    if kind == "output":
        raise TraceError("an output (txid:vout) exists only in Bitcoin; give an address or "
                         "a transaction hash for transfers")
    stop = tuple(stop_categories)
    services, tags_of = _stops(con, stop)
    forward = direction == "forward"
    # 1. Discover addresses within ``hops`` transfers of the seed (breadth first).
    depth: dict[str, int] = {}
    seed_transfers: set[tuple[str, int]] = set()
    if kind == "address":
        depth[value] = 0
        # Seed by the address as written or in lower case (Ethereum is case-insensitive).
        if not con.execute("SELECT count(*) FROM transfers WHERE from_address = ? "
                           "OR to_address = ?", [value, value]).fetchone()[0]:  # type: ignore[index]
            low = value.lower()
            if con.execute("SELECT count(*) FROM transfers WHERE from_address = ? "
                           "OR to_address = ?", [low, low]).fetchone()[0]:  # type: ignore[index]
                value = low
                depth = {value: 0}
            else:
                raise SeedNotFound(f"address {value} has no transfers in the store")
    else:
        rows = con.execute("SELECT DISTINCT from_address, to_address, position FROM transfers "
                           "WHERE txid = ?", [value]).fetchall()
        if not rows:
            raise SeedNotFound(f"transaction {value} has no transfers in the store")
        for src, dst, position in rows:
            seed_transfers.add((value, position or 0))
            depth.setdefault(dst if forward else src, 1)
    if kind == "address":
        services.pop(value, None)  # tracing from a service's own address follows it
    frontier = set(depth)
    level = min(depth.values())
    while frontier and level < hops:
        found = _transfers_of(con, frontier, token)
        nxt = set()
        for t in found:
            here, there = (t.source, t.target) if forward else (t.target, t.source)
            if here in frontier and here not in services and there not in depth:
                depth[there] = level + 1
                nxt.add(there)
        frontier = nxt
        level += 1
    followed = {a for a, d in depth.items() if d < hops and a not in services}
    transfers = _transfers_of(con, depth, token)
    for n, t in enumerate(transfers):
        t.key = n

    # 2. Compositions: each outgoing transfer of a followed address as {incoming key: amount}.
    comp: dict[int, dict[int, float]] = {}
    by_address: dict[str, list[_Transfer]] = defaultdict(list)
    for t in transfers:
        by_address[t.source].append(t)
        if t.target != t.source:
            by_address[t.target].append(t)
    unfunded = 0
    for address in followed:
        chunks: deque[list[float]] = deque()  # [incoming key, amount left]
        for t in by_address[address]:
            if t.target == address and t.source != address:
                chunks.append([float(t.key), float(t.value)])
                continue
            if t.source != address:
                continue
            need = float(t.value)
            parts: dict[int, float] = {}
            if model == "poison":
                parts = {int(k): amt for k, amt in chunks}
            elif model == "fifo":
                while need > 0 and chunks:
                    k, amt = chunks[0]
                    take = min(amt, need)
                    parts[int(k)] = parts.get(int(k), 0.0) + take
                    need -= take
                    chunks[0][1] -= take
                    if chunks[0][1] <= 0:
                        chunks.popleft()
            else:
                balance = sum(amt for _k, amt in chunks)
                share = min(need / balance, 1.0) if balance > 0 else 0.0
                for chunk in chunks:
                    take = chunk[1] * share
                    parts[int(chunk[0])] = take
                    chunk[1] -= take
                need -= balance * share
                while chunks and chunks[0][1] <= 1e-9:
                    chunks.popleft()
            if need > 0.5 and model != "poison":
                unfunded += 1
            comp[t.key] = parts

    # 3. Taint, in time order forward and reverse time order backward.
    taint: dict[int, float] = {}
    if forward:
        for t in transfers:
            if (kind == "address" and t.source == value) or (t.txid, t.position) in \
                    seed_transfers:
                taint[t.key] = float(t.value)
            elif t.key in comp and t.source in followed:
                parts = comp[t.key]
                if model == "poison":
                    hit = any(taint.get(k, 0.0) > 0 for k in parts)
                    taint[t.key] = float(t.value) if hit else 0.0
                else:
                    taint[t.key] = sum(amt * taint.get(k, 0.0) / transfers[k].value
                                       for k, amt in parts.items() if transfers[k].value)
    else:
        for t in reversed(transfers):
            if (kind == "address" and t.target == value) or (t.txid, t.position) in \
                    seed_transfers:
                taint[t.key] = taint.get(t.key, 0.0) + float(t.value)
            traced = taint.get(t.key, 0.0)
            if traced <= 0 or t.key not in comp or t.source not in followed:
                continue
            parts = comp[t.key]
            if model == "poison":
                for k in parts:
                    taint[k] = float(transfers[k].value)
            else:
                for k, amt in parts.items():
                    taint[k] = taint.get(k, 0.0) + amt * traced / t.value
    nodes: dict[str, FlowNode] = {}
    edges: list[FlowEdge] = []
    if kind == "address":
        nodes[value] = FlowNode("addr:" + value, "address", 0, seed=True)
    for t in transfers:
        amount = taint.get(t.key, 0.0)
        if amount <= 0:
            continue
        edges.append(FlowEdge("addr:" + t.source, "addr:" + t.target, t.value,
                              round(amount), _fraction(amount, t.value), _iso(t.time),
                              t.txid, t.position))
        for a in (t.source, t.target):
            nodes.setdefault(a, FlowNode("addr:" + a, "address", depth.get(a, hops),
                                         stop=a in services and a != value))
    for address, found in tags_of(con, list(nodes)).items():
        nodes[address].tags = [x.to_dict() for x in found]
    notes = []
    if unfunded:
        notes.append(f"{unfunded} transfer(s) sent more than the account was known to hold: "
                     f"the rest is treated as clean value from outside the export")
    tokens = {t.token for t in transfers if t.token}
    unit = "base units of " + ", ".join(sorted(tokens)) if tokens else "base units"
    return Trace(seed=seed.strip(), seed_kind=kind, ledger="transfers", direction=direction,
                 model=model, hops=hops, nodes=list(nodes.values()), edges=edges,
                 peeling_chains=[],
                 stopped_at=[{"address": n.id[5:], "tags": n.tags}
                             for n in nodes.values() if n.stop],
                 assumptions=[*_assumptions(model, stop),
                              "Account model: an address's balance is one pool; the order "
                              "of transfers is their time, then block, then position."],
                 notes=notes, unit=unit)


def trace(con: duckdb.DuckDBPyConnection, seed: str, *, direction: str = "forward",
          hops: int = 3, model: str = "haircut", ledger: str = "auto",
          stop_categories: Iterable[str] = STOP_CATEGORIES) -> Trace:
    """Trace over Bitcoin transactions, or over transfers when the seed is only there."""
    _check(direction, model, hops)
    if ledger == "bitcoin":
        return trace_bitcoin(con, seed, direction=direction, hops=hops, model=model,
                             stop_categories=stop_categories)
    if ledger == "transfers":
        return trace_transfers(con, seed, direction=direction, hops=hops, model=model,
                               stop_categories=stop_categories)
    try:
        return trace_bitcoin(con, seed, direction=direction, hops=hops, model=model,
                             stop_categories=stop_categories)
    except SeedNotFound as first:
        if parse_seed(seed)[0] == "output":
            raise
        try:
            return trace_transfers(con, seed, direction=direction, hops=hops, model=model,
                                   stop_categories=stop_categories)
        except SeedNotFound:
            raise first from None
