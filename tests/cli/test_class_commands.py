"""`dalil class list|show|progress` on the demo academy's class."""

from __future__ import annotations


def test_list_show_and_progress(dalil):
    dalil("demo", check=True)
    (klass,) = dalil.json("class", "list")["classes"]
    assert klass["trainees"] == 1 and klass["labs"] == 1
    shown = dalil.json("class", "show", str(klass["number"]))
    assert shown["name"] == klass["name"]
    assert [t["username"] for t in shown["trainees"]] == ["trainee"]
    (lab,) = shown["labs"]
    assert lab["variants"]["ready"] == 1
    progress = dalil.json("class", "progress", str(klass["number"]))
    (lab_progress,) = progress["labs"]
    (row,) = lab_progress["trainees"]
    assert row["trainee"] == "trainee" and row["score"] == 0
    assert set(row["tasks"]) == set(lab_progress["tasks"])
    table = dalil("class", "progress", str(klass["number"]), check=True).stdout
    assert "trainee" in table


def test_an_unknown_class_fails_clearly(dalil):
    result = dalil("class", "show", "999")
    assert result.returncode == 1
    assert "no class 999" in result.stderr
