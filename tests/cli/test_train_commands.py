"""`dalil train`: templates, generate, grade, check, run as a real subprocess."""

from __future__ import annotations

import json
import shutil

from dalil.engine.training.templates import CONTENT_ROOT


def test_templates_lists_the_lab_and_the_quiz(dalil):
    listed = {t["id"]: t for t in dalil.json("train", "templates")}
    assert listed["first-responder-scene"]["kind"] == "lab"
    assert listed["course1-pretest"]["kind"] == "quiz"


def test_generate_then_grade_the_keys_own_answers_scores_the_maximum(dalil, tmp_path):
    out = tmp_path / "variant"
    summary = dalil.json("train", "generate", "first-responder-scene", "--seed", "7",
                         "-o", str(out), "--country", "TJ")
    assert summary["country"] == "TJ"
    assert (out / "usb.img").is_file() and (out / "scene.json").is_file()
    key = json.loads((out / "answer-key.json").read_text())
    assert {"template", "version", "seed", "tasks"} <= set(key)
    assert all({"id", "question", "answer", "points", "grader"} <= set(t) for t in key["tasks"])
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": {t["id"]: t["answer"] for t in key["tasks"]}}))
    result = dalil.json("train", "grade", str(out / "answer-key.json"), str(answers))
    assert result["score"] == result["max"] == 50
    assert [r["id"] for r in result["tasks"]] == [t["id"] for t in key["tasks"]]
    assert all({"id", "score", "max", "feedback"} <= set(r) for r in result["tasks"])


def test_grade_with_unknown_ids_and_wrong_types_reports_never_crashes(dalil, tmp_path):
    out = tmp_path / "quiz"
    dalil("train", "generate", "course1-pretest", "--seed", "1", "-o", str(out), check=True)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": {"most-volatile": 3, "bogus": "A",
                                               "hash-purpose": ["A"]}}))
    result = dalil.json("train", "grade", str(out / "answer-key.json"), str(answers))
    feedback = {r["id"]: r["feedback"] for r in result["tasks"]}
    assert result["score"] == 0
    assert "no such task" in feedback["bogus"]
    assert "expected the letter" in feedback["most-volatile"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = dalil("train", "grade", str(out / "answer-key.json"), str(bad))
    assert run.returncode == 1 and "bad.json:1: not JSON" in run.stderr
    table = dalil("train", "grade", str(out / "answer-key.json"), str(answers), check=True)
    assert "no such task" in table.stdout


def test_same_seed_twice_gives_identical_directories(dalil, tmp_path):
    for name in ("a", "b"):
        dalil("train", "generate", "first-responder-scene", "--seed", "99", "-o",
              str(tmp_path / name), check=True)
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and "answer-key.json" in a


def test_check_shows_two_seeds_differ(dalil):
    report = dalil.json("train", "check", "first-responder-scene")
    assert report["reproducible"] and report["evidence_differs"] and not report["problems"]
    assert all(row["differ"] for row in report["tasks"] if row["grader"] != "choice")


def test_check_names_file_and_line_of_a_broken_template(dalil, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, content)
    template = content / "scenarios" / "first-responder-scene" / "template.yaml"
    text = template.read_text()
    line = text[: text.index("generator: first_responder_scene")].count("\n") + 1
    template.write_text(text.replace("generator: first_responder_scene", "generator: nope"))
    run = dalil("train", "check", str(template.parent))
    assert run.returncode == 1
    assert f"template.yaml:{line}: unknown generator 'nope'" in run.stderr


def test_generate_unknown_template_fails_cleanly(dalil, tmp_path):
    run = dalil("train", "generate", "no-such-lab", "--seed", "1", "-o", str(tmp_path / "x"))
    assert run.returncode == 1 and "no such template" in run.stderr
    assert not (tmp_path / "x").exists()
