"""The tamper-evident chain of custody: sealing entries and verifying a chain.

Each entry is a JSON object canonicalised with RFC 8785; its ``entry_hash`` is the SHA-256 of
that form, it holds the ``prev_hash`` of the entry before it in the same case, and the
installation's Ed25519 key signs the hash. A signed *head* (last sequence number and hash)
closes the chain, so that removing entries from its end is detected as well.

This module is pure: the Django app stores the records, a partner's CLI verifies a bundle's
log with the very same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dalil.engine.evidence.canonical import canonical_bytes, canonical_sha256
from dalil.engine.evidence.signing import PublicKey, SigningKey, b64, unb64

FORMAT = "dalil-custody/1"
GENESIS = "0" * 64

# The details each action must carry, after ISO/IEC 27037 and the ACPO guide: a transfer
# names both hands, a verification both hashes, an examination the tool that touched it.
ACTIONS: dict[str, tuple[str, ...]] = {
    "created": (),
    "seized": ("seized_by", "place"),
    "sealed": ("seal_number",),
    "transferred": ("released_by", "received_by", "purpose", "place", "seal_intact"),
    "accessed": ("purpose",),
    "acquired": ("image", "hashes"),
    "verified": ("algorithm", "expected", "actual", "match"),
    "examined": ("tool", "tool_version", "what", "started_at", "ended_at", "result"),
    "exported": ("format", "destination"),
    "imported": ("source",),
    "returned": ("returned_to",),
    "destroyed": ("method", "authorised_by"),
    "note": ("text",),
}


class CustodyError(ValueError):
    """An entry cannot be recorded as asked (unknown action, missing details)."""


def check_details(action: str, details: Mapping[str, Any]) -> None:
    """Raise CustodyError naming what an entry of this action still lacks."""
    if action not in ACTIONS:
        raise CustodyError(f"unknown custody action {action!r}; one of: {', '.join(ACTIONS)}")
    missing = [k for k in ACTIONS[action] if details.get(k) in (None, "")]
    if missing:
        raise CustodyError(f"a {action!r} entry needs: {', '.join(missing)}")


@dataclass(frozen=True)
class CustodyRecord:
    """One sealed entry; ``at`` is UTC ISO 8601, ``exhibit`` None for case-level entries."""

    seq: int
    case: str
    exhibit: str | None
    action: str
    actor: str
    at: str
    details: dict[str, Any]
    prev_hash: str
    key_id: str
    entry_hash: str
    signature: str  # base64 Ed25519 signature over the entry hash (hex, ASCII)

    def body(self) -> dict[str, Any]:
        return entry_body(
            self.seq, self.case, self.exhibit, self.action, self.actor, self.at,
            self.details, self.prev_hash, self.key_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CustodyRecord:
        return cls(
            seq=int(data["seq"]),
            case=str(data["case"]),
            exhibit=None if data.get("exhibit") is None else str(data["exhibit"]),
            action=str(data["action"]),
            actor=str(data["actor"]),
            at=str(data["at"]),
            details=dict(data["details"]),
            prev_hash=str(data["prev_hash"]),
            key_id=str(data["key_id"]),
            entry_hash=str(data["entry_hash"]),
            signature=str(data["signature"]),
        )


def entry_body(
    seq: int,
    case: str,
    exhibit: str | None,
    action: str,
    actor: str,
    at: str,
    details: Mapping[str, Any],
    prev_hash: str,
    key_id: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "seq": seq,
        "case": case,
        "exhibit": exhibit,
        "action": action,
        "actor": actor,
        "at": at,
        "details": dict(details),
        "prev_hash": prev_hash,
        "key_id": key_id,
    }


def seal(
    key: SigningKey,
    *,
    seq: int,
    case: str,
    exhibit: str | None,
    action: str,
    actor: str,
    at: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> CustodyRecord:
    """Build and sign the entry that follows ``prev_hash`` (GENESIS for the first)."""
    check_details(action, details)
    body = entry_body(seq, case, exhibit, action, actor, at, details, prev_hash,
                      key.public.fingerprint)
    entry_hash = canonical_sha256(body)
    signature = b64(key.sign(entry_hash.encode("ascii")))
    return CustodyRecord(
        seq=seq, case=case, exhibit=exhibit, action=action, actor=actor, at=at,
        details=dict(details), prev_hash=prev_hash, key_id=key.public.fingerprint,
        entry_hash=entry_hash, signature=signature,
    )


@dataclass(frozen=True)
class ChainHead:
    """The signed claim "case C's chain ends at entry ``seq`` with hash ``entry_hash``"."""

    case: str
    seq: int
    entry_hash: str
    key_id: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainHead:
        return cls(str(data["case"]), int(data["seq"]), str(data["entry_hash"]),
                   str(data["key_id"]), str(data["signature"]))


def _head_message(case: str, seq: int, entry_hash: str) -> bytes:
    return canonical_bytes({"format": FORMAT + "/head", "case": case, "seq": seq,
                            "entry_hash": entry_hash})


def sign_head(key: SigningKey, record: CustodyRecord) -> ChainHead:
    message = _head_message(record.case, record.seq, record.entry_hash)
    return ChainHead(record.case, record.seq, record.entry_hash, key.public.fingerprint,
                     b64(key.sign(message)))


@dataclass(frozen=True)
class ChainProblem:
    seq: int | None  # the first entry concerned; None for the chain as a whole
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}" if self.seq is not None else self.reason


@dataclass
class ChainReport:
    case: str
    entries: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> ChainProblem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "entries": self.entries,
            "intact": self.intact,
            "problems": [{"seq": p.seq, "reason": p.reason} for p in self.problems],
        }


def _signature_ok(key: PublicKey, signature: str, message: bytes) -> bool:
    try:
        raw = unb64(signature)
    except ValueError:
        return False
    return key.verify(raw, message)


def verify_chain(
    case: str,
    records: Iterable[CustodyRecord],
    trusted_keys: Mapping[str, PublicKey],
    head: ChainHead | None,
) -> ChainReport:
    """Check order, links, hashes, signatures and the signed head of one case's chain.

    ``records`` are taken in the order stored (by sequence number). Every problem found is
    listed in chain order, so the first one names the first broken entry.
    """
    report = ChainReport(case)
    expected_prev = GENESIS
    expected_seq = 1
    last: CustodyRecord | None = None
    ordered: Sequence[CustodyRecord] = list(records)
    for record in ordered:
        report.entries += 1
        problems = report.problems
        if record.case != case:
            problems.append(ChainProblem(record.seq, f"belongs to case {record.case!r}"))
        if record.seq != expected_seq:
            if record.seq > expected_seq:
                reason = (f"entries {expected_seq}..{record.seq - 1} are missing"
                          if record.seq - 1 > expected_seq else f"entry {expected_seq} is missing")
            else:
                reason = f"out of order or duplicated (expected sequence {expected_seq})"
            problems.append(ChainProblem(record.seq, reason))
        actual_hash = canonical_sha256(record.body())
        if actual_hash != record.entry_hash:
            problems.append(ChainProblem(record.seq, "content changed: its hash does not match"))
        if record.prev_hash != expected_prev:
            problems.append(
                ChainProblem(record.seq, "link broken: previous-entry hash does not match")
            )
        key = trusted_keys.get(record.key_id)
        if key is None:
            problems.append(ChainProblem(record.seq, f"signed by an unknown key {record.key_id}"))
        elif not _signature_ok(key, record.signature, record.entry_hash.encode("ascii")):
            problems.append(ChainProblem(record.seq, "signature does not verify"))
        expected_prev = record.entry_hash
        expected_seq = record.seq + 1
        last = record
    _check_head(report, last, head, trusted_keys)
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _check_head(
    report: ChainReport,
    last: CustodyRecord | None,
    head: ChainHead | None,
    trusted_keys: Mapping[str, PublicKey],
) -> None:
    if head is None:
        if last is not None:
            report.problems.append(ChainProblem(None, "the chain has no signed head"))
        return
    key = trusted_keys.get(head.key_id)
    message = _head_message(head.case, head.seq, head.entry_hash)
    if key is None or not _signature_ok(key, head.signature, message):
        report.problems.append(ChainProblem(None, "the chain's head signature does not verify"))
        return
    if last is None or head.seq > last.seq:
        first_missing = (last.seq + 1) if last else 1
        report.problems.append(
            ChainProblem(first_missing, f"entries {first_missing}..{head.seq} were removed "
                                        f"(the signed head names entry {head.seq})")
        )
    elif head.seq < last.seq:
        report.problems.append(
            ChainProblem(head.seq + 1, f"entries after {head.seq} were added without the key")
        )
    elif head.entry_hash != last.entry_hash:
        report.problems.append(
            ChainProblem(last.seq, "the last entry differs from the signed head")
        )
