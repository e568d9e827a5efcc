"""The pre-test and post-test quiz of every course (issue 6, labs delivered, item 3).

Each quiz validates, passes ``dalil train check``, gives full marks to the key's own
answers and less to wrong ones; pre and post of a course ask different questions of the
same kinds, and two seeds shuffle the multiple-choice options differently.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app
from dalil.engine.training.generate import generate
from dalil.engine.training.graders import grade_answers
from dalil.engine.training.templates import CONTENT_ROOT, load_template

COURSES = (1, 2, 3, 4)
QUIZZES = [f"course{c}-{phase}" for c in COURSES for phase in ("pretest", "posttest")]


def scenario(name: str) -> Path:
    return CONTENT_ROOT / "scenarios" / name


def key_answers(key: dict[str, Any]) -> dict[str, Any]:
    return {t["id"]: t["answer"] for t in key["tasks"]}


def wrong_answers(key: dict[str, Any]) -> dict[str, Any]:
    """A plausible wrong answer per task: another letter, a reversed order, a bad set..."""
    out: dict[str, Any] = {}
    for t in key["tasks"]:
        answer = t["answer"]
        if t["grader"] == "choice":
            out[t["id"]] = next(k for k in t["options"]["letters"] if k != answer)
        elif t["grader"] == "ordering":
            out[t["id"]] = list(reversed(answer))
        elif t["grader"] == "set":
            out[t["id"]] = [*answer[:1], "not-an-item"]
        elif t["grader"] == "numeric":
            out[t["id"]] = float(answer) * 2 + 1
        else:
            out[t["id"]] = "not the term"
    return out


@pytest.mark.parametrize("course", COURSES)
def test_every_course_has_a_pre_and_post_quiz(course):
    for phase in ("pretest", "posttest"):
        template = load_template(scenario(f"course{course}-{phase}"))
        assert template.kind == "quiz" and template.course == course
        assert set(template.locales) == {"en", "ru"}
        assert 10 <= len(template.tasks) <= 12
        for task in template.tasks:
            assert set(task.question) == {"en", "ru"}
        assert set(template.briefings) == {"en", "ru"}


@pytest.mark.parametrize("name", QUIZZES)
def test_quiz_passes_train_check(name):
    result = CliRunner().invoke(app, ["train", "check", name, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] and report["reproducible"] and not report["problems"]


@pytest.mark.parametrize("name", QUIZZES)
def test_key_scores_the_maximum_and_wrong_answers_less(name, tmp_path):
    for seed in (3, 17):
        key = generate(scenario(name), seed, tmp_path / f"v{seed}").to_dict()
        graded = grade_answers(key, key_answers(key))
        assert graded["score"] == graded["max"] == sum(t["points"] for t in key["tasks"])
        assert all(r["correct"] for r in graded["tasks"])
        wrong = grade_answers(key, wrong_answers(key))
        assert wrong["score"] < graded["max"] / 2
        assert not any(r["correct"] for r in wrong["tasks"])


@pytest.mark.parametrize("name", QUIZZES)
def test_every_kind_of_task_is_used(name):
    graders = Counter(t.grader for t in load_template(scenario(name)).tasks)
    assert graders["choice"] >= 5
    assert graders["ordering"] >= 1 and graders["set"] >= 1 and graders["text"] >= 1


@pytest.mark.parametrize("course", COURSES)
def test_pre_and_post_differ_with_the_same_kinds_of_tasks(course):
    pre = load_template(scenario(f"course{course}-pretest"))
    post = load_template(scenario(f"course{course}-posttest"))
    pre_questions = {t.question["en"] for t in pre.tasks}
    post_questions = {t.question["en"] for t in post.tasks}
    assert not pre_questions & post_questions
    # Same difficulty: the same number of tasks of each kind and the same points.
    assert Counter(t.grader for t in pre.tasks) == Counter(t.grader for t in post.tasks)
    assert sum(t.points for t in pre.tasks) == sum(t.points for t in post.tasks)


@pytest.mark.parametrize("name", QUIZZES)
def test_two_seeds_shuffle_the_choices_differently(name, tmp_path):
    a = generate(scenario(name), 1, tmp_path / "a").to_dict()
    b = generate(scenario(name), 2, tmp_path / "b").to_dict()
    a_choice = [t for t in a["tasks"] if t["grader"] == "choice"]
    b_choice = [t for t in b["tasks"] if t["grader"] == "choice"]
    orders_a = [t["options"]["letters"] for t in a_choice]
    orders_b = [t["options"]["letters"] for t in b_choice]
    assert orders_a != orders_b
    assert [t["answer"] for t in a_choice] != [t["answer"] for t in b_choice]
    # Everything else is the same quiz: same questions, same fixed answers.
    assert [t["id"] for t in a["tasks"]] == [t["id"] for t in b["tasks"]]
    for ta, tb in zip(a["tasks"], b["tasks"], strict=True):
        if ta["grader"] != "choice":
            assert ta["answer"] == tb["answer"] and ta["question"] == tb["question"]


@pytest.mark.parametrize("name", QUIZZES)
def test_cli_grades_the_key_at_full_marks(name, tmp_path):
    runner = CliRunner()
    out = tmp_path / "variant"
    result = runner.invoke(app, ["train", "generate", name, "--seed", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    key = json.loads((out / "answer-key.json").read_text(encoding="utf-8"))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": key_answers(key)}), encoding="utf-8")
    graded = runner.invoke(app, ["train", "grade", str(out / "answer-key.json"), str(answers),
                                 "--json"])
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert report["score"] == report["max"] > 0


def test_text_answers_accept_russian_terms_and_any_case(tmp_path):
    key = generate(scenario("course1-pretest"), 1, tmp_path / "v").to_dict()
    for answer in ("  FARADAY bag ", "Пакет Фарадея", "мешок фарадея"):
        graded = grade_answers(key, {"shielding-term": answer})
        assert graded["tasks"][[t["id"] for t in key["tasks"]].index("shielding-term")][
            "correct"], answer


def test_check_accepts_fixed_answers_only_in_a_quiz(tmp_path):
    """A quiz's fixed answers are the same for every seed; a lab's must still differ."""
    lab = tmp_path / "scenarios" / "course1-as-lab"
    shutil.copytree(scenario("course1-pretest"), lab)
    yaml_path = lab / "template.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    yaml_path.write_text(text.replace("id: course1-pretest", "id: course1-as-lab")
                         .replace("kind: quiz", "kind: lab"), encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "check", str(lab), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert any("volatility-order" in p and "same answer" in p for p in report["problems"])
