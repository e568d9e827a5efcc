"""Changing, deleting, inserting or reordering custody rows in the database is detected."""

from __future__ import annotations

import io

import pytest
from django.db import connection

from dalil.app.cases import services
from dalil.app.cases.models import AppendOnlyError, CustodyEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    case = services.create_case(number="KZ-2026-001", title="Phishing ring", actor="officer1",
                                authority_type="warrant")
    exhibit = services.add_exhibit(case, number="E1", actor="officer1",
                                   content=io.BytesIO(b"evidence bytes" * 100),
                                   content_name="e1.bin", seized_by="Sgt. Amanov",
                                   seized_where="Almaty, Abay 10", seal_number="S-0001")
    services.record_custody(case, exhibit, "transferred", "officer1", {
        "released_by": "Sgt. Amanov", "received_by": "Lt. Ivanova", "purpose": "examination",
        "place": "Almaty lab", "seal_intact": True})
    services.record_custody(case, exhibit, "accessed", "Lt. Ivanova", {"purpose": "imaging"})
    return case


def _verify(case):
    return services.verify_case(case, "auditor", record=False)


def _sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _table() -> str:
    return CustodyEntry._meta.db_table


def test_an_untouched_chain_is_intact(case):
    result = _verify(case)
    assert result.intact, result.first_failure()
    assert result.chain.entries == 5


def test_changed_details_are_detected_and_named(case):
    entry = CustodyEntry.objects.get(case=case, seq=3)
    _sql(f"UPDATE {_table()} SET details = %s WHERE id = %s",
         ['{"released_by": "someone else"}', entry.pk])
    result = _verify(case)
    assert not result.intact
    assert result.chain.first_problem.seq == 3
    assert "content changed" in result.first_failure()


def test_changed_actor_is_detected(case):
    entry = CustodyEntry.objects.get(case=case, seq=4)
    _sql(f"UPDATE {_table()} SET actor = %s WHERE id = %s", ["intruder", entry.pk])
    assert _verify(case).chain.first_problem.seq == 4


def test_deleted_middle_entry_is_detected(case):
    entry = CustodyEntry.objects.get(case=case, seq=2)
    _sql(f"DELETE FROM {_table()} WHERE id = %s", [entry.pk])
    result = _verify(case)
    assert not result.intact
    assert result.chain.first_problem.seq == 3
    assert "entry 2 is missing" in result.first_failure()


def test_deleted_last_entry_is_detected_by_the_signed_head(case):
    entry = CustodyEntry.objects.get(case=case, seq=5)
    _sql(f"DELETE FROM {_table()} WHERE id = %s", [entry.pk])
    result = _verify(case)
    assert not result.intact
    assert "removed" in result.first_failure()


def test_inserted_entry_is_detected(case):
    last = CustodyEntry.objects.get(case=case, seq=5)
    _sql(
        f"INSERT INTO {_table()} (case_id, seq, exhibit_id, exhibit_number, action, actor, at, "
        "details, prev_hash, key_id, entry_hash, signature) "
        "VALUES (%s, 6, NULL, '', 'note', 'forger', '2026-01-01T00:00:00Z', '{}', %s, %s, %s, %s)",
        [case.pk, last.entry_hash, last.key_id, "0" * 64, "AAAA"],
    )
    result = _verify(case)
    assert not result.intact
    assert result.chain.first_problem.seq == 6


def test_reordered_entries_are_detected(case):
    two = CustodyEntry.objects.get(case=case, seq=2)
    three = CustodyEntry.objects.get(case=case, seq=3)
    _sql(f"UPDATE {_table()} SET seq = 1000 WHERE id = %s", [two.pk])
    _sql(f"UPDATE {_table()} SET seq = 2 WHERE id = %s", [three.pk])
    _sql(f"UPDATE {_table()} SET seq = 3 WHERE id = %s", [two.pk])
    result = _verify(case)
    assert not result.intact
    assert result.chain.first_problem.seq == 2


def test_changed_exhibit_bytes_are_detected(case):
    blob = services.blob_store().path_for(case.exhibits.get(number="E1").files.get().sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = _verify(case)
    assert not result.intact
    assert "exhibit E1" in result.first_failure()


def test_the_orm_refuses_to_update_or_delete_entries(case):
    entry = CustodyEntry.objects.get(case=case, seq=1)
    entry.actor = "someone"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_verification_results_are_recorded_as_custody_entries(case):
    services.verify_case(case, "auditor")
    last = CustodyEntry.objects.filter(case=case).order_by("-seq").first()
    assert last.action == "verified"
    assert last.details["match"] is True
    assert _verify(case).intact
