"""The progress table as XLSX, next to the CSV: the same rows, numbers as numbers, and no
cell a spreadsheet would run as a formula. Trainers of the class only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import training_helpers as h
from openpyxl import load_workbook

from dalil.app.training import services as training

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def lab(training_class, trainee, other_trainee):
    trainee.first_name = '=HYPERLINK("http://evil.example","x")'
    trainee.save()
    lab = h.assignment(training_class, "export-lab")
    tasks = [h.task("one", points=2), h.task("two", points=1.5)]
    mine = h.variant(lab, trainee, tasks)
    h.variant(lab, other_trainee, tasks)
    h.result(mine, "one", score=2, solved=True, attempts=2,
             solved_at=datetime(2026, 4, 6, 10, tzinfo=UTC))
    return lab


def test_the_trainer_downloads_the_progress_as_xlsx(as_trainer, lab):
    page = as_trainer.get(f"/training/classes/{lab.training_class_id}/").content.decode()
    assert f"/training/assignments/{lab.pk}/progress.xlsx" in page
    response = as_trainer.get(f"/training/assignments/{lab.pk}/progress.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"].endswith('-progress.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == training.PROGRESS_HEADER
    assert len(rows) == 1 + 2 * 2  # two trainees, two tasks
    solved = next(r for r in rows[1:] if r[3] == "aigerim" and r[6] == "one")
    assert solved[7:12] == ["yes", 2, 0, 2, 2]  # numbers stay numbers
    assert solved[13] == "2026-04-06T10:00:00+00:00"
    other = next(r for r in rows[1:] if r[3] == "bakyt" and r[6] == "two")
    assert other[7:12] == ["no", 0, 0, 0, 1.5]
    # the same rows as the CSV, cell for cell (as text)
    csv_rows = list(csv.reader(io.StringIO(training.progress_csv(lab))))
    assert [[("" if v is None else f"{v:g}" if isinstance(v, float) else str(v))
             for v in r] for r in rows] == csv_rows


def test_formula_looking_cells_are_escaped(as_trainer, lab):
    response = as_trainer.get(f"/training/assignments/{lab.pk}/progress.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # never stored as a formula
    names = {c.value for c in sheet["E"]}
    assert '\'=HYPERLINK("http://evil.example","x")' in names


def test_only_the_class_trainer_exports(client, lab, trainee, examiner):
    for user, status in ((trainee, 403), (examiner, 403)):
        client.force_login(user)
        response = client.get(f"/training/assignments/{lab.pk}/progress.xlsx")
        assert response.status_code == status
        assert response["Content-Type"] != XLSX
