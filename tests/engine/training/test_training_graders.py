"""Graders on hand-made answers: full, partial, wrong, wrong types, time zones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.training.graders import grade_answers, grade_task


def task(grader, answer, points=10, **options):
    return {"id": "t", "grader": grader, "answer": answer, "points": points, "options": options}


def test_text_normalises_case_space_and_nfkc_and_accepts_synonyms():
    t = task("text", "Faraday bag", synonyms=["экранирующий пакет"])
    assert grade_task(t, "  faraday\u00a0BAG ").correct
    assert grade_task(t, "ＦＡＲＡＤＡＹ bag").correct  # full-width letters, NFKC
    assert grade_task(t, "Экранирующий  пакет").correct
    assert not grade_task(t, "airplane").correct
    assert "expected a text answer" in grade_task(t, 42).feedback


def test_numeric_with_tolerance_and_wrong_types():
    t = task("numeric", 1024, tolerance=2)
    assert grade_task(t, 1025).correct
    assert grade_task(t, "1 023").correct
    assert not grade_task(t, 1030).correct
    assert not grade_task(t, True).correct
    assert "expected a number" in grade_task(t, [1]).feedback


def test_hash_any_algorithm_by_length_hex_case_insensitive():
    digests = {"md5": "0" * 31 + "a", "sha1": "1" * 40, "sha256": "ab" * 32}
    t = task("hash", "ab" * 32, digests=digests)
    assert grade_task(t, "AB" * 32).correct
    assert grade_task(t, "sha256:" + "ab" * 32).correct
    assert grade_task(t, "0" * 31 + "A").feedback == "correct (md5)"
    assert grade_task(t, "1" * 40).correct
    wrong = grade_task(t, "cd" * 32)
    assert not wrong.correct and "does not match" in wrong.feedback
    assert "length" in grade_task(t, "abc").feedback
    assert "hexadecimal" in grade_task(t, "zz" * 32).feedback


def test_timestamp_same_instant_in_any_zone_and_naive_read_in_declared_zone():
    t = task("timestamp", "2025-04-12T10:37:00+05:00", timezone="Asia/Almaty",
             tolerance_seconds=60)
    assert grade_task(t, "2025-04-12T10:37:00+05:00").correct
    assert grade_task(t, "2025-04-12T05:37:30Z").correct            # UTC, same instant
    assert grade_task(t, "2025-04-12T11:37:00+06:00").correct       # another zone
    naive = grade_task(t, "2025-04-12 10:37")                       # read in Asia/Almaty
    assert naive.correct and "Asia/Almaty" in naive.feedback
    wrong_zone = grade_task(t, "2025-04-12T05:37:00")               # UTC value, no offset
    assert not wrong_zone.correct and "time zone" in wrong_zone.feedback
    assert not grade_task(t, "2025-04-12T10:37:00+00:00").correct   # local clock, UTC offset
    assert "ISO 8601" in grade_task(t, "yesterday").feedback


def test_set_partial_credit_says_how_it_scores():
    t = task("set", ["a.doc", "b.jpg", "c.txt", "d.pdf"])
    assert grade_task(t, ["D.PDF", "c.txt", "b.jpg", "a.doc"]).score == 10
    half = grade_task(t, ["a.doc", "b.jpg"])
    assert 0 < half.score < 10 and "F1" in half.feedback and not half.correct
    recall = grade_task(task("set", ["a", "b"], scoring="recall"), ["a", "b", "x", "y"])
    assert recall.score == 5 and "recall" in recall.feedback
    assert grade_task(t, "a.doc").score == 0


@given(st.sets(st.sampled_from("abcdefgh")), st.sets(st.sampled_from("abcdefgh")),
       st.sampled_from(["f1", "recall"]))
def test_set_score_in_range_and_full_only_when_equal(expected, answer, scoring):
    grade = grade_task(task("set", sorted(expected), scoring=scoring), sorted(answer))
    assert 0 <= grade.score <= grade.max
    assert (grade.score == grade.max) == (expected == answer) == grade.correct


def test_choice_by_letter_or_id():
    t = task("choice", "B", letters={"A": "faraday", "B": "airplane", "C": "powered_off"})
    assert grade_task(t, "b").correct
    assert grade_task(t, "B)").correct
    assert grade_task(t, "airplane").correct
    assert not grade_task(t, "A").correct
    assert "not one of the choices" in grade_task(t, "Z").feedback


def test_ordering_kendall_tau_with_ties():
    order = ["ram", "tmp", "disk", "logs"]
    t = task("ordering", order, ranks={"ram": 1, "tmp": 2, "disk": 3, "logs": 4})
    assert grade_task(t, order).score == 10
    swapped = grade_task(t, ["tmp", "ram", "disk", "logs"])
    assert swapped.score == round(10 * 5 / 6, 4) and "Kendall" in swapped.feedback
    assert grade_task(t, list(reversed(order))).score == 0
    tied = task("ordering", ["ram", "net", "disk"], ranks={"ram": 1, "net": 1, "disk": 3})
    assert grade_task(tied, ["net", "ram", "disk"]).correct  # one tier: any order
    missing = grade_task(t, ["ram", "tmp", "disk"])
    assert not missing.correct and "missing: logs" in missing.feedback
    assert not grade_task(t, {"ram": 1}).correct


@given(st.permutations(["a", "b", "c", "d", "e"]))
def test_ordering_score_bounded_and_full_only_for_the_order(answer):
    expected = ["a", "b", "c", "d", "e"]
    grade = grade_task(task("ordering", expected), list(answer))
    assert 0 <= grade.score <= grade.max
    assert (grade.score == grade.max) == (list(answer) == expected)


def test_free_text_needs_a_trainer():
    grade = grade_task(task("free_text", None), "I would photograph the screen first.")
    assert grade.needs_trainer and grade.score == 0


def test_hints_cost_only_when_solved_and_attempt_limit():
    t = {**task("text", "airplane"), "hints": [{"cost": 2}, {"cost": 3}], "max_attempts": 2}
    assert grade_task(t, "airplane", hints_used=2).score == 5
    unsolved = grade_task(t, "faraday", hints_used=2)
    assert unsolved.score == 0 and "hint" not in unsolved.feedback
    assert "attempt limit" in grade_task(t, "airplane", attempt=3).feedback


def test_grade_answers_unknown_ids_and_bad_types_never_crash():
    key = {"tasks": [task("numeric", 3), {**task("hash", "ab" * 32), "id": "h"}]}
    result = grade_answers(key, {"t": {"oops": 1}, "nope": 1, "h": None})
    assert result["score"] == 0 and result["max"] == 20
    feedback = {row["id"]: row["feedback"] for row in result["tasks"]}
    assert "no such task" in feedback["nope"] and "expected a number" in feedback["t"]
    assert grade_answers(key, "not a mapping")["score"] == 0
