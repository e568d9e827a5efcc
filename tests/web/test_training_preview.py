"""Training-of-trainers: a trainer-in-training previews any variant of a template with its
answer key, generated from a seed, and validates an adapted template with the checks of
`dalil train check`, seeing file-and-line messages. They never reach a class, a trainee's
work or a trainee's key; a trainee reaches none of these pages."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.utils.html import escape

from dalil.app.accounts.models import Role, User
from dalil.app.training.models import Variant
from dalil.app.training.services import pretty_answer
from dalil.engine.training.generate import generate
from dalil.engine.training.templates import resolve

pytestmark = pytest.mark.django_db

QUIZ = "course1-pretest"


@pytest.fixture
def candidate(academy) -> User:
    return User.objects.create_user("candidate", password="x" * 12,
                                    role=Role.TRAINER_IN_TRAINING, institution=academy)


@pytest.fixture
def as_candidate(client, candidate):
    client.force_login(candidate)
    return client


def _engine_key(tmp_path: Path, seed: int) -> dict:
    return generate(resolve(QUIZ), seed, tmp_path / f"engine-{seed}").to_dict()


def test_the_candidate_lists_the_templates(as_candidate):
    assert as_candidate.get("/training/").url == "/training/preview/"
    html = as_candidate.get("/training/preview/").content.decode()
    assert f'data-template="{QUIZ}"' in html
    assert 'data-template="first-responder-scene"' in html


def test_the_candidate_previews_a_variant_with_its_key(as_candidate, tmp_path):
    key = _engine_key(tmp_path, 7)
    response = as_candidate.get(f"/training/preview/{QUIZ}/", {"seed": "7"})
    html = response.content.decode()
    assert response.status_code == 200
    for task in key["tasks"]:
        block = html.split(f'data-task="{task["id"]}"')[1].split("</article>")[0]
        expected = escape(pretty_answer(task["answer"]))
        assert f'<pre class="mono expected-answer">{expected}</pre>' in block
    assert "seed 7" in html
    download = as_candidate.get(f"/training/preview/{QUIZ}/",
                                {"seed": "7", "format": "json"})
    assert download["Content-Type"].startswith("application/json")
    assert json.loads(download.content) == json.loads(json.dumps(key))
    # another seed, another variant; nothing of it is kept
    other = as_candidate.get(f"/training/preview/{QUIZ}/", {"seed": "8", "format": "json"})
    assert json.loads(other.content)["tasks"] != key["tasks"]
    assert not Variant.objects.exists()


def test_a_bad_seed_or_template_is_refused(as_candidate):
    assert as_candidate.get(f"/training/preview/{QUIZ}/", {"seed": "-1"}).status_code == 400
    assert as_candidate.get("/training/preview/no-such-template/").status_code == 404


def test_the_candidate_reaches_no_class_and_no_trainee_key(client, candidate, lab,
                                                           trainee):
    variant = Variant.objects.get(assignment=lab, trainee=trainee)
    client.force_login(candidate)
    for url in (f"/training/classes/{lab.training_class_id}/", "/training/classes/",
                f"/training/labs/{variant.pk}/key/",
                f"/training/classes/{lab.training_class_id}/grading/",
                f"/training/assignments/{lab.pk}/progress.csv",
                f"/training/assignments/{lab.pk}/progress.xlsx"):
        assert client.get(url).status_code in (403, 404), url
    assert client.get(f"/training/labs/{variant.pk}/").status_code == 404


def test_a_trainee_reaches_no_preview(as_trainee):
    for url in ("/training/preview/", f"/training/preview/{QUIZ}/?seed=1",
                f"/training/preview/{QUIZ}/?seed=1&format=json", "/training/templates/check/"):
        response = as_trainee.get(url)
        assert response.status_code == 403, url
        assert b"expected-answer" not in response.content
    assert as_trainee.post("/training/templates/check/", {}).status_code == 403


def test_a_trainer_previews_too(as_trainer):
    assert as_trainer.get(f"/training/preview/{QUIZ}/?seed=3").status_code == 200


# --- validating an adapted template --------------------------------------------------------


def _adapted(root: Path, *, break_it: bool = False) -> Path:
    target = root / "kg-pretest"
    shutil.copytree(resolve(QUIZ), target)
    text = (target / "template.yaml").read_text(encoding="utf-8")
    text = text.replace(f"id: {QUIZ}", "id: kg-pretest", 1)
    if break_it:
        text = text.replace("grader: choice", "grader: telepathy", 1)
    (target / "template.yaml").write_text(text, encoding="utf-8")
    return target


def _zip(directory: Path) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, f"{directory.name}/{path.name}")
    buffer.seek(0)
    buffer.name = f"{directory.name}.zip"
    return buffer


def test_a_directory_in_dalil_home_templates_is_checked(as_candidate, dalil_home):
    _adapted(dalil_home / "templates")
    page = as_candidate.get("/training/templates/check/").content.decode()
    assert '<option value="kg-pretest">' in page
    response = as_candidate.post("/training/templates/check/", {"directory": "kg-pretest"})
    html = response.content.decode()
    assert response.status_code == 200, html
    assert 'data-ok="true"' in html
    assert "kg-pretest v2 is valid and its variants differ." in html


def test_an_invalid_upload_shows_file_and_line(as_candidate, tmp_path):
    broken = _adapted(tmp_path, break_it=True)
    line = next(i for i, text in enumerate(
        (broken / "template.yaml").read_text(encoding="utf-8").splitlines(), 1)
        if "telepathy" in text)
    response = as_candidate.post("/training/templates/check/",
                                 {"archive": _zip(broken)})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-ok="false"' in html
    assert f"kg-pretest/template.yaml:{line}: task acpo-principle-1: unknown grader" in html
    problems = html.split('<ul class="problems">')[1].split("</ul>")[0]
    assert "/tmp" not in problems and "upload-" not in problems  # no server path shown


def test_a_valid_upload_passes(as_candidate, tmp_path):
    response = as_candidate.post("/training/templates/check/",
                                 {"archive": _zip(_adapted(tmp_path))})
    assert response.status_code == 200
    assert 'data-ok="true"' in response.content.decode()


def test_unsafe_or_bad_uploads_are_refused(as_candidate, dalil_home):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape/template.yaml", "id: x\n")
    buffer.seek(0)
    buffer.name = "evil.zip"
    response = as_candidate.post("/training/templates/check/", {"archive": buffer})
    assert response.status_code == 400
    assert "unsafe path" in response.content.decode()
    assert not (dalil_home / "escape").exists()
    junk = io.BytesIO(b"not a zip")
    junk.name = "junk.zip"
    response = as_candidate.post("/training/templates/check/", {"archive": junk})
    assert "Not a readable ZIP archive" in response.content.decode()
    response = as_candidate.post("/training/templates/check/", {"directory": "../etc"})
    assert response.status_code == 400
