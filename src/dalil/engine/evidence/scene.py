"""The first responder's scene checklist: which required items a scene record still lacks.

The items follow the ACPO Good Practice Guide (principles 1-4), ISO/IEC 27037:2012 §7
(identification, collection, acquisition, preservation), the NIJ guide for first responders
(2nd ed.) and RFC 3227 §2.1 for the order of volatility. The checklist is pure data so that
the web form, the CLI and the training grader all judge a scene the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# RFC 3227 §2.1, most volatile first. Items of one tier may be collected in any order.
VOLATILITY: dict[str, int] = {
    "registers_cache": 0,
    "routing_arp_tables": 1,
    "process_table": 1,
    "kernel_statistics": 1,
    "memory": 1,
    "network_connections": 1,
    "temporary_files": 2,
    "disk": 3,
    "remote_logging": 4,
    "physical_configuration": 5,
    "archival_media": 6,
}

DEVICE_TYPES = {"phone", "computer", "laptop", "storage", "sim", "memory_card", "router"}
COMPUTER_TYPES = {"computer", "laptop"}


@dataclass(frozen=True)
class MissingItem:
    """A required item not yet recorded; ``field`` names the form field or exhibit."""

    field: str
    message: str
    reference: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reference": self.reference}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def order_of_volatility_errors(items: Sequence[str]) -> list[str]:
    """Why a collection order breaks RFC 3227 (empty when it follows it)."""
    errors = [f"unknown volatile item {item!r}" for item in items if item not in VOLATILITY]
    known = [item for item in items if item in VOLATILITY]
    for earlier, later in itertools.pairwise(known):
        if VOLATILITY[later] < VOLATILITY[earlier]:
            errors.append(f"{later} is more volatile than {earlier} and must be collected first")
    return errors


def missing_items(
    scene: Mapping[str, Any],
    exhibits: Sequence[Mapping[str, Any]],
    custody_actions: Mapping[str, set[str]],
    case_has_authority: bool,
) -> list[MissingItem]:
    """Every required item the scene record lacks, in the order a responder works.

    ``exhibits`` are dicts with at least number, type, power_state, isolation_method,
    isolation_justification, seal_number; ``custody_actions`` maps an exhibit number to the
    custody actions recorded for it.
    """
    missing: list[MissingItem] = []

    def need(field: str, message: str, reference: str) -> None:
        missing.append(MissingItem(field, message, reference))

    if not case_has_authority and _blank(scene.get("authority_reference")):
        need("authority_reference", "Record the legal authority (warrant, consent, order)",
             "ISO/IEC 27037 §7.1.1; NIJ ch. 1")
    if _blank(scene.get("arrival_at")):
        need("arrival_at", "Record the time of arrival", "NIJ ch. 3")
    if _blank(scene.get("persons_present")):
        need("persons_present", "List the persons present", "NIJ ch. 3")
    if scene.get("scene_secured") is not True:
        need("scene_secured", "Secure the scene and say so", "ACPO principle 1; NIJ ch. 3")
    elif _blank(scene.get("scene_secured_how")):
        need("scene_secured_how", "Say how the scene was secured", "NIJ ch. 3")
    if scene.get("photographs_taken") is not True:
        need("photographs_taken", "Photograph the scene and the devices before touching them",
             "ISO/IEC 27037 §7.1.3.1; NIJ ch. 4")
    elif not scene.get("photographs_count"):
        need("photographs_count", "Give the number of photographs", "NIJ ch. 4")
    if scene.get("device_states_recorded") is not True:
        need("device_states_recorded", "Record the state of every device", "ISO/IEC 27037 §7.1.3.2")

    decision = scene.get("volatile_decision")
    if _blank(decision):
        need("volatile_decision", "Decide whether to collect volatile data", "RFC 3227 §2.1")
    elif decision == "collect":
        order = list(scene.get("volatile_order") or [])
        if not order:
            need("volatile_order", "List the volatile data collected, most volatile first",
                 "RFC 3227 §2.1")
        for error in order_of_volatility_errors(order):
            need("volatile_order", error, "RFC 3227 §2.1")
        if _blank(scene.get("volatile_tools")):
            need("volatile_tools", "Name the tools used for volatile collection",
                 "RFC 3227 §3.3; ACPO principle 3")
    if not _blank(decision) and _blank(scene.get("volatile_justification")):
        need("volatile_justification", "Justify the volatile data decision", "ACPO principle 2")

    has_computer = any(e.get("type") in COMPUTER_TYPES for e in exhibits)
    if has_computer:
        if _blank(scene.get("shutdown_decision")):
            need("shutdown_decision", "Decide how to shut down the computers", "NIJ ch. 4")
        elif _blank(scene.get("shutdown_justification")):
            need("shutdown_justification", "Justify the shutdown decision", "ACPO principle 2")
    if _blank(scene.get("packaging_labels")):
        need("packaging_labels", "Describe packaging and labels", "ISO/IEC 27037 §7.1.4; NIJ ch. 5")
    if _blank(scene.get("non_digital_traces")):
        need("non_digital_traces", "Consider non-digital traces (fingerprints, DNA, notes)",
             "NIJ ch. 4")

    if not exhibits:
        need("exhibits", "Record the devices seized as exhibits", "ISO/IEC 27037 §7.1.2")
    for exhibit in exhibits:
        number = str(exhibit.get("number"))
        field = f"exhibit:{number}"
        if exhibit.get("parent"):
            continue  # derived copies are made later, in the lab
        if exhibit.get("type") in DEVICE_TYPES and _blank(exhibit.get("power_state")):
            need(field, f"Exhibit {number}: record its power state", "ISO/IEC 27037 §7.1.3.2")
        if exhibit.get("type") == "phone":
            if _blank(exhibit.get("isolation_method")):
                need(field, f"Exhibit {number}: isolate the phone from networks",
                     "ISO/IEC 27037 §7.1.3.3; NIJ ch. 4")
            elif _blank(exhibit.get("isolation_justification")):
                need(field, f"Exhibit {number}: justify the isolation method", "ACPO principle 2")
        if _blank(exhibit.get("seal_number")):
            need(field, f"Exhibit {number}: seal it and record the seal number",
                 "ISO/IEC 27037 §7.1.4")
        actions = custody_actions.get(number, set())
        if "seized" not in actions:
            need(field, f"Exhibit {number}: record the first custody entry (seizure)",
                 "ACPO principle 3; ISO/IEC 27037 §6.1")
    return missing
