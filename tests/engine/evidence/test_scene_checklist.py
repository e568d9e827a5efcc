"""Which items of the first-responder checklist are still missing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.evidence.scene import VOLATILITY, missing_items, order_of_volatility_errors

COMPLETE = {
    "authority_reference": "Warrant 12/2026", "arrival_at": "2026-11-23T08:00Z",
    "persons_present": "A. Bekov, suspect", "scene_secured": True,
    "scene_secured_how": "room closed", "photographs_taken": True, "photographs_count": 12,
    "device_states_recorded": True, "volatile_decision": "collect",
    "volatile_order": ["memory", "network_connections", "disk"],
    "volatile_justification": "laptop running with encrypted volume mounted",
    "volatile_tools": "WinPmem 4.0", "shutdown_decision": "pull_plug",
    "shutdown_justification": "after memory capture", "packaging_labels": "anti-static bags",
    "non_digital_traces": "password note photographed",
}
PHONE = {"number": "E1", "type": "phone", "power_state": "on", "isolation_method": "faraday",
         "isolation_justification": "keep it on, block remote wipe", "seal_number": "S1",
         "parent": None}
LAPTOP = {"number": "E2", "type": "laptop", "power_state": "sleep", "isolation_method": "",
          "isolation_justification": "", "seal_number": "S2", "parent": None}
SEIZED = {"E1": {"seized"}, "E2": {"seized"}}


def fields(items):
    return [m.field for m in items]


def test_a_complete_scene_lacks_nothing():
    assert missing_items(COMPLETE, [PHONE, LAPTOP], SEIZED, True) == []


def test_an_empty_scene_lists_every_item_with_a_reference():
    items = missing_items({}, [], {}, False)
    names = fields(items)
    for name in ("authority_reference", "arrival_at", "persons_present", "scene_secured",
                 "photographs_taken", "volatile_decision", "packaging_labels", "exhibits"):
        assert name in names
    assert all(item.reference for item in items)


def test_a_phone_without_isolation_and_first_custody_entry_is_named():
    phone = {**PHONE, "isolation_method": ""}
    items = missing_items(COMPLETE, [phone, LAPTOP], {"E2": {"seized"}}, True)
    messages = [m.message for m in items]
    assert "Exhibit E1: isolate the phone from networks" in messages
    assert "Exhibit E1: record the first custody entry (seizure)" in messages


def test_disk_before_memory_breaks_the_order_of_volatility():
    scene = {**COMPLETE, "volatile_order": ["disk", "memory"]}
    items = missing_items(scene, [PHONE, LAPTOP], SEIZED, True)
    assert any("memory is more volatile than disk" in m.message for m in items)


@given(st.permutations(list(VOLATILITY)))
def test_an_order_is_accepted_exactly_when_sorted_by_volatility(order):
    ranks = [VOLATILITY[item] for item in order]
    assert (order_of_volatility_errors(order) == []) == (ranks == sorted(ranks))
