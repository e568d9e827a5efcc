"""A case described in CASE/UCO (JSON-LD), the exchange format of digital-forensic tools.

The document says, in the CASE 1.x ontology: the investigation and its legal authority, the
exhibits (devices and files, with their hashes), one investigative action per custody entry
(who did what, when, where, with which tool, to which objects, with which results) and one
provenance record per exhibit state carrying the exhibit and root exhibit numbers.

Every ``@id`` is ``kb:<kind>-<uuid>``, the UUID a version-5 UUID of the case number and a
stable key (an exhibit number, a custody sequence number...), so exporting the same records
twice gives the same identifiers and a partner's graph can be merged with a later export.

This module is pure: the Django app gathers the records into the dataclasses below.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dalil.engine.evidence.custody import CustodyRecord

# Fixed forever: changing it would change every identifier Dalil has ever exported.
NAMESPACE = uuid.UUID("6f3c1a52-8d0e-5b7a-9c41-2e5d7b9f0a13")
KB = "urn:dalil:kb:"

CONTEXT: dict[str, str] = {
    "kb": KB,
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

# hashlib names -> UCO HashNameVocab; algorithms outside the vocabulary are left out.
HASH_METHODS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha512": "SHA512",
                "sha3_256": "SHA3-256"}

# Exhibit types that are physical devices, and their most specific UCO class.
DEVICE_CLASSES = {
    "phone": "uco-observable:MobileDevice",
    "computer": "uco-observable:Computer",
    "laptop": "uco-observable:Laptop",
    "storage": "uco-observable:StorageMedium",
    "memory_card": "uco-observable:StorageMedium",
    "sim": "uco-observable:SIMCard",
    "router": "uco-observable:Device",
}

# Custody actions done by the software itself: their instrument is Dalil.
TOOL_ACTIONS = frozenset({"created", "acquired", "verified", "examined", "exported",
                          "imported"})
# Detail keys naming the other people in an entry (the actor is the performer).
PARTICIPANT_KEYS = ("seized_by", "released_by", "received_by", "returned_to",
                    "authorised_by")


@dataclass(frozen=True)
class Authority:
    """The legal basis of the investigation; times are ISO 8601 strings."""

    type: str
    identifier: str = ""
    issuer: str = ""
    scope: str = ""
    valid_from: str | None = None
    valid_until: str | None = None


@dataclass(frozen=True)
class CaseInfo:
    number: str
    title: str
    offence: str = ""
    status: str = "open"
    jurisdiction: str = ""
    created_at: str | None = None  # ISO 8601, UTC
    authority: Authority | None = None


@dataclass(frozen=True)
class FileInfo:
    """One file of an exhibit; ``size`` in bytes, ``hashes`` keyed by hashlib name."""

    name: str
    size: int
    hashes: Mapping[str, str]


@dataclass(frozen=True)
class ExhibitInfo:
    number: str
    root: str
    type: str = "file"
    parent: str | None = None
    description: str = ""
    make: str = ""
    model: str = ""
    serial: str = ""
    imei: str = ""
    iccid: str = ""
    files: tuple[FileInfo, ...] = field(default_factory=tuple)


def iri(case: str, kind: str, key: str) -> str:
    """``kb:<kind>-<uuid5>``: stable for the same case, kind and key."""
    name = "\x00".join((case, kind, key))  # NUL: no field can run into the next
    return f"kb:{kind}-{uuid.uuid5(NAMESPACE, name)}"


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


def _datetime(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def _hashes(case: str, key: str, hashes: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "@id": iri(case, "hash", f"{key}/{name}"),
            "@type": "uco-types:Hash",
            "uco-types:hashMethod": HASH_METHODS[name],
            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value.lower()},
        }
        for name, value in sorted(hashes.items())
        if name in HASH_METHODS and value
    ]


class _Graph:
    """Nodes keyed by @id, in insertion order, so the output is deterministic."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.nodes: dict[str, dict[str, Any]] = {}

    def add(self, node: dict[str, Any]) -> str:
        self.nodes.setdefault(node["@id"], node)
        return str(node["@id"])

    def person(self, name: str) -> str:
        return self.add({"@id": iri(self.case, "person", name),
                         "@type": "uco-identity:Person", "uco-core:name": name})

    def organization(self, name: str) -> str:
        return self.add({"@id": iri(self.case, "organization", name),
                         "@type": "uco-identity:Organization", "uco-core:name": name})

    def location(self, place: str) -> str:
        return self.add({"@id": iri(self.case, "location", place),
                         "@type": "uco-location:Location", "uco-core:name": place})


@dataclass
class _ExhibitNodes:
    main: str  # the device, or the exhibit's first file
    observables: list[str]
    files: dict[str, str]  # file name -> File node


def _file_node(graph: _Graph, exhibit: str, item: FileInfo) -> str:
    key = f"{exhibit}/{item.name}"
    content: dict[str, Any] = {
        "@id": iri(graph.case, "content-data-facet", key),
        "@type": "uco-observable:ContentDataFacet",
        "uco-observable:sizeInBytes": item.size,
    }
    if hashes := _hashes(graph.case, key, item.hashes):
        content["uco-observable:hash"] = hashes
    return graph.add({
        "@id": iri(graph.case, "file", key),
        "@type": "uco-observable:File",
        "uco-core:hasFacet": [
            {"@id": iri(graph.case, "file-facet", key), "@type": "uco-observable:FileFacet",
             "uco-observable:fileName": item.name, "uco-observable:sizeInBytes": item.size},
            content,
        ],
    })


def _device_node(graph: _Graph, exhibit: ExhibitInfo) -> str:
    key = exhibit.number
    facet: dict[str, Any] = {"@id": iri(graph.case, "device-facet", key),
                             "@type": "uco-observable:DeviceFacet",
                             "uco-observable:deviceType": exhibit.type}
    if exhibit.make:
        facet["uco-observable:manufacturer"] = _ref(graph.organization(exhibit.make))
    if exhibit.model:
        facet["uco-observable:model"] = exhibit.model
    if exhibit.serial:
        facet["uco-observable:serialNumber"] = exhibit.serial
    facets: list[dict[str, Any]] = [facet]
    if exhibit.imei:
        facets.append({"@id": iri(graph.case, "mobile-device-facet", key),
                       "@type": "uco-observable:MobileDeviceFacet",
                       "uco-observable:IMEI": exhibit.imei})
    if exhibit.iccid:
        facets.append({"@id": iri(graph.case, "sim-card-facet", key),
                       "@type": "uco-observable:SIMCardFacet",
                       "uco-observable:ICCID": exhibit.iccid})
    node: dict[str, Any] = {"@id": iri(graph.case, "device", key),
                            "@type": DEVICE_CLASSES[exhibit.type],
                            "uco-core:hasFacet": facets}
    if exhibit.description:
        node["uco-core:description"] = exhibit.description
    return graph.add(node)


def _relationship(graph: _Graph, source: str, target: str, kind: str) -> None:
    graph.add({"@id": iri(graph.case, "relationship", f"{source}>{kind}>{target}"),
               "@type": "uco-observable:ObservableRelationship",
               "uco-core:source": _ref(source), "uco-core:target": _ref(target),
               "uco-core:kindOfRelationship": kind, "uco-core:isDirectional": True})


def _exhibit_nodes(graph: _Graph, exhibit: ExhibitInfo) -> _ExhibitNodes:
    files = {f.name: _file_node(graph, exhibit.number, f) for f in exhibit.files}
    observables: list[str] = []
    if exhibit.type in DEVICE_CLASSES:
        device = _device_node(graph, exhibit)
        observables.append(device)
        for file_node in files.values():
            _relationship(graph, file_node, device, "Contained_Within")
    elif not files:  # a physical item of no listed kind, or an exhibit without bytes yet
        node: dict[str, Any] = {"@id": iri(graph.case, "observable", exhibit.number),
                                "@type": "uco-observable:ObservableObject"}
        if exhibit.description:
            node["uco-core:description"] = exhibit.description
        observables.append(graph.add(node))
    observables.extend(files.values())
    return _ExhibitNodes(observables[0], observables, files)


def _provenance(graph: _Graph, key: str, exhibit: ExhibitInfo, objects: Sequence[str],
                description: str) -> str:
    node: dict[str, Any] = {
        "@id": iri(graph.case, "provenance-record", key),
        "@type": "case-investigation:ProvenanceRecord",
        "case-investigation:exhibitNumber": exhibit.number,
        "case-investigation:rootExhibitNumber": [exhibit.root],
        "uco-core:object": [_ref(o) for o in objects],
    }
    if description:
        node["uco-core:description"] = description
    return graph.add(node)


def _summary(record: CustodyRecord) -> str:
    """One line for humans, with the entry hash that ties the action to the signed log."""
    details = "; ".join(f"{k}: {v}" for k, v in sorted(record.details.items())
                        if isinstance(v, str | int | float | bool) and v != "")
    where = f"exhibit {record.exhibit}" if record.exhibit else f"case {record.case}"
    text = f"custody entry {record.seq} ({record.action}, {where}) by {record.actor}"
    if details:
        text += f" — {details}"
    return f"{text} [entry hash {record.entry_hash}]"


class _ActionBuilder:
    def __init__(self, graph: _Graph, investigation: str, tool: str,
                 exhibits: Mapping[str, ExhibitInfo],
                 nodes: Mapping[str, _ExhibitNodes]) -> None:
        self.graph = graph
        self.investigation = investigation
        self.tool = tool
        self.exhibits = exhibits
        self.nodes = nodes
        self.previous: dict[str | None, str] = {}  # exhibit -> its last action

    def add(self, record: CustodyRecord) -> str:
        graph = self.graph
        action_id = iri(graph.case, "investigative-action", str(record.seq))
        node: dict[str, Any] = {
            "@id": action_id,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": record.action,
            "uco-core:description": _summary(record),
            "uco-action:startTime": _datetime(record.at),
            "uco-action:endTime": _datetime(record.at),
            "uco-action:performer": _ref(graph.person(record.actor)),
        }
        participants = sorted({str(record.details[k]) for k in PARTICIPANT_KEYS
                               if record.details.get(k) and str(record.details[k])
                               != record.actor})
        if participants:
            node["uco-action:participant"] = [_ref(graph.person(p)) for p in participants]
        if place := record.details.get("place"):
            node["uco-action:location"] = _ref(graph.location(str(place)))
        if record.action in TOOL_ACTIONS:
            node["uco-action:instrument"] = [_ref(self.tool)]
        objects, results = self._objects_and_results(record)
        node["uco-action:object"] = [_ref(o) for o in objects]
        if results:
            node["uco-action:result"] = [_ref(r) for r in results]
        if before := self.previous.get(record.exhibit):
            node["case-investigation:wasInformedBy"] = [_ref(before)]
        self.previous[record.exhibit] = action_id
        return graph.add(node)

    def _objects_and_results(self, record: CustodyRecord) -> tuple[list[str], list[str]]:
        exhibit = self.exhibits.get(record.exhibit or "")
        if exhibit is None:  # a case-level entry
            return [self.investigation], []
        nodes = self.nodes[exhibit.number]
        provenance = _provenance(self.graph, f"{exhibit.number}/{record.seq}", exhibit,
                                 nodes.observables, _summary(record))
        results = [provenance]
        objects = list(nodes.observables)
        if record.action in ("created", "seized", "imported"):
            objects = [self.investigation]
            results.extend(nodes.observables)
        elif record.action == "acquired":
            image = self.exhibits.get(str(record.details.get("image_exhibit", "")))
            if image is not None:
                results.extend(self.nodes[image.number].observables)
        elif record.action == "verified":
            results.append(self._verification(record, exhibit, nodes))
        return objects, results

    def _verification(self, record: CustodyRecord, exhibit: ExhibitInfo,
                      nodes: _ExhibitNodes) -> str:
        details = record.details
        target = nodes.files.get(str(details.get("file", ""))) or nodes.main
        outcome = "match" if details.get("match") in (True, "true", "True") else "mismatch"
        return self.graph.add({
            "@id": iri(self.graph.case, "annotation", f"verification/{record.seq}"),
            "@type": "uco-core:Annotation",
            "uco-core:description": (
                f"{details.get('algorithm', 'hash')} verification of exhibit "
                f"{exhibit.number}: expected {details.get('expected')}, "
                f"computed {details.get('actual')} ({outcome})"),
            "uco-core:tag": ["verification", outcome],
            "uco-core:object": [_ref(target)],
        })


def _authorization(graph: _Graph, authority: Authority) -> str:
    node: dict[str, Any] = {"@id": iri(graph.case, "authorization", "legal-authority"),
                            "@type": "case-investigation:Authorization",
                            "case-investigation:authorizationType": authority.type}
    if authority.identifier:
        node["case-investigation:authorizationIdentifier"] = [authority.identifier]
    if authority.issuer:
        node["uco-core:name"] = authority.issuer
    if authority.scope:
        node["uco-core:description"] = authority.scope
    if authority.valid_from:
        node["uco-core:startTime"] = _datetime(authority.valid_from)
    if authority.valid_until:
        node["uco-core:endTime"] = _datetime(authority.valid_until)
    return graph.add(node)


def _depth_first(exhibits: Iterable[ExhibitInfo]) -> list[ExhibitInfo]:
    """Parents before the exhibits derived from them, otherwise by number."""
    return sorted(exhibits, key=lambda e: (e.number.count("."), e.number))


def build(case: CaseInfo, exhibits: Iterable[ExhibitInfo], custody: Iterable[CustodyRecord],
          tool_version: str) -> dict[str, Any]:
    """The CASE/UCO JSON-LD document of a case, its exhibits and their custody actions.

    Custody entries about exhibits not in ``exhibits`` are left out (a bundle may carry a
    subset of a case); case-level entries are always kept.
    """
    graph = _Graph(case.number)
    tool = graph.add({"@id": iri(case.number, "tool", f"dalil/{tool_version}"),
                      "@type": "uco-tool:Tool", "uco-core:name": "dalil",
                      "uco-tool:toolType": "digital evidence management",
                      "uco-tool:version": tool_version})
    investigation_id = iri(case.number, "investigation", "case")
    investigation: dict[str, Any] = {
        "@id": investigation_id,
        "@type": "case-investigation:Investigation",
        "uco-core:name": case.number,
        "uco-core:description": [case.title],
        "case-investigation:investigationForm": "case",
        "case-investigation:investigationStatus": case.status,
    }
    graph.add(investigation)
    if case.offence:
        investigation["case-investigation:focus"] = [case.offence]
    if case.created_at:
        investigation["uco-core:startTime"] = _datetime(case.created_at)
    if case.authority is not None and case.authority.type:
        investigation["case-investigation:relevantAuthorization"] = [
            _ref(_authorization(graph, case.authority))]
    by_number = {e.number: e for e in _depth_first(exhibits)}
    nodes = {number: _exhibit_nodes(graph, e) for number, e in by_number.items()}
    for exhibit in by_number.values():
        parent = nodes.get(exhibit.parent or "")
        if parent is not None:
            _relationship(graph, nodes[exhibit.number].main, parent.main, "Copied_From")
        _provenance(graph, exhibit.number, exhibit, nodes[exhibit.number].observables,
                    exhibit.description)
    actions = _ActionBuilder(graph, investigation_id, tool, by_number, nodes)
    for record in sorted(custody, key=lambda r: r.seq):
        if record.exhibit is None or record.exhibit in by_number:
            actions.add(record)
    investigation["uco-core:object"] = [
        _ref(node_id) for node_id in graph.nodes if node_id != investigation_id]
    return {"@context": dict(CONTEXT), "@graph": list(graph.nodes.values())}
