"""``dalil train``: list, generate, grade and check training scenario templates.

These commands call the pure training engine only (no database): a trainer or a
trainer-in-training can adapt a template on a laptop and check it before an academy's
Dalil serves it to a class.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dalil.cli.output import err, error, fail, out, print_json
from dalil.cli.root import app
from dalil.engine.training.generate import (
    KEY_FILE,
    AnswerKey,
    GenerationError,
    generate,
    load_key,
)
from dalil.engine.training.graders import grade_answers
from dalil.engine.training.templates import list_templates, load_template, resolve
from dalil.engine.training.yamlmarks import ContentError

train_app = typer.Typer(help="Training labs: templates, generated variants, grading.",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")


def _content_error(exc: ContentError) -> None:
    for problem in exc.problems:
        error(str(problem))


@train_app.command("templates")
def templates_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """List the scenario templates (labs and quizzes) Dalil knows."""
    good, bad = list_templates()
    for exc in bad:
        _content_error(exc)
    if as_json:
        print_json([t.summary() for t in good])
    else:
        table = Table(show_header=True, header_style="bold")
        for column in ("id", "version", "kind", "course", "title", "tasks", "points",
                       "locales"):
            table.add_column(column)
        for t in good:
            s = t.summary()
            table.add_row(s["id"], str(s["version"]), s["kind"], str(s["course"] or ""),
                          s["title"].get("en", ""), str(s["tasks"]), f"{s['points']:g}",
                          ",".join(s["locales"]))
        out.print(table)
    if bad:
        raise typer.Exit(1)


@train_app.command("generate")
def generate_command(
    template: str = typer.Argument(..., help="Template id, or a directory with template.yaml."),
    seed: int = typer.Option(..., "--seed", min=0, help="The variant's seed (a whole number)."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory for the evidence "
                                "(must not exist or be empty)."),
    country: str | None = typer.Option(None, "--country", help="National pool, e.g. KZ "
                                       "(default: drawn from the seed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Generate one variant: evidence in DIR, the trainer's answer key in DIR/answer-key.json."""
    try:
        key = generate(resolve(template), seed, output, country=country)
    except ContentError as exc:
        _content_error(exc)
        raise typer.Exit(1) from None
    except GenerationError as exc:
        fail(str(exc))
    key.write(output / KEY_FILE)
    summary = {"template": key.template, "version": key.version, "seed": key.seed,
               "country": key.country, "directory": str(output),
               "answer_key": str(output / KEY_FILE), "evidence": key.evidence,
               "tasks": len(key.tasks), "points": sum(t["points"] for t in key.tasks)}
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=True, header_style="bold", title=f"{key.template} "
                  f"v{key.version} seed {key.seed} ({key.country})")
    table.add_column("evidence")
    table.add_column("size (bytes)", justify="right")
    table.add_column("sha256", overflow="fold")
    for item in key.evidence:
        table.add_row(item["path"], f"{item['size']:,}", item["sha256"])
    out.print(table)
    err.print(f"answer key (trainer's copy, keep it from trainees): {output / KEY_FILE}",
              highlight=False, markup=False)


def _read_answers(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}: not JSON: {exc.msg}")
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        fail(f'{path}: expected {{"answers": {{"TASK_ID": answer, ...}}}}')
    return data


@train_app.command("grade")
def grade_command(
    key_path: Path = typer.Argument(..., metavar="KEY", help="DIR/answer-key.json"),
    answers_path: Path = typer.Argument(..., metavar="ANSWERS",
                                        help='JSON {"answers": {"TASK_ID": answer}}; optional '
                                             '"hints" and "attempts" per task.'),
    reveal: bool = typer.Option(False, "--reveal", help="Show the expected answers and how "
                                "they could be found (after the task closes)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Grade a trainee's answers against an answer key, with partial credit and feedback."""
    try:
        key = load_key(key_path)
    except ValueError as exc:
        fail(str(exc))
    data = _read_answers(answers_path)
    result = grade_answers(key, data["answers"], data.get("hints"), data.get("attempts"))
    if reveal:
        tasks = {t.get("id"): t for t in key["tasks"] if isinstance(t, dict)}
        for row in result["tasks"]:
            task = tasks.get(row["id"])
            if task is not None:
                row["expected"] = task.get("answer")
                row["explanation"] = task.get("explanation", {})
    if as_json:
        print_json(result)
        return
    table = Table(show_header=True, header_style="bold",
                  title=f"{key.get('template')} seed {key.get('seed')}: "
                        f"{result['score']:g} / {result['max']:g}")
    table.add_column("task")
    table.add_column("score", justify="right")
    table.add_column("feedback", overflow="fold")
    for row in result["tasks"]:
        mark = " (trainer)" if row.get("needs_trainer") else ""
        table.add_row(row["id"], f"{row['score']:g} / {row['max']:g}{mark}", row["feedback"])
    out.print(table)


def _files_digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


@train_app.command("check")
def check_command(
    template: str = typer.Argument(..., help="Template id, or a directory with template.yaml."),
    seeds: tuple[int, int] = typer.Option((1, 2), "--seeds", help="The two seeds to compare."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Validate a template, generate two seeds, and show that their answers differ.

    Seed A is generated twice to prove determinism. Exit 1 when the template is invalid,
    a seed is not reproducible, or two seeds give the same evidence or the same answer to
    a task that is not multiple choice (a choice task has few letters, so two seeds may
    pick the same one by chance; that is reported, not failed). A quiz's task with an
    answer fixed by the template ({value: ...}) is the same for every seed by design and
    is reported, not failed.
    """
    try:
        directory = resolve(template)
        loaded = load_template(directory)
    except ContentError as exc:
        _content_error(exc)
        raise typer.Exit(1) from None
    a, b = seeds
    if a == b:
        fail("--seeds needs two different seeds", code=2)
    work = Path(tempfile.mkdtemp(prefix="dalil-train-check-"))
    try:
        keys: dict[str, AnswerKey] = {}
        digests: dict[str, dict[str, str]] = {}
        for label, seed in (("a", a), ("a_again", a), ("b", b)):
            keys[label] = generate(directory, seed, work / label)
            digests[label] = _files_digest(work / label)
    except GenerationError as exc:
        fail(str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reproducible = (digests["a"] == digests["a_again"]
                    and keys["a"].to_json() == keys["a_again"].to_json())
    rows = []
    problems = [] if reproducible else [f"seed {a} gave different bytes on a second run"]
    if digests["a"] == digests["b"] and loaded.evidence:
        problems.append(f"seeds {a} and {b} gave identical evidence")
    # A quiz's task answered {value: ...} is the same for every seed by design (the
    # knowledge asked does not change); only labs must differ in every answer.
    fixed = {t.id for t in loaded.tasks if loaded.kind == "quiz" and "value" in t.answer}
    for ta, tb in zip(keys["a"].tasks, keys["b"].tasks, strict=True):
        differ = json.dumps(ta["answer"], sort_keys=True) != json.dumps(tb["answer"],
                                                                        sort_keys=True)
        note = "" if differ else ("same letter by chance" if ta["grader"] == "choice"
                                  else "fixed by the quiz" if ta["id"] in fixed
                                  else "same answer")
        if not differ and ta["grader"] != "choice" and ta["id"] not in fixed:
            problems.append(f"task {ta['id']}: seeds {a} and {b} have the same answer")
        rows.append({"id": ta["id"], "grader": ta["grader"], "differ": differ, "note": note,
                     "answer_a": ta["answer"], "answer_b": tb["answer"]})
    report = {"template": loaded.id, "version": loaded.version, "valid": True,
              "seeds": [a, b], "reproducible": reproducible,
              "evidence_differs": digests["a"] != digests["b"], "tasks": rows,
              "problems": problems}
    if as_json:
        print_json(report)
    else:
        table = Table(show_header=True, header_style="bold",
                      title=f"{loaded.id} v{loaded.version}: valid; seed {a} reproducible: "
                            f"{'yes' if reproducible else 'NO'}")
        table.add_column("task")
        table.add_column("grader")
        table.add_column(f"answer, seed {a}", overflow="fold", max_width=40)
        table.add_column(f"answer, seed {b}", overflow="fold", max_width=40)
        table.add_column("differ")
        for row in rows:
            table.add_row(row["id"], row["grader"], _short(row["answer_a"]),
                          _short(row["answer_b"]),
                          "yes" if row["differ"] else f"no ({row['note']})")
        out.print(table)
        for problem in problems:
            error(problem)
    if problems:
        raise typer.Exit(1)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
