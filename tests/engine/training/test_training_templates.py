"""Template and pool validation: every problem names the file and the line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dalil.engine.training.templates import CONTENT_ROOT, list_templates, load_template
from dalil.engine.training.yamlmarks import ContentError


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root)
    return root


def break_line(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def problems(template_dir: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_template(template_dir)
    return [str(p) for p in info.value.problems]


def test_packaged_templates_validate():
    good, bad = list_templates()
    assert not bad
    assert {"first-responder-scene", "course1-pretest"} <= {t.id for t in good}


def test_unknown_generator_names_file_and_line(content):
    tdir = content / "scenarios" / "first-responder-scene"
    line = break_line(tdir / "template.yaml", "generator: usb_image", "generator: usb_imgae")
    found = problems(tdir)
    assert any(f"template.yaml:{line}: unknown generator 'usb_imgae'" in p for p in found), found


def test_invalid_parameter_and_bad_points_each_with_their_line(content):
    tdir = content / "scenarios" / "first-responder-scene"
    pline = break_line(tdir / "template.yaml", "witness: person", "witness: persona")
    qline = break_line(tdir / "template.yaml", "points: 20", "points: -1")
    found = problems(tdir)
    assert any(f"template.yaml:{pline}: parameter 'witness': unknown pool 'persona'" in p
               for p in found), found
    assert any(f"template.yaml:{qline}: task scene-record: 'points'" in p for p in found), found


def test_unknown_fact_missing_locale_and_placeholder(content):
    tdir = content / "scenarios" / "first-responder-scene"
    fline = break_line(tdir / "template.yaml", "{fact: usb.sha256}", "{fact: usb.md5}")
    found = problems(tdir)
    assert any(f"template.yaml:{fline}:" in p and "usb.md5" in p for p in found), found
    (tdir / "briefing.ru.md").unlink()
    text = (tdir / "briefing.en.md").read_text()
    (tdir / "briefing.en.md").write_text(text + "\nCall {nobody}.\n")
    found = problems(tdir)
    assert any(p.endswith("briefing.ru.md:1: missing briefing for locale 'ru'") for p in found)
    last = len((tdir / "briefing.en.md").read_text().splitlines())
    assert any(f"briefing.en.md:{last}: {{nobody}}" in p for p in found), found


def test_yaml_syntax_error_and_duplicate_key(content):
    tdir = content / "scenarios" / "course1-pretest"
    line = break_line(tdir / "template.yaml", "version: 2", "version: 2\nversion: 3")
    found = problems(tdir)
    assert any(f"template.yaml:{line + 1}: duplicate key 'version'" in p for p in found)
    (tdir / "template.yaml").write_text("id: course1-pretest\ntasks: [\n", encoding="utf-8")
    found = problems(tdir)
    assert len(found) == 1 and "YAML syntax" in found[0] and ":3:" in found[0]


def test_broken_pool_names_its_file_and_line(content):
    pool = content / "pools" / "KG.yaml"
    line = break_line(pool, "timezone: Asia/Bishkek", "timezone: Asia/Frunze_Nowhere")
    found = problems(content / "scenarios" / "first-responder-scene")
    assert any(f"pools/KG.yaml:{line}: unknown time zone" in p for p in found), found


def test_choice_answer_must_be_a_choice(content):
    tdir = content / "scenarios" / "course1-pretest"
    line = break_line(tdir / "template.yaml", "answer: {choice: memory}",
                      "answer: {choice: cpu}")
    found = problems(tdir)
    assert any(f"template.yaml:{line}: task most-volatile: 'cpu' is not one of" in p
               for p in found), found
