"""Training-of-trainers: preview any variant with its key, and validate adapted templates.

Nothing here writes the database. A preview is generated on demand into a temporary
directory under ``$DALIL_HOME/tmp`` and removed at once: only the key, the briefing and
the evidence list (names, sizes, hashes) come back. Validation runs the same checks as
``dalil train check`` (a valid template; seed A reproducible; seeds A and B differ in the
evidence and in every answer that is not multiple choice or fixed by a quiz).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from dalil.engine.training.generate import AnswerKey, GenerationError, generate
from dalil.engine.training.templates import load_template, scenarios_dir, template_ids
from dalil.engine.training.yamlmarks import ContentError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_FILES = 200


class CheckError(Exception):
    """The request cannot be checked (a bad upload, an unknown directory)."""


@contextmanager
def _workdir(prefix: str) -> Iterator[Path]:
    root = Path(settings.DALIL_HOME) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=prefix) as tmp:
        yield Path(tmp)


# --- preview -----------------------------------------------------------------------------


@dataclass
class Preview:
    key: dict[str, Any]
    briefings: dict[str, str]
    evidence: list[dict[str, Any]]


def preview_variant(template_id: str, seed: int, *, country: str | None = None) -> Preview:
    """Generate one variant of a packaged template (by id, never a path) in a temp dir."""
    if template_id not in template_ids():
        raise CheckError(_("No template “%(name)s”.") % {"name": template_id})
    directory = scenarios_dir() / template_id
    with _workdir("preview-") as tmp:
        out = tmp / "variant"
        key = generate(directory, seed, out, country=country or None)
        briefings = {p.name.removeprefix("briefing.").removesuffix(".md"):
                     p.read_text(encoding="utf-8")
                     for p in sorted(out.glob("briefing.*.md"))}
    return Preview(key=key.to_dict(), briefings=briefings,
                   evidence=[e for e in key.evidence
                             if not str(e["path"]).startswith("briefing.")])


# --- validation --------------------------------------------------------------------------


@dataclass
class CheckReport:
    """The outcome of a check: ``problems`` as ``file:line: message`` when invalid."""

    source: str
    valid: bool = False
    template: str = ""
    version: int | None = None
    seeds: tuple[int, int] = (1, 2)
    reproducible: bool | None = None
    evidence_differs: bool | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid and not self.problems


def templates_home() -> Path:
    return Path(settings.DALIL_HOME) / "templates"


def local_template_dirs() -> list[str]:
    """Template directories a trainer placed in ``$DALIL_HOME/templates``."""
    root = templates_home()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "template.yaml").is_file())


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def check_directory(directory: Path, *, source: str, seeds: tuple[int, int] = (1, 2),
                    strip: str = "") -> CheckReport:
    """``dalil train check`` on a directory; ``strip`` is removed from file names shown."""
    report = CheckReport(source=source, seeds=seeds)

    prefixes = [strip] if strip else []
    if strip and Path(strip).is_relative_to(Path.cwd().resolve()):
        prefixes.append(str(Path(strip).relative_to(Path.cwd().resolve())) + "/")

    def shown(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text

    try:
        loaded = load_template(directory)
    except ContentError as exc:
        report.problems = [shown(str(p)) for p in exc.problems]
        return report
    report.valid, report.template, report.version = True, loaded.id, loaded.version
    a, b = seeds
    keys: dict[str, AnswerKey] = {}
    digests: dict[str, dict[str, str]] = {}
    try:
        with _workdir("check-") as work:
            for label, seed in (("a", a), ("a_again", a), ("b", b)):
                keys[label] = generate(directory, seed, work / label)
                digests[label] = _digest(work / label)
    except (GenerationError, ContentError) as exc:
        report.problems = [shown(str(exc))]
        return report
    report.reproducible = (digests["a"] == digests["a_again"]
                           and keys["a"].to_json() == keys["a_again"].to_json())
    report.evidence_differs = digests["a"] != digests["b"]
    if not report.reproducible:
        report.problems.append(f"seed {a} gave different bytes on a second run")
    if not report.evidence_differs and loaded.evidence:
        report.problems.append(f"seeds {a} and {b} gave identical evidence")
    fixed = {t.id for t in loaded.tasks if loaded.kind == "quiz" and "value" in t.answer}
    for ta, tb in zip(keys["a"].tasks, keys["b"].tasks, strict=True):
        differ = (json.dumps(ta["answer"], sort_keys=True)
                  != json.dumps(tb["answer"], sort_keys=True))
        note = "" if differ else ("same letter by chance" if ta["grader"] == "choice"
                                  else "fixed by the quiz" if ta["id"] in fixed
                                  else "same answer")
        if not differ and ta["grader"] != "choice" and ta["id"] not in fixed:
            report.problems.append(f"task {ta['id']}: seeds {a} and {b} have the same answer")
        report.tasks.append({"id": ta["id"], "grader": ta["grader"], "differ": differ,
                             "note": note, "answer_a": ta["answer"],
                             "answer_b": tb["answer"]})
    return report


def check_local(name: str) -> CheckReport:
    """Check a directory of ``$DALIL_HOME/templates`` chosen by its name."""
    if name not in local_template_dirs():
        raise CheckError(_("No template directory “%(name)s” in %(root)s.")
                         % {"name": name, "root": templates_home()})
    root = templates_home()
    return check_directory(root / name, source=f"templates/{name}",
                           strip=str(root.resolve()) + "/")


def check_upload(upload: IO[bytes], filename: str) -> CheckReport:
    """Check an uploaded ZIP of a template directory (template.yaml and briefings)."""
    with _workdir("upload-") as tmp:
        root = tmp / "scenarios"
        root.mkdir()
        try:
            with zipfile.ZipFile(upload) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) > MAX_UPLOAD_FILES or \
                        sum(m.file_size for m in members) > MAX_UPLOAD_BYTES:
                    raise CheckError(_("The archive is too large to check."))
                for member in members:
                    parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                    if not parts or member.filename.startswith("/") or ".." in parts:
                        raise CheckError(_("The archive holds an unsafe path: %(path)s")
                                         % {"path": member.filename})
                    target = root.joinpath(*parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise CheckError(_("Not a readable ZIP archive: %(error)s")
                             % {"error": exc}) from None
        found = sorted(root.rglob("template.yaml"))
        if len(found) != 1:
            raise CheckError(_("The archive must hold exactly one template.yaml."))
        directory = found[0].parent
        return check_directory(directory, source=filename,
                               strip=str(root.resolve()) + "/")
