"""The "Follow the ransom" lab (course 2): a template that validates, variants that are
reproducible and differ in every answer, answers that Dalil's own ledger tools find in the
generated evidence, and grading (the key's own answers score the maximum, partial credit
for the cluster, wrong answers score nothing), through the engine and the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dalil.engine.ledger.cluster import cluster_store
from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import import_tags
from dalil.engine.ledger.trace import trace
from dalil.engine.training.generate import generate
from dalil.engine.training.generators import GENERATORS
from dalil.engine.training.graders import grade_answers, grade_task
from dalil.engine.training.templates import CONTENT_ROOT, load_template

LAB = CONTENT_ROOT / "scenarios" / "crypto-ransom-trace"
DALIL = [sys.executable, "-m", "dalil.cli"]
TASKS = {"ransom-address": "text", "ransom-received": "numeric",
         "perpetrator-cluster": "set", "peeling-hops": "numeric", "coinjoin-txid": "text",
         "exchange": "text", "deposit-address": "text", "deposit-amount": "numeric"}


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def own_answers(key: dict) -> dict:
    return {t["id"]: copy.deepcopy(t["answer"]) for t in key["tasks"]}


def task(key: dict, task_id: str) -> dict:
    return next(t for t in key["tasks"] if t["id"] == task_id)


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "v"
    key = generate(LAB, 31, out, country="UZ")
    return out, key.to_dict()


def test_the_generator_is_registered_next_to_the_others():
    assert {"usb_image", "first_responder_scene", "disk_image", "bitcoin_chain"} <= set(
        GENERATORS)
    assert "perpetrator_cluster" in GENERATORS["bitcoin_chain"].facts


def test_the_template_validates_with_the_tasks():
    template = load_template(LAB)
    assert template.id == "crypto-ransom-trace" and template.course == 2
    assert {t.id: t.grader for t in template.tasks} == TASKS
    assert set(template.briefings) == {"en", "ru"}


def test_the_variant_holds_the_evidence_and_no_key(variant):
    out, key = variant
    assert sorted(files(out)) == ["blk00000.dat", "briefing.en.md", "briefing.ru.md",
                                  "tags.csv", "victim-report.txt"]
    report = (out / "victim-report.txt").read_text(encoding="utf-8")
    ransom = task(key, "ransom-address")["answer"]
    assert ransom not in report and ransom not in (out / "tags.csv").read_text()
    assert "Asia/Tashkent" in report
    for name in ("briefing.en.md", "briefing.ru.md", "victim-report.txt"):
        text = (out / name).read_text(encoding="utf-8")
        assert "answer-key" not in text and "{" not in text


def test_the_keys_own_answers_score_the_maximum(variant):
    _, key = variant
    result = grade_answers(key, own_answers(key))
    assert result["score"] == result["max"] == 90


def test_dalils_tools_find_every_answer(variant, tmp_path):
    out, key = variant
    store = LedgerStore(tmp_path / "store")
    assert store.ingest([out / "blk00000.dat"]).errors == []
    import_tags(store, out / "tags.csv")
    con = store.connect()
    # The victim's report names a payment; its output of the reported amount is the ransom.
    lines = (out / "victim-report.txt").read_text(encoding="utf-8").splitlines()
    txid = next(line for line in lines if len(line) == 64)
    paid = next(line for line in lines if " BTC" in line).split(": ")[1].split(" BTC")[0]
    tx = store.transaction(txid)
    assert tx is not None
    ransom = next(o["address"] for o in tx["outputs"]
                  if o["value"] == round(float(paid) * 100_000_000))
    answers = {"ransom-address": ransom,
               "ransom-received": store.address(ransom)["received"] / 100_000_000,
               "perpetrator-cluster": cluster_store(con).cluster_of(ransom)}
    result = trace(con, ransom, hops=15, model="poison")
    (chain,) = result.peeling_chains
    answers["peeling-hops"] = chain["length"]
    (stop,) = [s for s in result.stopped_at if s["address"] != ransom]
    answers["exchange"] = stop["tags"][0]["label"]
    answers["deposit-address"] = stop["address"]
    answers["deposit-amount"] = store.address(stop["address"])["received"] / 100_000_000
    spender = store.transaction(chain["transactions"][-1])
    assert spender is not None
    change = max(spender["outputs"], key=lambda o: o["value"])
    answers["coinjoin-txid"] = change["spent_by"]
    graded = grade_answers(key, answers)
    assert graded["score"] == graded["max"], graded


def test_same_seed_is_byte_identical_and_another_seed_differs_everywhere(variant, tmp_path):
    out, key = variant
    again = generate(LAB, 31, tmp_path / "again", country="UZ")
    assert files(tmp_path / "again") == files(out)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(key, sort_keys=True)
    other = generate(LAB, 32, tmp_path / "other", country="UZ").to_dict()
    assert files(tmp_path / "other")["blk00000.dat"] != files(out)["blk00000.dat"]
    for a, b in zip(key["tasks"], other["tasks"], strict=True):
        if a["id"] not in ("peeling-hops", "exchange"):  # small ranges: may repeat
            assert a["answer"] != b["answer"], a["id"]


def test_partial_and_wrong_answers(variant):
    _, key = variant
    cluster = task(key, "perpetrator-cluster")
    members = cluster["answer"]
    assert grade_task(cluster, members).score == cluster["points"]
    assert 0 < grade_task(cluster, members[:1]).score < cluster["points"]
    extra = grade_task(cluster, [*members, task(key, "deposit-address")["answer"]])
    assert 0 < extra.score < cluster["points"]
    amount = task(key, "ransom-received")
    assert grade_task(amount, f"{amount['answer']:.8f}").correct
    assert not grade_task(amount, amount["answer"] + 0.001).correct
    assert not grade_task(task(key, "peeling-hops"),
                          task(key, "peeling-hops")["answer"] + 1).correct
    assert grade_task(task(key, "exchange"), task(key, "exchange")["answer"].upper()).correct
    assert not grade_task(task(key, "coinjoin-txid"), "00" * 32).correct
    assert grade_task(task(key, "coinjoin-txid"), 42).score == 0


def test_check_generate_and_grade_through_the_cli(tmp_path):
    checked = subprocess.run([*DALIL, "train", "check", "crypto-ransom-trace", "--json"],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    report = json.loads(checked.stdout)
    assert report["reproducible"] and report["problems"] == []
    out = tmp_path / "variant"
    made = subprocess.run([*DALIL, "train", "generate", "crypto-ransom-trace", "--seed", "5",
                           "-o", str(out), "--json"], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr
    key = json.loads((out / "answer-key.json").read_text(encoding="utf-8"))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": own_answers(key)}), encoding="utf-8")
    graded = subprocess.run([*DALIL, "train", "grade", str(out / "answer-key.json"),
                             str(answers), "--json"], capture_output=True, text=True,
                            timeout=120)
    assert graded.returncode == 0, graded.stderr
    result = json.loads(graded.stdout)
    assert result["score"] == result["max"] == 90
