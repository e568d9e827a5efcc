"""`dalil class`: the training classes of this Dalil, their labs and progress, from a shell.

Read-only: classes are opened and run on the web; the CLI lists them, shows one, and prints
a lab's progress table (what the CSV export holds). It never prints an answer key.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from dalil.cli.output import fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import django_ready

class_app = typer.Typer(help="Training classes: list, show, progress.", no_args_is_help=True)
app.add_typer(class_app, name="class")

JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
NUMBER = typer.Argument(..., help="The class's number (as in /training/classes/NUMBER/).")


def _class(number: int) -> Any:
    django_ready()
    from dalil.app.training.models import TrainingClass

    try:
        return TrainingClass.objects.select_related("trainer").get(pk=number)
    except TrainingClass.DoesNotExist:
        fail(f"no class {number}")


def _name(user: Any) -> str:
    return str(user.get_full_name() or user.username)


def _class_dict(klass: Any) -> dict[str, Any]:
    return {"number": klass.pk, "name": klass.name, "course": klass.course,
            "language": klass.language, "starts_on": klass.starts_on,
            "ends_on": klass.ends_on, "classroom": klass.classroom,
            "trainer": klass.trainer.username, "trainees": klass.enrolments.count(),
            "labs": klass.assignments.count()}


@class_app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """Every class, newest first."""
    django_ready()
    from dalil.app.training.models import TrainingClass

    classes = [_class_dict(k) for k in TrainingClass.objects.select_related("trainer")]
    if as_json:
        print_json({"classes": classes})
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("number", "name", "course", "language", "dates", "trainer", "trainees",
                   "labs"):
        table.add_column(column)
    for k in classes:
        table.add_row(str(k["number"]), k["name"], str(k["course"]), k["language"],
                      f"{k['starts_on'] or '—'} – {k['ends_on'] or '—'}", k["trainer"],
                      str(k["trainees"]), str(k["labs"]))
    out.print(table)


def _lab_summary(assignment: Any, language: str) -> dict[str, Any]:
    from dalil.app.training.models import Variant

    statuses = dict.fromkeys(Variant.Status.values, 0)
    for status in assignment.variants.values_list("status", flat=True):
        statuses[status] += 1
    return {"assignment": assignment.pk, "template": assignment.template,
            "version": assignment.version, "kind": assignment.kind,
            "title": assignment.title_in(language), "opens_at": assignment.opens_at,
            "closes_at": assignment.closes_at, "variants": statuses}


@class_app.command("show")
def show_command(number: int = NUMBER, as_json: bool = JSON) -> None:
    """A class: its trainees, its labs and how many variants of each are ready."""
    klass = _class(number)
    document = _class_dict(klass)
    document["trainees"] = [{"username": e.trainee.username, "name": _name(e.trainee)}
                            for e in klass.enrolments.select_related("trainee")]
    document["labs"] = [_lab_summary(a, klass.language) for a in klass.assignments.all()]
    if as_json:
        print_json(document)
        return
    out.print(f"[bold]{klass.name}[/bold] (class {klass.pk}, course {klass.course}, "
              f"{klass.language}), trainer {klass.trainer.username}")
    table = Table(show_header=True, header_style="bold", title="labs")
    for column in ("assignment", "template", "kind", "ready", "pending", "failed"):
        table.add_column(column)
    for lab in document["labs"]:
        table.add_row(str(lab["assignment"]), f"{lab['template']} v{lab['version']}",
                      lab["kind"], *(str(lab["variants"][s])
                                     for s in ("ready", "pending", "failed")))
    out.print(table)
    out.print("trainees: " + (", ".join(t["username"] for t in document["trainees"])
                              or "none"))


@class_app.command("progress")
def progress_command(number: int = NUMBER, as_json: bool = JSON) -> None:
    """Each lab's progress: per trainee, score, tasks solved, attempts and hints."""
    klass = _class(number)
    from dalil.app.training import services

    labs = []
    for assignment in klass.assignments.all():
        data = services.progress(assignment)
        rows = []
        for row in data["rows"]:
            tasks = {}
            for cell in row["cells"]:
                r = cell["result"]
                tasks[cell["task"]] = {
                    "solved": bool(r and r.solved), "score": r.score if r else 0.0,
                    "attempts": r.attempts if r else 0, "hints": r.hints_used if r else 0,
                    "to_grade": bool(r and r.needs_trainer)}
            rows.append({"trainee": row["trainee"].username, "status": row["variant"].status,
                         "score": row["score"], "max": row["max"], "solved": row["solved"],
                         "tasks": tasks})
        labs.append({"assignment": assignment.pk, "template": assignment.template,
                     "tasks": [c["id"] for c in data["columns"]], "trainees": rows})
    if as_json:
        print_json({"class": klass.pk, "name": klass.name, "labs": labs})
        return
    for lab in labs:
        table = Table(show_header=True, header_style="bold", title=lab["template"])
        table.add_column("trainee")
        for task in lab["tasks"]:
            table.add_column(task)
        table.add_column("score")
        for row in lab["trainees"]:
            cells = []
            for task in lab["tasks"]:
                t = row["tasks"][task]
                mark = "✓" if t["solved"] else "?" if t["to_grade"] else ""
                cells.append(f"{mark}{t['score']:g} ({t['attempts']}a/{t['hints']}h)"
                             if t["attempts"] or t["hints"] else "—")
            table.add_row(row["trainee"], *cells, f"{row['score']:g} / {row['max']:g}")
        out.print(table)
