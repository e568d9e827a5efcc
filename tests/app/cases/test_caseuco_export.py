"""A case exported as CASE/UCO JSON-LD conforms to the CASE ontology and says what happened."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dalil.app.cases import exports, services

pytestmark = pytest.mark.django_db

CASE_VALIDATE = Path(sys.executable).parent / "case_validate"
UUID_IRI = re.compile(r"^kb:[a-z-]+-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                      r"[0-9a-f]{12}$")


def case_validate(path: Path) -> None:
    result = subprocess.run([str(CASE_VALIDATE), str(path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Conforms: True" in result.stdout
    assert "NonExistentCDOConceptWarning" not in result.stderr


@pytest.fixture
def case(tmp_path):
    case = services.create_case(
        number="KZ-2026-014", title="Фишинг <script>alert(1)</script>", actor="officer1",
        offence="fraud", authority_type="warrant", authority_identifier="W-77/2026",
        authority_issuer="Almaty district court", authority_scope="phones of the suspect")
    phone = tmp_path / "phone.bin"
    phone.write_bytes(b"phone dump " * 1000)
    exhibit = services.add_exhibit_from_path(
        case, phone, number="E1", actor="officer1", type="phone", make="Samsung",
        model="A52", imei="356938035643809", description="Suspect's phone",
        seized_by="Sgt. Amanov", seized_where="Almaty, Abay 10", seal_number="S-1")
    services.record_custody(case, exhibit, "transferred", "officer1", {
        "released_by": "Sgt. Amanov", "received_by": "Lt. Ivanova", "purpose": "examination",
        "place": "Almaty lab", "seal_intact": True})
    image = tmp_path / "E1.dd"
    image.write_bytes(b"image bytes" * 100)
    digest = services._sha256_of(image)
    services.record_acquisition(case, exhibit, {
        "image": [str(image)], "image_paths": [str(image)], "format": "raw",
        "hashes": {"sha256": digest}, "errors": [], "verified": True,
        "verification": {"algorithm": "sha256", "expected": digest, "actual": digest,
                         "match": True, "file": "E1.dd"}}, "Lt. Ivanova")
    services.verify_case(case, "Lt. Ivanova")  # records 'verified' entries
    return case


def _nodes(document: dict, type_: str) -> list[dict]:
    def types(node):
        value = node.get("@type", [])
        return value if isinstance(value, list) else [value]
    return [n for n in document["@graph"] if type_ in types(n)]


def test_the_export_validates_with_case_validate(case, tmp_path):
    result = exports.export_case_uco(case, tmp_path / "case.jsonld")
    case_validate(result.path)


def test_every_id_is_a_kb_iri_ending_in_a_uuid(case):
    document = exports.case_uco_document(case)
    ids = re.findall(r'"@id": "([^"]+)"', json.dumps(document))
    assert ids and all(UUID_IRI.match(i) for i in ids), [i for i in ids if not UUID_IRI.match(i)]


def test_re_exporting_gives_the_same_document(case, tmp_path):
    first = exports.export_case_uco(case, tmp_path / "a.jsonld")
    second = exports.export_case_uco(case, tmp_path / "b.jsonld")
    assert first.sha256 == second.sha256


def test_one_investigative_action_per_custody_entry(case):
    document = exports.case_uco_document(case)
    actions = _nodes(document, "case-investigation:InvestigativeAction")
    entries = services.custody_records(case)
    assert [a["uco-core:name"] for a in actions] == [e.action for e in entries]
    transfer = next(a for a in actions if a["uco-core:name"] == "transferred")
    people = {n["@id"]: n["uco-core:name"] for n in _nodes(document, "uco-identity:Person")}
    assert people[transfer["uco-action:performer"]["@id"]] == "officer1"
    assert {people[p["@id"]] for p in transfer["uco-action:participant"]} == {
        "Sgt. Amanov", "Lt. Ivanova"}
    assert transfer["uco-action:startTime"]["@type"] == "xsd:dateTime"
    acquisition = next(a for a in actions if a["uco-core:name"] == "acquired")
    assert acquisition["uco-action:instrument"]


def test_investigation_authorization_tool_and_provenance(case):
    document = exports.case_uco_document(case)
    investigation = _nodes(document, "case-investigation:Investigation")[0]
    assert investigation["uco-core:name"] == "KZ-2026-014"
    authorization = _nodes(document, "case-investigation:Authorization")[0]
    assert investigation["case-investigation:relevantAuthorization"] == [
        {"@id": authorization["@id"]}]
    assert authorization["case-investigation:authorizationType"] == "warrant"
    assert authorization["case-investigation:authorizationIdentifier"] == ["W-77/2026"]
    tool = _nodes(document, "uco-tool:Tool")[0]
    assert tool["uco-core:name"] == "dalil" and tool["uco-tool:version"]
    records = _nodes(document, "case-investigation:ProvenanceRecord")
    image = next(r for r in records if r["case-investigation:exhibitNumber"] == "E1.1")
    assert image["case-investigation:rootExhibitNumber"] == ["E1"]


def test_files_carry_typed_hashes_and_the_phone_its_device_facets(case):
    document = exports.case_uco_document(case)
    phone = _nodes(document, "uco-observable:MobileDevice")[0]
    facets = {f["@type"]: f for f in phone["uco-core:hasFacet"]}
    assert facets["uco-observable:MobileDeviceFacet"]["uco-observable:IMEI"] == "356938035643809"
    dump = next(f for f in _nodes(document, "uco-observable:File")
                if f["uco-core:hasFacet"][0]["uco-observable:fileName"] == "phone.bin")
    hashes = dump["uco-core:hasFacet"][1]["uco-observable:hash"]
    assert {h["uco-types:hashMethod"] for h in hashes} == {"MD5", "SHA1", "SHA256"}
    assert all(h["uco-types:hashValue"]["@type"] == "xsd:hexBinary" for h in hashes)


def test_hash_nodes_have_the_shape_of_the_case_examples(case, shared_data):
    """Our Hash nodes use exactly the keys and value types of the CASE project's examples."""
    example = json.loads((shared_data / "case-uco" / "exif_data.json").read_text())
    found = re.search(r'\{[^{}]*"uco-types:Hash".*?\}\s*\}', json.dumps(example), re.S)
    assert found
    theirs = json.loads(found.group(0))
    ours = _nodes(exports.case_uco_document(case), "uco-observable:File")[0][
        "uco-core:hasFacet"][1]["uco-observable:hash"][0]
    assert set(ours) == set(theirs)
    assert ours["uco-types:hashValue"].keys() == theirs["uco-types:hashValue"].keys()
    assert ours["uco-types:hashValue"]["@type"] == theirs["uco-types:hashValue"]["@type"]
