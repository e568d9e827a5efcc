"""Address clustering: the multi-input (common-input-ownership) heuristic.

Addresses are integer ids; unions run on numpy arrays in rounds over the whole edge list
(hooking the root of the smaller cluster under the larger, ties by id, then pointer jumping
to compress every path), so ten million inputs cluster in seconds, in the same league as
``scipy.sparse.csgraph.connected_components``. Every union that joined two clusters is kept
with its edge, and each edge with its reason (the transaction and the heuristic): those
unions form a spanning forest, and :meth:`Clustering.why` walks it to print the chain of
transactions that links two addresses.

CoinJoin transactions break the heuristic's assumption (one owner for all inputs) and are
skipped, as are coinbase transactions; see :func:`coinjoin_kind`.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import duckdb

IntArray = npt.NDArray[np.int64]

MULTI_INPUT = "multi-input"
ONE_TIME_CHANGE = "one-time-change"
ADDRESS_TYPE = "address-type"
ROUND_VALUE = "round-value"
OPTIMAL_CHANGE = "optimal-change"
CHANGE_HEURISTICS = (ONE_TIME_CHANGE, ADDRESS_TYPE, ROUND_VALUE, OPTIMAL_CHANGE)
HEURISTICS = (MULTI_INPUT, *CHANGE_HEURISTICS)
ROUND_UNIT = 100_000  # a payment of a whole number of mBTC (0.001 BTC) is "round"
DUST = frozenset({546, 2730})
WHIRLPOOL_POOLS = frozenset({100_000, 1_000_000, 5_000_000, 50_000_000})
WASABI_BASE = 10_000_000  # 0.1 BTC: Wasabi 1.x base denomination
LARGE_CLUSTER = 1_000


def coinjoin_kind(n_inputs: int, input_owners: int, output_values: Sequence[int]) -> str | None:
    """Name of the CoinJoin pattern a transaction matches, or None.

    ``input_owners`` is the number of distinct input addresses.

    - ``whirlpool``: Samourai Whirlpool, exactly 5 inputs and 5 outputs of one pool
      denomination (0.001, 0.01, 0.05 or 0.5 BTC).
    - ``wasabi``: Wasabi 1.x, at least 10 equal outputs within 10 % of 0.1 BTC (or a power
      of two multiple of it), or Wasabi 2.0, 50+ inputs where most outputs share their
      value with another output.
    - ``joinmarket``: 3+ equal outputs, outputs at most twice that many (one change each),
      and at least as many distinct input owners as equal outputs.
    - ``equal-output``: BlockSci's rule: 2+ inputs, 3+ outputs, participants
      ``(outputs + 1) // 2`` no more than the inputs nor the distinct input addresses, and
      exactly that many outputs of one (non-dust) value.
    """
    n_out = len(output_values)
    if n_inputs < 2 or n_out < 2:
        return None
    counts = Counter(output_values)
    value, equal = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if n_inputs == 5 and n_out == 5 and equal == 5 and value in WHIRLPOOL_POOLS:
        return "whirlpool"
    if equal >= 10:
        level = WASABI_BASE
        while level <= 64 * WASABI_BASE:
            if abs(value - level) <= level // 10:
                return "wasabi"
            level *= 2
    if n_inputs >= 50 and n_out >= 20:
        shared = sum(c for c in counts.values() if c >= 2)
        if shared * 2 >= n_out:
            return "wasabi"
    if equal >= 3 and n_out <= 2 * equal and input_owners >= equal and value not in DUST:
        return "joinmarket"
    if n_out >= 3:
        participants = (n_out + 1) // 2
        if (participants <= n_inputs and participants <= input_owners
                and equal == participants and value not in DUST):
            return "equal-output"
    return None


@dataclass
class MergeWarning:
    reason: str
    heuristic: str
    sizes: tuple[int, int]


def _union_all(parent: npt.NDArray[np.int64], size: npt.NDArray[np.int64],
               u: npt.NDArray[np.int64], v: npt.NDArray[np.int64],
               won: npt.NDArray[np.bool_], large: int,
               big: npt.NDArray[np.int64]) -> int:
    """Union edges in order (union by size, path halving); mark the edges that merged.

    ``big`` receives (edge, size, size) rows for merges of two clusters of ``large`` or more
    ids; returns how many rows it holds. Compiled by numba (see ``_union_kernel``).
    """
    n_big = 0
    for i in range(u.shape[0]):
        a = u[i]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        b = v[i]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a == b:
            continue
        sa = size[a]
        sb = size[b]
        if large > 0 and sa >= large and sb >= large and n_big < big.shape[0]:
            big[n_big, 0] = i
            big[n_big, 1] = sa
            big[n_big, 2] = sb
            n_big += 1
        if sa < sb:
            parent[a] = b
            size[b] = sa + sb
        else:
            parent[b] = a
            size[a] = sa + sb
        won[i] = True
    return n_big


def _compress_all(parent: npt.NDArray[np.int64]) -> None:
    for i in range(parent.shape[0]):
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            nxt = parent[i]
            parent[i] = root
            i = nxt


@cache
def _kernels() -> tuple[Callable[..., int], Callable[..., None]]:
    """The union and compression loops compiled to machine code by numba.

    Compiled on first use and cached on disk, so ten million unions take about a second
    instead of the minutes a Python loop would; imported lazily because numba costs a
    quarter of a second at start-up, which every other `dalil` command would pay.
    """
    import numba

    union = cast(Callable[..., int], numba.njit(cache=True, nogil=True)(_union_all))
    compress = cast(Callable[..., None], numba.njit(cache=True, nogil=True)(_compress_all))
    return union, compress
MAX_BIG_MERGES = 10_000


class UnionFind:
    """Union-find over integer ids ``0..n-1`` in numpy arrays: union by size, path compression.

    The unions that joined two clusters (a spanning forest of the clusters) are kept as
    edge ids in ``forest``, so that a link between two ids can be explained afterwards.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)
        self.forest: list[npt.NDArray[np.int64]] = []

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, int(self.parent[x])
        return root

    def union_edges(self, u: npt.ArrayLike, v: npt.ArrayLike,
                    edge_ids: npt.ArrayLike | None = None,
                    large: int = LARGE_CLUSTER) -> list[tuple[int, tuple[int, int]]]:
        """Union every edge ``u[i] - v[i]``; returns (edge id, sizes) of large-large merges."""
        uu = np.ascontiguousarray(u, dtype=np.int64)
        vv = np.ascontiguousarray(v, dtype=np.int64)
        if uu.shape != vv.shape:
            raise ValueError("u and v differ in length")
        if len(uu) and (min(uu.min(), vv.min()) < 0 or max(uu.max(), vv.max()) >= self.n):
            raise ValueError(f"edge ends must be ids in 0..{self.n - 1}")
        ids = (np.arange(len(uu), dtype=np.int64) if edge_ids is None
               else np.asarray(edge_ids, dtype=np.int64))
        won = np.zeros(len(uu), dtype=np.bool_)
        big = np.zeros((MAX_BIG_MERGES, 3), dtype=np.int64)
        n_big = _kernels()[0](self.parent, self.size, uu, vv, won, int(large), big)
        self.forest.append(ids[won])
        return [(int(ids[e]), (int(a), int(b))) for e, a, b in big[:n_big].tolist()]

    def labels(self) -> IntArray:
        """Each id's cluster label (its root)."""
        _kernels()[1](self.parent)
        return self.parent


@dataclass
class Clustering:
    """Clusters of addresses with the reason for every link."""

    addresses: list[str]
    labels: IntArray
    reasons: list[tuple[str, str]]  # edge id -> (txid, heuristic)
    forest_u: IntArray
    forest_v: IntArray
    forest_edge: IntArray
    warnings: list[MergeWarning]
    skipped: dict[str, int]
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {a: i for i, a in enumerate(self.addresses)}

    def sizes(self) -> Counter[int]:
        return Counter(self.labels.tolist())

    def cluster_of(self, address: str) -> list[str]:
        i = self.index.get(address)
        if i is None:
            return []
        members = np.nonzero(self.labels == self.labels[i])[0]
        return sorted(self.addresses[j] for j in members)

    def cluster_id(self, address: str) -> int | None:
        i = self.index.get(address)
        return None if i is None else int(self.labels[i])

    def why(self, a: str, b: str) -> list[dict[str, str]] | None:
        """The unions linking ``a`` to ``b``: [{from, to, txid, heuristic}], or None."""
        ia, ib = self.index.get(a), self.index.get(b)
        if ia is None or ib is None or self.labels[ia] != self.labels[ib]:
            return None
        if ia == ib:
            return []
        label = self.labels[ia]
        keep = self.labels[self.forest_u] == label
        adjacency: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for x, y, e in zip(self.forest_u[keep].tolist(), self.forest_v[keep].tolist(),
                           self.forest_edge[keep].tolist(), strict=True):
            adjacency[x].append((y, e))
            adjacency[y].append((x, e))
        back: dict[int, tuple[int, int]] = {ia: (-1, -1)}
        queue = deque([ia])
        while queue:
            x = queue.popleft()
            if x == ib:
                break
            for y, e in adjacency[x]:
                if y not in back:
                    back[y] = (x, e)
                    queue.append(y)
        steps = []
        x = ib
        while x != ia:
            prev, e = back[x]
            txid, heuristic = self.reasons[e]
            steps.append({"from": self.addresses[prev], "to": self.addresses[x],
                          "txid": txid, "heuristic": heuristic})
            x = prev
        return steps[::-1]

    def summary(self, top: int = 10) -> dict[str, object]:
        sizes = self.sizes()
        return {
            "addresses": len(self.addresses),
            "clusters": len(sizes),
            "largest": [s for _, s in sizes.most_common(top)],
            "links": len(self.forest_edge),
            "skipped_transactions": dict(self.skipped),
            "warnings": [{"txid": w.reason, "heuristic": w.heuristic,
                          "sizes": list(w.sizes)} for w in self.warnings],
        }


@dataclass(frozen=True)
class TxSpend:
    """What the heuristics need of one transaction.

    The multi-input heuristic reads the first four fields; the change heuristics also need
    the output addresses and script types, the input script types and the input values
    (None where unknown).
    """

    txid: str
    input_addresses: Sequence[str | None]
    output_values: Sequence[int]
    coinbase: bool = False
    output_addresses: Sequence[str | None] = ()
    output_types: Sequence[str | None] = ()
    input_types: Sequence[str | None] = ()
    input_values: Sequence[int | None] = ()


def parse_heuristics(text: str | Iterable[str]) -> tuple[str, ...]:
    """Heuristic names from ``"multi-input,one-time-change"``; ValueError names unknown ones."""
    names = [h.strip() for h in (text.split(",") if isinstance(text, str) else text)]
    names = [h for h in names if h]
    unknown = sorted(set(names) - set(HEURISTICS))
    if unknown:
        raise ValueError(f"unknown heuristic(s): {', '.join(unknown)}; available: "
                         f"{', '.join(HEURISTICS)}")
    if not names:
        raise ValueError(f"no heuristic given; available: {', '.join(HEURISTICS)}")
    return tuple(h for h in HEURISTICS if h in names)


def change_output(tx: TxSpend, heuristic: str, seen: set[str],
                  uses: Counter[str]) -> int | None:
    """The output ``heuristic`` picks as the change of ``tx``, or None when it cannot tell.

    - ``one-time-change`` (Meiklejohn et al. 2013): exactly one output goes to an address
      never seen before in the chain and never used again, and every other output's address
      was seen before.
    - ``address-type``: every input has one script type and exactly one output has it.
    - ``round-value``: of two outputs exactly one is a round amount (whole mBTC): the
      payment; the other is the change.
    - ``optimal-change``: exactly one output is smaller than every input (a wallet would not
      have needed the smallest input otherwise); needs every input value.

    Common guards (applied by the caller): not coinbase, not CoinJoin-shaped, two or more
    outputs, and no output back to an input address (self-change tells nothing new).
    """
    n_out = len(tx.output_values)
    addresses = list(tx.output_addresses) or [None] * n_out
    if heuristic == ONE_TIME_CHANGE:
        fresh = [k for k, a in enumerate(addresses) if a is not None and a not in seen]
        if len(fresh) != 1 or uses[addresses[fresh[0]] or ""] != 1:
            return None
        others = [a for k, a in enumerate(addresses) if k != fresh[0]]
        return fresh[0] if all(a is not None and a in seen for a in others) else None
    if heuristic == ADDRESS_TYPE:
        kinds = set(tx.input_types)
        if len(kinds) != 1 or None in kinds or len(tx.output_types) != n_out:
            return None
        (kind,) = kinds
        same = [k for k, t in enumerate(tx.output_types) if t == kind]
        return same[0] if len(same) == 1 else None
    if heuristic == ROUND_VALUE:
        if n_out != 2:
            return None
        round_ = [v > 0 and v % ROUND_UNIT == 0 for v in tx.output_values]
        if round_[0] == round_[1]:
            return None
        return 1 if round_[0] else 0
    if heuristic == OPTIMAL_CHANGE:
        values = list(tx.input_values)
        if not values or any(v is None for v in values):
            return None
        smallest = min(v for v in values if v is not None)
        below = [k for k, v in enumerate(tx.output_values) if v < smallest]
        return below[0] if len(below) == 1 else None
    raise ValueError(f"unknown change heuristic {heuristic!r}")


def cluster_transactions(transactions: Iterable[TxSpend],
                         heuristics: Iterable[str] = (MULTI_INPUT,), *,
                         large: int = LARGE_CLUSTER) -> Clustering:
    """Cluster with the named heuristics; ``transactions`` in chain order.

    With ``multi-input`` alone this is :func:`cluster_multi_input`. A change heuristic
    links the change output's address to the transaction's first input address with the
    reason (txid, heuristic). When several change heuristics fire on one transaction and
    agree, the reason names them all ("address-type+round-value"); when they point to
    different outputs, none is used (counted as ``change-conflict`` in ``skipped``).
    """
    names = parse_heuristics(list(heuristics))
    if names == (MULTI_INPUT,):
        return cluster_multi_input(transactions, large=large)
    changes = [h for h in names if h != MULTI_INPUT]
    txs = list(transactions)
    uses: Counter[str] = Counter()
    if ONE_TIME_CHANGE in changes:
        for tx in txs:
            uses.update(a for a in tx.output_addresses if a is not None)
    ids: dict[str, int] = {}
    addresses: list[str] = []
    us: list[int] = []
    vs: list[int] = []
    edge_reason: list[int] = []
    reasons: list[tuple[str, str]] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()

    def id_of(a: str) -> int:
        if a not in ids:
            ids[a] = len(addresses)
            addresses.append(a)
        return ids[a]

    for tx in txs:
        known = [a for a in tx.input_addresses if a is not None]
        for a in known:
            id_of(a)
        if tx.coinbase:
            skipped["coinbase"] += 1
            seen.update(a for a in tx.output_addresses if a is not None)
            continue
        owners = set(known)
        kind = coinjoin_kind(len(tx.input_addresses), len(owners), tx.output_values)
        if kind is not None and len(owners) >= 2:
            skipped[kind] += 1
        elif kind is None:
            if MULTI_INPUT in names and len(owners) >= 2:
                reason = len(reasons)
                reasons.append((tx.txid, MULTI_INPUT))
                first = ids[known[0]]
                for a in owners:
                    j = ids[a]
                    if j != first:
                        us.append(first)
                        vs.append(j)
                        edge_reason.append(reason)
            outs = list(tx.output_addresses)
            if (known and len(tx.output_values) >= 2 and len(outs) == len(tx.output_values)
                    and not owners.intersection(a for a in outs if a is not None)):
                picks = {h: change_output(tx, h, seen, uses) for h in changes}
                fired = {h: k for h, k in picks.items() if k is not None}
                chosen = set(fired.values())
                if len(chosen) > 1:
                    skipped["change-conflict"] += 1
                elif chosen:
                    target = outs[chosen.pop()]
                    if target is not None:
                        reasons.append((tx.txid, "+".join(fired)))
                        us.append(ids[known[0]])
                        vs.append(id_of(target))
                        edge_reason.append(len(reasons) - 1)
        seen.update(known)
        seen.update(a for a in tx.output_addresses if a is not None)
    return cluster_edges(addresses, np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64),
                         np.array(edge_reason, dtype=np.int64), reasons, dict(skipped),
                         large=large)


def cluster_multi_input(transactions: Iterable[TxSpend], *,
                        large: int = LARGE_CLUSTER) -> Clustering:
    """Cluster the input addresses of every non-coinbase, non-CoinJoin transaction."""
    ids: dict[str, int] = {}
    addresses: list[str] = []
    us: list[int] = []
    vs: list[int] = []
    edge_reason: list[int] = []
    reasons: list[tuple[str, str]] = []
    skipped: Counter[str] = Counter()
    for tx in transactions:
        known = [a for a in tx.input_addresses if a is not None]
        for a in known:
            if a not in ids:
                ids[a] = len(addresses)
                addresses.append(a)
        if tx.coinbase:
            skipped["coinbase"] += 1
            continue
        owners = set(known)
        if len(owners) < 2:
            continue
        kind = coinjoin_kind(len(tx.input_addresses), len(owners), tx.output_values)
        if kind is not None:
            skipped[kind] += 1
            continue
        reason = len(reasons)
        reasons.append((tx.txid, MULTI_INPUT))
        first = ids[known[0]]
        for a in owners:
            j = ids[a]
            if j != first:
                us.append(first)
                vs.append(j)
                edge_reason.append(reason)
    return cluster_edges(addresses, np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64),
                         np.array(edge_reason, dtype=np.int64), reasons, dict(skipped),
                         large=large)


def cluster_edges(addresses: list[str], u: IntArray, v: IntArray, edge_reason: IntArray,
                  reasons: list[tuple[str, str]], skipped: dict[str, int] | None = None, *,
                  large: int = LARGE_CLUSTER) -> Clustering:
    """Cluster from an edge list whose edge ``i`` has reason ``reasons[edge_reason[i]]``."""
    uf = UnionFind(len(addresses))
    big = uf.union_edges(u, v, large=large)
    won = np.concatenate(uf.forest) if uf.forest else np.zeros(0, dtype=np.int64)
    warnings = [MergeWarning(*reasons[int(edge_reason[e])], sizes) for e, sizes in big]
    return Clustering(addresses, uf.labels(), reasons, u[won], v[won], edge_reason[won],
                      warnings, skipped or {})


def store_transactions(con: duckdb.DuckDBPyConnection) -> Iterable[TxSpend]:
    """The transactions of a store (see :meth:`LedgerStore.connect`) as :class:`TxSpend`.

    Input addresses come from ``inputs_resolved``: the spent output's address when the store
    has it, else the address derived from the spending script, else None (unknown).
    """
    rows = con.execute("""
        SELECT t.txid, t.is_coinbase, i.addrs, coalesce(o.vals, [])
        FROM (SELECT DISTINCT txid, is_coinbase FROM transactions) t
        JOIN (SELECT txid, list(address ORDER BY vin) AS addrs
              FROM inputs_resolved GROUP BY txid) i ON i.txid = t.txid
        LEFT JOIN (SELECT txid, list(value ORDER BY vout) AS vals
                   FROM outputs GROUP BY txid) o ON o.txid = t.txid
        ORDER BY t.txid
    """)
    while batch := rows.fetchmany(10_000):
        for txid, coinbase, addrs, values in batch:
            yield TxSpend(txid, addrs, values, bool(coinbase))


def store_transactions_full(con: duckdb.DuckDBPyConnection) -> Iterable[TxSpend]:
    """Like :func:`store_transactions` with what the change heuristics need, in chain order.

    Chain order is block time, then height, then position in the block; transactions
    ingested alone (no block) come last.
    """
    rows = con.execute("""
        SELECT t.txid, t.is_coinbase, i.addrs, i.types, i.vals,
               coalesce(o.vals, []), coalesce(o.addrs, []), coalesce(o.types, [])
        FROM (SELECT txid, any_value(is_coinbase) AS is_coinbase, min(time) AS time,
                     min(position) AS position, any_value(block_hash) AS block_hash
              FROM transactions GROUP BY txid) t
        LEFT JOIN (SELECT block_hash, any_value(height) AS height FROM blocks
                   GROUP BY block_hash) b ON b.block_hash = t.block_hash
        JOIN (SELECT txid, list(address ORDER BY vin) AS addrs,
                     list(script_type ORDER BY vin) AS types,
                     list(value ORDER BY vin) AS vals
              FROM inputs_resolved GROUP BY txid) i ON i.txid = t.txid
        LEFT JOIN (SELECT txid, list(value ORDER BY vout) AS vals,
                          list(address ORDER BY vout) AS addrs,
                          list(script_type ORDER BY vout) AS types
                   FROM outputs GROUP BY txid) o ON o.txid = t.txid
        ORDER BY t.time NULLS LAST, b.height NULLS LAST, t.position, t.txid
    """)
    while batch := rows.fetchmany(10_000):
        for txid, coinbase, addrs, in_types, in_vals, values, out_addrs, out_types in batch:
            yield TxSpend(txid, addrs, values, bool(coinbase), out_addrs, out_types,
                          in_types, in_vals)


def cluster_store(con: duckdb.DuckDBPyConnection, *, large: int = LARGE_CLUSTER,
                  heuristics: Iterable[str] = (MULTI_INPUT,)) -> Clustering:
    """Clusters of the store's addresses under ``heuristics`` (multi-input by default)."""
    names = parse_heuristics(list(heuristics))
    if names == (MULTI_INPUT,):
        return cluster_multi_input(store_transactions(con), large=large)
    return cluster_transactions(store_transactions_full(con), names, large=large)
