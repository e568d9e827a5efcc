"""The pure custody chain: sealing, verifying, and naming the first broken entry."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.evidence import custody
from dalil.engine.evidence.signing import SigningKey


def build(key: SigningKey, n: int, case: str = "C-1") -> list[custody.CustodyRecord]:
    records: list[custody.CustodyRecord] = []
    prev = custody.GENESIS
    for seq in range(1, n + 1):
        record = custody.seal(key, seq=seq, case=case, exhibit="E1", action="note",
                              actor="tester", at=f"2026-11-23T10:00:{seq:02d}Z",
                              details={"text": f"step {seq}"}, prev_hash=prev)
        records.append(record)
        prev = record.entry_hash
    return records


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


def verify(key, records, head="last"):
    if head == "last":
        head = custody.sign_head(key, records[-1]) if records else None
    return custody.verify_chain("C-1", records, {key.public.fingerprint: key.public}, head)


def test_a_sealed_chain_verifies(key):
    assert verify(key, build(key, 5)).intact


def test_round_trip_through_dicts_keeps_it_verifiable(key):
    records = [custody.CustodyRecord.from_dict(r.to_dict()) for r in build(key, 3)]
    assert verify(key, records).intact


def test_a_foreign_key_is_not_trusted(key):
    other = SigningKey.generate()
    records = build(other, 2)
    report = custody.verify_chain("C-1", records, {key.public.fingerprint: key.public},
                                  custody.sign_head(other, records[-1]))
    assert report.first_problem.seq == 1
    assert "unknown key" in report.first_problem.reason


def test_a_forged_entry_with_a_recomputed_hash_fails_its_signature(key):
    records = build(key, 3)
    forged = dataclasses.replace(records[1], details={"text": "forged"})
    forged = dataclasses.replace(forged, entry_hash=custody.canonical_sha256(forged.body()))
    report = verify(key, [records[0], forged, records[2]])
    assert report.first_problem.seq == 2
    assert "signature" in report.first_problem.reason


def test_missing_details_are_refused_by_name(key):
    with pytest.raises(custody.CustodyError, match="received_by"):
        custody.seal(key, seq=1, case="C", exhibit="E1", action="transferred", actor="a",
                     at="2026-01-01T00:00:00Z", prev_hash=custody.GENESIS,
                     details={"released_by": "x", "purpose": "p", "place": "lab",
                              "seal_intact": True})


def test_unknown_action_is_refused(key):
    with pytest.raises(custody.CustodyError, match="unknown custody action"):
        custody.check_details("teleported", {})


@given(st.data())
def test_any_single_removal_or_swap_is_detected(data):
    key = SigningKey.generate()
    records = build(key, 6)
    head = custody.sign_head(key, records[-1])
    i = data.draw(st.integers(0, 5))
    if data.draw(st.booleans()):
        tampered = records[:i] + records[i + 1:]
    else:
        j = data.draw(st.integers(0, 5).filter(lambda j: j != i))
        tampered = list(records)
        tampered[i], tampered[j] = tampered[j], tampered[i]
    report = custody.verify_chain("C-1", tampered, {key.public.fingerprint: key.public}, head)
    assert not report.intact
    assert report.first_problem.seq is not None
