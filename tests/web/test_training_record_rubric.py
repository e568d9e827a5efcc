"""A record-rubric task graded on the trainee's own training case ("Check my case records").

Partly filled records earn part of the points with feedback naming what is missing (with
its ACPO / ISO/IEC 27037 / RFC 3227 reference); a complete scene record, seized -> sealed
-> transferred custody for every device and a verified acquisition of the image earn all.
"""

from __future__ import annotations

import pytest

from dalil.app.cases import services as cases
from dalil.app.training.models import Attempt, TaskResult, Variant, VariantKey
from dalil.engine.evidence import acquisition

pytestmark = pytest.mark.django_db

TASK = "scene-record"


def _check(client, variant):
    return client.post(f"/training/labs/{variant.pk}/tasks/{TASK}/answer/", {})


def _model(variant):
    task = next(t for t in VariantKey.objects.get(variant=variant).key["tasks"]
                if t["id"] == TASK)
    return task["answer"], task["options"]


def test_the_task_shows_a_check_button_instead_of_an_answer_field(lab, trainee, as_trainee):
    variant = Variant.objects.get(assignment=lab, trainee=trainee)
    page = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    task = page[page.index('id="task-scene-record"'):]
    task = task[:task.index("</article>")]
    assert "Check my case records" in task and "<textarea" not in task
    assert f"/cases/{variant.case_id}/" in task


def test_partial_records_earn_part_and_then_complete_records_earn_all(
        lab, trainee, as_trainee, dalil_home):
    variant = Variant.objects.get(assignment=lab, trainee=trainee)
    case = variant.case
    model, options = _model(variant)
    actor = cases.actor_name(trainee)

    # 1. nothing recorded yet
    response = _check(as_trainee, variant)
    assert response.status_code == 302
    result = TaskResult.objects.get(variant=variant, task_id=TASK)
    assert result.score == 0 and "no scene record yet" in result.feedback

    # 2. a scene record half filled, one device seized and sealed
    scene = {k: model["scene"][k] for k in ("location", "authority_reference", "arrival_at",
                                             "persons_present")}
    record = cases.save_scene(case, scene, actor)
    phone = next(d for d in options["devices"] if d["type"] == "phone")
    phone_row = next(e for e in model["exhibits"] if e.get("imei") == phone["identifier"])
    cases.add_exhibit(case, number="E1", actor=actor, type="phone", imei=phone["identifier"],
                      power_state="on", seized_by=actor, seized_where=scene["location"],
                      seal_number=phone_row["seal_number"])
    _check(as_trainee, variant)
    result.refresh_from_db()
    assert 0 < result.score < 20 and not result.solved
    feedback = result.feedback
    assert "Photograph the scene" in feedback and "ISO/IEC 27037" in feedback
    assert "isolate the phone" in feedback  # the phone lacks its isolation
    assert "no exhibit with its serial/IMEI/ICCID" in feedback  # four devices not recorded
    assert "'transferred'" in feedback  # handed over: not yet
    assert "no acquisition whose recorded hashes include the image's SHA-256" in feedback
    partial = result.score

    # 3. everything: the full scene record, every device seized, sealed, handed over, and
    #    the provided image acquired with hashing and verification
    cases.save_scene(case, model["scene"], actor, scene=record)
    numbers: dict[str, str] = {}
    for row in model["exhibits"]:
        ident = {k: row[k] for k in ("serial", "imei", "iccid") if k in row}
        if row["type"] == "phone":
            phone_exhibit = case.exhibits.get(number="E1")
            phone_exhibit.isolation_method = row["isolation_method"]
            phone_exhibit.isolation_justification = row["isolation_justification"]
            phone_exhibit.save()
            numbers[row["number"]] = "E1"
            continue
        number = f"E{len(set(numbers.values()) | {'E1'}) + 1}"
        numbers[row["number"]] = number
        cases.add_exhibit(case, number=number, actor=actor, type=row["type"],
                          power_state=row["power_state"], seized_by=actor,
                          seized_where=model["scene"]["location"],
                          seal_number=row["seal_number"], **ident)
    for number in sorted(set(numbers.values())):
        exhibit = case.exhibits.get(number=number)
        cases.record_custody(case, exhibit, "transferred", actor, {
            "released_by": actor, "received_by": "evidence store", "purpose": "examination",
            "place": "police station", "seal_intact": True})
    usb = case.exhibits.get(number="L1")
    source = cases.blob_store().path_for(usb.files.get().sha256)
    out = dalil_home / "images" / case.number
    out.mkdir(parents=True)
    acquired = acquisition.acquire(acquisition.AcquisitionRequest(
        source=source, out_dir=out, basename="L1.1", algorithms=("md5", "sha256")))
    cases.record_acquisition(case, usb, acquired.to_dict(), actor, number="L1.1")

    _check(as_trainee, variant)
    result.refresh_from_db()
    assert result.solved and result.score == 20 > partial, result.feedback
    assert Attempt.objects.filter(variant=variant, task_id=TASK).count() == 3
    last = Attempt.objects.filter(variant=variant, task_id=TASK).last()
    assert last.answer["verification"]["intact"] is True
    assert all(e["number"] not in ("L1", "L2") for e in last.answer["exhibits"])


def test_a_tampered_case_fails_the_verification_criterion(lab, trainee):
    from dalil.app.training import records
    from dalil.engine.training.graders import grade_case_records

    variant = Variant.objects.get(assignment=lab, trainee=trainee)
    summary = records.summary(variant)
    assert summary["verification"]["intact"] is True
    summary["verification"] = {"intact": False, "first_failure": "custody entry 2 altered"}
    _model_answer, options = _model(variant)
    summary["custody"].append({"exhibit": "L1", "action": "acquired", "details": {
        "image": ["L1.1"], "hashes": {"sha256": options["image_sha256"]}, "verified": True}})
    grade = grade_case_records(None, summary, {**options, "criteria": ["acquisition"]}, 6)
    assert grade.score == 4.5 and not grade.correct  # 3 of 4 rubric points
    assert "the case does not verify: custody entry 2 altered" in grade.feedback
