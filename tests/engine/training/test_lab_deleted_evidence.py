"""The "Deleted evidence" lab (course 4): a template that validates, variants that are
reproducible and differ in every answer, and grading of full, partial and wrong answers,
including times given in local time (UTC+5/+6) or in UTC."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dalil.engine.training.generate import generate
from dalil.engine.training.graders import grade_answers, grade_task
from dalil.engine.training.templates import CONTENT_ROOT, load_template

LAB = CONTENT_ROOT / "scenarios" / "forensics-deleted-evidence"
DALIL = [sys.executable, "-m", "dalil.cli"]


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "v"
    key = generate(LAB, 21, out, country="KG")
    return out, key.to_dict()


def own_answers(key: dict) -> dict:
    return {t["id"]: copy.deepcopy(t["answer"]) for t in key["tasks"]}


def task(key: dict, task_id: str) -> dict:
    return next(t for t in key["tasks"] if t["id"] == task_id)


def test_the_template_validates_with_the_issue_tasks():
    template = load_template(LAB)
    assert template.id == "forensics-deleted-evidence" and template.course == 4
    assert {t.id: t.grader for t in template.tasks} == {
        "deleted-files": "set", "deleted-photo-sha256": "hash",
        "document-modified": "timestamp", "photo-latitude": "numeric",
        "photo-longitude": "numeric", "web-searches": "set", "usb-device": "text"}
    assert set(template.briefings) == {"en", "ru"}


def test_the_variant_holds_a_64_mib_image_and_no_key(variant):
    out, key = variant
    assert sorted(files(out)) == ["briefing.en.md", "briefing.ru.md", "disk.img"]
    assert (out / "disk.img").stat().st_size == 64 * 1024 * 1024
    assert key["country"] == "KG"
    assert "answer-key" not in (out / "briefing.en.md").read_text(encoding="utf-8")


def test_the_keys_own_answers_score_the_maximum(variant):
    _, key = variant
    result = grade_answers(key, own_answers(key))
    assert result["score"] == result["max"] == 75


def test_same_seed_is_byte_identical_and_another_seed_differs_everywhere(variant, tmp_path):
    out, key = variant
    again = generate(LAB, 21, tmp_path / "again", country="KG")
    assert files(tmp_path / "again") == files(out)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(key, sort_keys=True)
    other = generate(LAB, 22, tmp_path / "other", country="KG").to_dict()
    assert files(tmp_path / "other")["disk.img"] != files(out)["disk.img"]
    for a, b in zip(key["tasks"], other["tasks"], strict=True):
        assert a["answer"] != b["answer"], a["id"]


def test_deleted_files_get_partial_credit(variant):
    _, key = variant
    t = task(key, "deleted-files")
    names = t["answer"]
    assert len(names) >= 3
    full = grade_task(t, list(names))
    missing = grade_task(t, names[:-1])
    extra = grade_task(t, [*names, "not-deleted.txt"])
    assert full.score == t["points"]
    assert 0 < missing.score < t["points"] and 0 < extra.score < t["points"]
    assert grade_task(t, "everything").score == 0
    assert grade_task(t, [n.upper() for n in names]).score == t["points"]


def test_the_deleted_photo_is_graded_by_any_accepted_digest(variant):
    _, key = variant
    t = task(key, "deleted-photo-sha256")
    digests = t["options"]["digests"]
    for algorithm in ("md5", "sha1", "sha256"):
        assert grade_task(t, digests[algorithm].upper()).correct
    assert not grade_task(t, "0" * 64).correct


def test_document_time_in_local_time_utc_or_wrong_zone(variant):
    _, key = variant
    t = task(key, "document-modified")
    local = datetime.fromisoformat(t["answer"])
    assert local.utcoffset() == timedelta(hours=6)  # Kyrgyzstan, UTC+6
    assert t["options"]["timezone"] == "Asia/Bishkek"
    utc = local - local.utcoffset()
    assert grade_task(t, utc.replace(tzinfo=None).isoformat() + "Z").correct
    assert grade_task(t, local.replace(tzinfo=None).isoformat()).correct  # read as local
    wrong_zone = grade_task(t, utc.replace(tzinfo=None).isoformat())  # UTC given as local
    assert not wrong_zone.correct and "time zone" in wrong_zone.feedback


def test_document_time_for_a_utc_plus_5_country(tmp_path):
    key = generate(LAB, 23, tmp_path / "kz", country="KZ").to_dict()
    t = task(key, "document-modified")
    local = datetime.fromisoformat(t["answer"])
    assert local.utcoffset() == timedelta(hours=5)
    assert grade_task(t, local.replace(tzinfo=None).isoformat()).correct


def test_photo_place_usb_and_searches(variant):
    _, key = variant
    lat, lon = task(key, "photo-latitude"), task(key, "photo-longitude")
    assert grade_task(lat, str(lat["answer"] + 0.0005)).correct
    assert not grade_task(lat, lat["answer"] + 0.01).correct
    assert grade_task(lon, f"{lon['answer']:.4f}".replace(".", ",")).correct
    usb = task(key, "usb-device")
    assert grade_task(usb, f"  {usb['answer'].lower()} ").correct
    assert grade_task(usb, usb["options"]["synonyms"][0]).correct
    assert not grade_task(usb, "SanDisk").correct
    searches = task(key, "web-searches")
    half = grade_task(searches, searches["answer"][:2])
    assert 0 < half.score < searches["points"]


def test_cli_check_generate_and_grade(tmp_path):
    check = subprocess.run([*DALIL, "train", "check", "forensics-deleted-evidence", "--json"],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["reproducible"] and report["evidence_differs"] and not report["problems"]
    out = tmp_path / "variant"
    subprocess.run([*DALIL, "train", "generate", "forensics-deleted-evidence", "--seed", "5",
                    "-o", str(out), "--json"], check=True, capture_output=True, timeout=300)
    key = json.loads((out / "answer-key.json").read_text(encoding="utf-8"))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": own_answers(key)}), encoding="utf-8")
    graded = subprocess.run([*DALIL, "train", "grade", str(out / "answer-key.json"),
                             str(answers), "--json"], capture_output=True, text=True,
                            check=True, timeout=300)
    result = json.loads(graded.stdout)
    assert result["score"] == result["max"] == 75
