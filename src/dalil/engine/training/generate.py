"""Generate one variant of a template: the trainee's evidence and the trainer's answer key.

Determinism: every random choice comes from ``random.Random`` seeded with the text
``"<template>:<version>:<seed>:<purpose>"`` (Python hashes a text seed with SHA-512, the
same on every platform and version), every time from a reference time derived from the
seed, and every JSON document is written with sorted keys. The same (template, version,
seed) thus gives byte-identical evidence and key on any machine; the key records how each
fact was planted.

A variant is built in a hidden sibling directory and moved into place only when complete,
so a failed generation never leaves a half-made variant behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dalil.engine.training.generators import GENERATORS, Fact, GenContext
from dalil.engine.training.pools import Pool, load_pool
from dalil.engine.training.templates import TaskSpec, Template, load_template, render

KEY_FORMAT = "dalil-answer-key/1"
KEY_FILE = "answer-key.json"
_EPOCH = date(2025, 1, 15)  # scenes fall within the year after this day


class GenerationError(RuntimeError):
    """A variant could not be generated; the message says which template, seed and why."""


@dataclass(frozen=True)
class AnswerKey:
    """The trainer's copy: the answer to every task, in the form a trainee submits."""

    template: str
    version: int
    seed: int
    country: str
    title: dict[str, str]
    parameters: dict[str, str]
    evidence: list[dict[str, Any]]
    tasks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEY_FORMAT, "template": self.template, "version": self.version,
                "seed": self.seed, "country": self.country, "title": self.title,
                "parameters": self.parameters, "evidence": self.evidence, "tasks": self.tasks}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def _rng(template: Template, seed: int, purpose: str) -> random.Random:
    # Reproducible training data, not secrets: a seeded Mersenne Twister is the point.
    return random.Random(f"{template.id}:{template.version}:{seed}:{purpose}")  # noqa: S311


def reference_time(template: Template, seed: int, pool: Pool) -> datetime:
    """The scene's start (aware, UTC): a working-hours local time drawn from the seed."""
    rng = _rng(template, seed, "clock")
    day = _EPOCH + timedelta(days=rng.randint(0, 330))
    local = datetime(day.year, day.month, day.day, rng.randint(8, 16), rng.randrange(60),
                     tzinfo=pool.fixed_offset())
    return local.astimezone(UTC)


def draw_parameters(template: Template, seed: int, pool: Pool) -> dict[str, str]:
    """Parameter values from the national pool; no two persons share a name."""
    rng = _rng(template, seed, "parameters")
    values: dict[str, str] = {}
    used: set[str] = set()
    for name, kind in template.parameters.items():
        value = pool.draw(kind, rng)
        for _ in range(50):
            if kind not in ("person", "phone") or value not in used:
                break
            value = pool.draw(kind, rng)
        used.add(value)
        values[name] = value
    return values


def _builtins(pool: Pool, locale: str) -> dict[str, str]:
    return {"country": pool.country, "country_name": pool.names.get(locale, pool.names["en"]),
            "timezone": pool.timezone, "currency": pool.currency}


def _choice_task(task: TaskSpec, correct: Any, rng: random.Random,
                 question: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    ids = [c["id"] for c in task.choices]
    if correct not in ids:
        raise GenerationError(f"task {task.id}: the planted answer {correct!r} is not one of "
                              f"the choices {', '.join(ids)}")
    shuffled = list(task.choices)
    rng.shuffle(shuffled)
    letters = {string.ascii_uppercase[i]: c["id"] for i, c in enumerate(shuffled)}
    shown = {locale: text + "\n\n" + "\n".join(
        f"{letter}) {next(c for c in shuffled if c['id'] == cid)['text'][locale]}"
        for letter, cid in letters.items()) for locale, text in question.items()}
    letter = next(k for k, v in letters.items() if v == correct)
    return letter, {"letters": letters}, shown


def _task_entry(template: Template, seed: int, task: TaskSpec, facts: dict[str, Fact],
                values: dict[str, dict[str, str]]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "fact" in task.answer:
        fact = facts[task.answer["fact"]]
        answer, planted = fact.value, fact.planted
        options.update(fact.options)
    elif "choice" in task.answer:
        answer, planted = task.answer["choice"], "fixed by the template"
    elif "value" in task.answer:
        answer, planted = task.answer["value"], "fixed by the template"
    else:
        answer, planted = None, "graded by a trainer"
    options.update(task.options)
    question = {loc: render(text, values[loc]) for loc, text in task.question.items()}
    if task.grader == "choice":
        answer, letter_options, question = _choice_task(
            task, answer, _rng(template, seed, f"task:{task.id}"), question)
        options.update(letter_options)
        planted = f"{planted}; choices shuffled by the seed, the right one is {answer}"
    return {
        "id": task.id, "grader": task.grader, "points": task.points, "question": question,
        "answer": answer, "options": options, "planted": planted,
        "hints": [{"cost": h["cost"], "text": {loc: render(t, values[loc])
                                               for loc, t in h["text"].items()}}
                  for h in task.hints],
        "max_attempts": task.max_attempts,
        "explanation": {loc: render(t, values[loc]) for loc, t in task.explanation.items()},
    }


def _manifest(directory: Path) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(directory.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            entries.append({"path": path.name, "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()})
    return entries


def generate(template_dir: Path, seed: int, out_dir: Path, *,
             country: str | None = None) -> AnswerKey:
    """Write a variant's evidence and briefings into ``out_dir``; return its answer key.

    ``out_dir`` must not exist or be empty. The key is not written there: the caller
    decides where the trainer's copy goes (the CLI writes ``out_dir/answer-key.json``).
    """
    template = load_template(Path(template_dir))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GenerationError(f"the seed is a whole number >= 0, not {seed!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise GenerationError(f"{out_dir} exists and is not an empty directory")
    if country is None:
        country = _rng(template, seed, "country").choice(sorted(template.countries))
    elif country not in template.countries:
        raise GenerationError(f"template {template.id} has no pool for {country!r}; "
                              f"one of {', '.join(template.countries)}")
    pool = load_pool(template.content_root, country)

    work = out_dir.parent / f".{out_dir.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        start = reference_time(template, seed, pool)
        params = draw_parameters(template, seed, pool)
        values = {loc: {**_builtins(pool, loc), **params} for loc in template.locales}
        facts: dict[str, Fact] = {}
        for spec in template.evidence:
            ctx = GenContext(rng=_rng(template, seed, f"evidence:{spec.id}"), pool=pool,
                             params=params, start=start, out_dir=work, output=spec.output,
                             options=spec.options, facts=dict(facts))
            for name, fact in GENERATORS[spec.generator].run(ctx).items():
                facts[f"{spec.id}.{name}"] = fact
        for locale, text in template.briefings.items():
            (work / f"briefing.{locale}.md").write_text(render(text, values[locale]),
                                                        encoding="utf-8")
        tasks = [_task_entry(template, seed, t, facts, values) for t in template.tasks]
        key = AnswerKey(template.id, template.version, seed, country, template.title, params,
                        _manifest(work), tasks)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(work, out_dir)
    except GenerationError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except (OSError, ValueError, KeyError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise GenerationError(f"{template.id} seed {seed}: {exc}") from exc
    return key


def load_key(path: Path) -> dict[str, Any]:
    """Read an answer key written by ``AnswerKey.write``; ValueError says what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("format") != KEY_FORMAT or not isinstance(
            data.get("tasks"), list):
        raise ValueError(f"{path} is not a Dalil answer key ({KEY_FORMAT})")
    return data

