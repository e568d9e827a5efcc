"""Generating variants: determinism, differences between seeds, a FAT image that mounts,
and the lab graded on hand-made answer sets (full, partial, wrong, wrong time zone)."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dalil.engine.training.generate import GenerationError, generate
from dalil.engine.training.graders import grade_answers
from dalil.engine.training.templates import CONTENT_ROOT

SCENE = CONTENT_ROOT / "scenarios" / "first-responder-scene"
QUIZ = CONTENT_ROOT / "scenarios" / "course1-pretest"


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_byte_identical_evidence_and_key(tmp_path):
    one = generate(SCENE, 11, tmp_path / "one")
    two = generate(SCENE, 11, tmp_path / "two")
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert one.to_json() == two.to_json()
    assert set(files(tmp_path / "one")) == {"briefing.en.md", "briefing.ru.md", "scene.json",
                                            "usb.img"}


@pytest.mark.parametrize("other", [12, 13, 1011])
def test_another_seed_differs_in_every_lab_answer(tmp_path, other):
    a = generate(SCENE, 11, tmp_path / "a", country="KZ")
    b = generate(SCENE, other, tmp_path / "b", country="KZ")
    assert files(tmp_path / "a")["usb.img"] != files(tmp_path / "b")["usb.img"]
    for ta, tb in zip(a.tasks, b.tasks, strict=True):
        if ta["grader"] != "choice":  # a letter among four may repeat by chance
            assert ta["answer"] != tb["answer"], ta["id"]


def test_key_records_answers_and_how_they_were_planted(tmp_path):
    key = generate(SCENE, 3, tmp_path / "v", country="KZ").to_dict()
    assert {"template", "version", "seed", "tasks"} <= set(key)
    tasks = {t["id"]: t for t in key["tasks"]}
    assert set(tasks) == {"volatility-order", "phone-isolation", "usb-sha256", "scene-record",
                          "laptop-seized-time"}
    image = (tmp_path / "v" / "usb.img").read_bytes()
    assert tasks["usb-sha256"]["answer"] == hashlib.sha256(image).hexdigest()
    assert tasks["laptop-seized-time"]["answer"].endswith("+05:00")  # Asia/Almaty
    assert all(t["planted"] for t in key["tasks"])
    scene = json.loads((tmp_path / "v" / "scene.json").read_text())
    laptop = next(d for d in scene["devices"] if d["type"] == "laptop")
    assert laptop["power_state"] == "sleep"
    phone = next(d for d in scene["devices"] if d["type"] == "phone")
    assert phone["power_state"] == "on" and phone["locked"] is False
    assert "answer" not in json.dumps(scene)  # the evidence holds no key


@pytest.mark.skipif(not shutil.which("fsck.fat"), reason="dosfstools not installed")
def test_usb_image_is_a_clean_fat_volume(tmp_path):
    generate(SCENE, 5, tmp_path / "v")
    check = subprocess.run(["fsck.fat", "-n", str(tmp_path / "v" / "usb.img")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "3 files" in check.stdout or "4 files" in check.stdout


def answers_of(key):
    return {t["id"]: copy.deepcopy(t["answer"]) for t in key["tasks"]}


def test_lab_full_partial_wrong_and_wrong_time_zone(tmp_path):
    key = generate(SCENE, 21, tmp_path / "v", country="KZ").to_dict()
    full = grade_answers(key, answers_of(key))
    assert full["score"] == full["max"] == 50

    partial = answers_of(key)
    order = partial["volatility-order"]
    order[0], order[1] = order[1], order[0]
    record = partial["scene-record"]
    record["custody"] = [c for c in record["custody"] if c["action"] != "acquired"]
    record["scene"]["photographs_taken"] = False
    result = {r["id"]: r for r in grade_answers(key, partial)["tasks"]}
    assert 0 < result["volatility-order"]["score"] < 10
    assert 0 < result["scene-record"]["score"] < 20
    assert "SHA-256" in result["scene-record"]["feedback"]
    assert "Photograph" in result["scene-record"]["feedback"]

    local = key["tasks"][4]["answer"]
    assert key["tasks"][4]["id"] == "laptop-seized-time"
    wrong_zone = grade_answers(key, {"laptop-seized-time": local[:19] + "+00:00"})
    row = wrong_zone["tasks"][4]
    assert row["score"] == 0 and "time zone" in row["feedback"]
    naive_local = grade_answers(key, {"laptop-seized-time": local[:19]})
    assert naive_local["tasks"][4]["correct"]

    wrong = {"volatility-order": list(reversed(answers_of(key)["volatility-order"])),
             "phone-isolation": "Z", "usb-sha256": "0" * 64, "scene-record": {},
             "laptop-seized-time": "2020-01-01T00:00:00Z", "no-such-task": 1}
    graded = grade_answers(key, wrong)
    assert graded["score"] == 0 and graded["unknown"] == ["no-such-task"]


def test_quiz_has_shuffled_letters_and_full_marks_for_the_key(tmp_path):
    key = generate(QUIZ, 4, tmp_path / "q").to_dict()
    assert len(key["tasks"]) >= 5
    for t in key["tasks"]:
        assert set(t["question"]) == {"en", "ru"}
        if t["grader"] == "choice":
            assert "A) " in t["question"]["ru"]
    result = grade_answers(key, answers_of(key))
    assert result["score"] == result["max"] == sum(t["points"] for t in key["tasks"])


def test_generation_refuses_a_non_empty_directory_and_leaves_nothing_half_made(tmp_path):
    root = tmp_path / "variants"
    (root / "v").mkdir(parents=True)
    (root / "v" / "x").write_text("x")
    with pytest.raises(GenerationError, match="not an empty directory"):
        generate(SCENE, 1, root / "v")
    with pytest.raises(GenerationError, match="no pool"):
        generate(SCENE, 1, root / "w", country="FR")
    assert sorted(p.name for p in root.iterdir()) == ["v"]
