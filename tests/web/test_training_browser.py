"""A class in a real Chromium (Playwright): the trainer assigns a lab, a trainee solves a
task with a hint, and the trainer sees the score in the progress table.

Variant generation runs through django-tasks' ImmediateBackend (tests/conftest.py), in the
live server's process, when the assignment's transaction commits.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS, new_page

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.training import services as training
from dalil.app.training.models import TaskResult, Variant

SCREENSHOT_DIR = Path(os.environ.get("DALIL_SCREENSHOT_DIR", "/tmp"))
PASSWORD = "class-password-2026"

pytestmark = BROWSER_MARKS




def _page(browser, url: str, username: str):
    """A browser context of its own per person, logged in."""
    page = new_page(browser, height=900)
    page.goto(f"{url}/training/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("header >> text=Training")
    return page


@pytest.fixture
def people(transactional_db):
    academy = Institution.objects.create(name="Academy of the MIA, Almaty", country="KZ")
    trainer = User.objects.create_user("daulet", password=PASSWORD, role=Role.TRAINER,
                                       institution=academy, first_name="Daulet")
    trainee = User.objects.create_user("aigerim", password=PASSWORD, role=Role.TRAINEE,
                                       institution=academy, first_name="Aigerim")
    klass = training.create_class(trainer, name="Course 1, group 3", course=1)
    training.enrol(klass, [trainee], user=trainer)
    return trainer, trainee, klass


def test_trainer_assigns_trainee_solves_with_a_hint_trainer_sees_score(
        live_server, people, chromium):
    _trainer, trainee, klass = people
    url = live_server.url

    # the trainer opens the class and assigns the first-responder lab
    teacher = _page(chromium, url, "daulet")
    teacher.click("text=Course 1, group 3")
    teacher.wait_for_selector("h1:has-text('Course 1, group 3')")
    teacher.select_option("select[name=template]", "first-responder-scene")
    teacher.click("button:has-text('Assign lab')")
    teacher.wait_for_selector("text=each trainee's variant is being generated")
    teacher.wait_for_selector("tr[data-trainee=aigerim] a")  # ready: linked to the lab
    class_url = teacher.url

    # the trainee opens the lab, downloads the drive image and hashes it
    student = _page(chromium, url, "aigerim")
    student.click("main >> a:has-text('Seizure at a scene')")
    student.wait_for_selector("#task-usb-sha256")
    with student.expect_download() as download_info:
        student.click("#evidence a:has-text('usb.img')")
    digest = hashlib.sha256(Path(download_info.value.path()).read_bytes()).hexdigest()

    # ... opens a hint (its cost is shown) and answers
    task = student.locator("#task-usb-sha256")
    hint_button = task.locator("button.hint-button")
    assert "costs 1 points if solved" in hint_button.inner_text()
    hint_button.click()
    task.locator("p.hint").wait_for()
    assert "dalil hash" in task.locator("p.hint").inner_text()
    task.locator("input[name=answer]").fill(digest)
    task.locator("button:has-text('Submit answer')").click()
    student.locator("#task-usb-sha256[data-solved=true]").wait_for()
    assert "9" in student.locator("#lab-score").inner_text()
    variant = Variant.objects.get(trainee=trainee, assignment__training_class=klass)
    result = TaskResult.objects.get(variant=variant, task_id="usb-sha256")
    assert (result.solved, result.hints_used, result.score) == (True, 1, 9.0)

    # the trainer's progress table shows the solved task and the score
    teacher.goto(class_url)
    cell = teacher.locator("tr[data-trainee=aigerim] td[data-task=usb-sha256]")
    cell.locator(".badge.ok").wait_for()
    assert "1 hint" in cell.inner_text()
    assert "9" in teacher.locator("tr[data-trainee=aigerim] td.total").inner_text()
    teacher.screenshot(path=str(SCREENSHOT_DIR / "dalil-training-class.png"), full_page=True)
    student.screenshot(path=str(SCREENSHOT_DIR / "dalil-training-lab.png"), full_page=True)
