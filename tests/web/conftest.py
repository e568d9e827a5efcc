"""Fixtures of the web tests: an academy, a user per role, a case, and a foreign case."""

from __future__ import annotations

import io
import os

import pytest
from django.db import connections

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services

PASSWORD = "correct horse battery staple"


@pytest.fixture
def academy(db) -> Institution:
    return Institution.objects.create(name="Academy of the MIA, Almaty", country="KZ")


@pytest.fixture
def other_institution(db) -> Institution:
    return Institution.objects.create(name="Police unit, Bishkek", country="KG", kind="police")


def make_user(username: str, role: str, institution: Institution | None) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role,
                                    institution=institution, first_name=username.title())


@pytest.fixture
def examiner(academy) -> User:
    return make_user("examiner", Role.EXAMINER, academy)


@pytest.fixture
def prosecutor(academy) -> User:
    return make_user("prosecutor", Role.PROSECUTOR, academy)


@pytest.fixture
def coordinator(academy) -> User:
    return make_user("coordinator", Role.COORDINATOR, academy)


@pytest.fixture
def outsider(other_institution) -> User:
    return make_user("outsider", Role.EXAMINER, other_institution)


@pytest.fixture
def case(examiner):
    case = services.create_case(number="KZ-2026-007", title="Phishing ring", actor="examiner",
                                user=examiner, authority_type="warrant",
                                authority_identifier="W-77", jurisdiction="KZ")
    services.add_exhibit(case, number="E1", actor="examiner", type="storage",
                         description="USB stick", content=io.BytesIO(b"usb bytes" * 1000),
                         content_name="usb.bin", seized_by="Sgt. Amanov",
                         seized_where="Almaty", seal_number="S-1", power_state="off")
    return case


@pytest.fixture
def foreign_case(outsider):
    return services.create_case(number="KG-2026-001", title="Another unit's case",
                                actor="outsider", user=outsider)


@pytest.fixture
def as_examiner(client, examiner):
    client.force_login(examiner)
    return client


@pytest.fixture
def as_prosecutor(client, prosecutor):
    client.force_login(prosecutor)
    return client


@pytest.fixture
def as_coordinator(client, coordinator):
    client.force_login(coordinator)
    return client


# --- training: a trainer, two trainees, a class, and a lab generated for both ---------------


@pytest.fixture
def trainer(academy) -> User:
    return make_user("trainer", Role.TRAINER, academy)


@pytest.fixture
def trainee(academy) -> User:
    return make_user("aigerim", Role.TRAINEE, academy)


@pytest.fixture
def other_trainee(academy) -> User:
    return make_user("bakyt", Role.TRAINEE, academy)


@pytest.fixture
def training_class(trainer, trainee, other_trainee):
    from dalil.app.training import services as training

    klass = training.create_class(trainer, name="Course 1, group 3", course=1, language="en",
                                  classroom="Room 204")
    training.enrol(klass, [trainee, other_trainee], user=trainer)
    return klass


@pytest.fixture
def lab(training_class, trainer, django_capture_on_commit_callbacks):
    """The first-responder lab, assigned and generated (the job runs on commit)."""
    from dalil.app.training import services as training

    with django_capture_on_commit_callbacks(execute=True):
        assignment, _job = training.assign_lab(training_class, "first-responder-scene",
                                               user=trainer)
    return assignment


@pytest.fixture
def as_trainer(client, trainer):
    client.force_login(trainer)
    return client


@pytest.fixture
def as_trainee(client, trainee):
    client.force_login(trainee)
    return client


# --- real browser (Playwright + Debian's Chromium) ---------------------------------------


@pytest.fixture
def chromium():
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright runs a loop
    # Django keeps its connections per context, and code run while Playwright's loop is
    # up sees a context of its own: a connection opened before (by a fixture) would be
    # left open and idle, and PostgreSQL then refuses to drop the test database. Each
    # side's connections are closed before the other's start.
    connections.close_all()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def browser_page(chromium):
    from browser_support import new_page

    page = new_page(chromium)
    yield page
    page.context.close()
