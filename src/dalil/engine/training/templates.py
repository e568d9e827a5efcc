"""Scenario templates: ``<content>/scenarios/<id>/template.yaml`` + ``briefing.<locale>.md``.

A template declares its story (briefing per locale), parameters drawn from the national
pools, the evidence generators to call and the tasks with their graders. ``load_template``
validates all of it and raises ContentError whose every problem names the file and line,
so that a trainer adapting a template sees at once what to fix.

The packaged content lives in ``dalil/content`` (inside the package, so an installed
``dalil`` finds it); a trainer's own template can be any directory of the same shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalil.engine.evidence.custody import ACTIONS as CUSTODY_ACTIONS
from dalil.engine.training.generators import GENERATORS
from dalil.engine.training.graders import CRITERIA, GRADERS
from dalil.engine.training.pools import POOL_KINDS, available_countries, load_pool
from dalil.engine.training.yamlmarks import ContentError, Marked, PathKey, Problem, load_marked

CONTENT_ROOT = Path(__file__).resolve().parent.parent.parent / "content"
"""The content packaged with Dalil: ``src/dalil/content`` (scenarios/ and pools/)."""

KINDS = ("lab", "quiz")
ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
BUILTINS = ("country", "country_name", "timezone", "currency")
"""Placeholders every template may use besides its parameters."""

GRADER_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "text": {"synonyms": list, "exact": bool},
    "numeric": {"tolerance": (int, float), "relative_tolerance": (int, float)},
    "hash": {"digests": dict},
    "timestamp": {"timezone": str, "tolerance_seconds": (int, float)},
    "set": {"scoring": str},
    "choice": {},
    "ordering": {"ranks": dict},
    "rubric": {},
    "case_records": {"criteria": list, "custody_order": list},
    "free_text": {"rubric": dict},
}
ANSWER_FORMS = ("fact", "value", "choice")


@dataclass(frozen=True)
class EvidenceSpec:
    id: str
    generator: str
    output: str
    options: dict[str, Any]


@dataclass(frozen=True)
class TaskSpec:
    id: str
    grader: str
    points: float
    question: dict[str, str]
    answer: dict[str, Any]  # exactly one of fact / value / choice
    options: dict[str, Any]
    hints: list[dict[str, Any]]
    max_attempts: int | None
    choices: list[dict[str, Any]]
    explanation: dict[str, str]


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    kind: str
    course: int | None
    title: dict[str, str]
    locales: tuple[str, ...]
    countries: tuple[str, ...]
    parameters: dict[str, str]
    evidence: list[EvidenceSpec]
    tasks: list[TaskSpec]
    briefings: dict[str, str]
    path: Path
    content_root: Path = field(default=CONTENT_ROOT)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "kind": self.kind,
                "course": self.course, "title": self.title, "locales": list(self.locales),
                "countries": list(self.countries), "tasks": len(self.tasks),
                "points": sum(t.points for t in self.tasks), "path": str(self.path)}


def scenarios_dir(content: Path = CONTENT_ROOT) -> Path:
    return content / "scenarios"


def resolve(name: str, content: Path = CONTENT_ROOT) -> Path:
    """A template directory from an id (packaged content) or a path to a directory."""
    candidate = Path(name)
    if (candidate / "template.yaml").is_file():
        return candidate
    packaged = scenarios_dir(content) / name
    if ID.fullmatch(name) and (packaged / "template.yaml").is_file():
        return packaged
    known = ", ".join(template_ids(content)) or "none"
    raise ContentError([Problem(name, 1, f"no such template (a directory with template.yaml, "
                                         f"or one of: {known})")])


def template_ids(content: Path = CONTENT_ROOT) -> list[str]:
    root = scenarios_dir(content)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "template.yaml").is_file())


def content_root_for(template_dir: Path) -> Path:
    """The content root whose pools/ a template uses: its own tree's, else the packaged."""
    root = template_dir.resolve().parent.parent
    return root if (root / "pools").is_dir() else CONTENT_ROOT


def _display(path: Path) -> str:
    """``content/scenarios/<id>/template.yaml`` for packaged content, else relative to cwd."""
    path = path.resolve()
    for root in (CONTENT_ROOT.resolve().parent, Path.cwd().resolve()):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


class _Checker:
    def __init__(self, doc: Marked) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def texts(self, value: Any, path: PathKey, locales: tuple[str, ...], what: str,
              names: set[str]) -> dict[str, str]:
        if isinstance(value, str):
            value = {"en": value}
        if not isinstance(value, dict):
            self.add(path, f"{what} is a mapping of locale to text (en: ..., ru: ...)")
            return {}
        out: dict[str, str] = {}
        for locale in locales:
            text = value.get(locale)
            if not isinstance(text, str) or not text.strip():
                self.add(path, f"{what} lacks the {locale!r} text")
                continue
            for name in PLACEHOLDER.findall(text):
                if name not in names:
                    self.add((*path, locale), f"{what} uses {{{name}}}, which is neither a "
                                              f"parameter nor one of {', '.join(BUILTINS)}")
            out[locale] = text
        for extra in sorted(set(value) - set(locales)):
            self.add((*path, extra), f"{what} has text for {extra!r}, not a declared locale")
        return out


def load_template(template_dir: Path) -> Template:
    """Load and validate a template directory; ContentError lists every problem."""
    template_dir = Path(template_dir)
    yaml_path = template_dir / "template.yaml"
    doc = load_marked(yaml_path, display=_display(yaml_path))
    c = _Checker(doc)
    d = doc.data
    if not isinstance(d, dict):
        raise ContentError([doc.problem((), "a template is a mapping of fields")])

    allowed = {"id", "version", "kind", "course", "title", "locales", "countries",
               "parameters", "evidence", "tasks"}
    for key in sorted(set(d) - allowed):
        c.add((key,), f"unknown field {key!r}; fields: {', '.join(sorted(allowed))}")
    tid = d.get("id")
    if not isinstance(tid, str) or not ID.fullmatch(tid):
        c.add(("id",), "'id' is lower-case letters, digits and dashes, e.g. first-responder-scene")
        tid = template_dir.name
    elif tid != template_dir.name:
        c.add(("id",), f"'id' {tid!r} differs from the directory name {template_dir.name!r}")
    version = d.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        c.add(("version",), "'version' is a whole number from 1; raise it when answers change")
        version = 1
    kind = d.get("kind", "lab")
    if kind not in KINDS:
        c.add(("kind",), f"'kind' is one of {', '.join(KINDS)}")
    course = d.get("course")
    if course is not None and (isinstance(course, bool) or not isinstance(course, int)):
        c.add(("course",), "'course' is the course number")
        course = None

    locales_raw = d.get("locales", ["en"])
    if not isinstance(locales_raw, list) or not all(isinstance(x, str) for x in locales_raw):
        c.add(("locales",), "'locales' is a list such as [en, ru]")
        locales_raw = ["en"]
    locales = tuple(locales_raw)
    if "en" not in locales:
        c.add(("locales",), "'locales' must include en (the fallback language)")

    content = content_root_for(template_dir)
    known_countries = available_countries(content)
    countries_raw = d.get("countries", known_countries)
    if not isinstance(countries_raw, list) or not countries_raw:
        c.add(("countries",), "'countries' is a list of pool codes such as [KZ, KG]")
        countries_raw = known_countries
    for i, code in enumerate(countries_raw):
        if code not in known_countries:
            c.add(("countries", i), f"no national pool {code!r} in {content / 'pools'}; "
                                    f"known: {', '.join(known_countries)}")
        else:
            try:
                load_pool(content, code)
            except ContentError as exc:
                c.problems.extend(exc.problems)

    params_raw = d.get("parameters", {}) or {}
    parameters: dict[str, str] = {}
    if not isinstance(params_raw, dict):
        c.add(("parameters",), "'parameters' maps a name to a pool kind (suspect: person)")
    else:
        for name, kind_ in params_raw.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(name)):
                c.add(("parameters", name), f"parameter name {name!r}: lower case and _")
            elif kind_ not in POOL_KINDS:
                c.add(("parameters", name), f"parameter {name!r}: unknown pool {kind_!r}; "
                                            f"one of {', '.join(POOL_KINDS)}")
            else:
                parameters[str(name)] = str(kind_)
    names = set(parameters) | set(BUILTINS)
    title = c.texts(d.get("title"), ("title",), locales, "'title'", names)

    evidence = _evidence(c, d.get("evidence", []) or [], parameters)
    facts = {f"{e.id}.{fact}" for e in evidence for fact in GENERATORS[e.generator].facts}
    tasks = _tasks(c, d.get("tasks"), locales, names, facts)

    briefings: dict[str, str] = {}
    for locale in locales:
        path = template_dir / f"briefing.{locale}.md"
        shown = _display(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            c.problems.append(Problem(shown, 1, f"missing briefing for locale {locale!r}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            c.problems.append(Problem(shown, 1, f"cannot read: {exc}"))
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            for name in PLACEHOLDER.findall(line):
                if name not in names:
                    c.problems.append(Problem(shown, lineno, f"{{{name}}} is neither a "
                                              f"parameter nor one of {', '.join(BUILTINS)}"))
        briefings[locale] = text

    if c.problems:
        raise ContentError(c.problems)
    return Template(id=str(tid), version=int(version), kind=str(kind), course=course,
                    title=title, locales=locales, countries=tuple(map(str, countries_raw)),
                    parameters=parameters, evidence=evidence, tasks=tasks,
                    briefings=briefings, path=template_dir, content_root=content)


def _evidence(c: _Checker, raw: Any, parameters: dict[str, str]) -> list[EvidenceSpec]:
    if not isinstance(raw, list):
        c.add(("evidence",), "'evidence' is a list of {id, generator, output, options}")
        return []
    out: list[EvidenceSpec] = []
    seen_outputs: set[str] = set()
    for i, item in enumerate(raw):
        path: PathKey = ("evidence", i)
        if not isinstance(item, dict):
            c.add(path, "an evidence entry is a mapping with 'generator' and 'output'")
            continue
        name = item.get("generator")
        spec = GENERATORS.get(str(name))
        if spec is None:
            c.add((*path, "generator"), f"unknown generator {name!r}; known: "
                                        f"{', '.join(sorted(GENERATORS))}")
            continue
        eid = item.get("id", name)
        if not isinstance(eid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", eid):
            c.add((*path, "id"), "evidence 'id' is lower case letters, digits and _")
            continue
        if any(e.id == eid for e in out):
            c.add((*path, "id"), f"evidence id {eid!r} is used twice")
        output = item.get("output")
        if (not isinstance(output, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", output)
                or output == "answer-key.json" or output.startswith("briefing.")):
            c.add((*path, "output"), "'output' is a plain file name (no directories), not "
                                     "answer-key.json or briefing.*")
            continue
        if output in seen_outputs:
            c.add((*path, "output"), f"two generators write {output!r}")
        seen_outputs.add(output)
        options = item.get("options", {}) or {}
        if not isinstance(options, dict):
            c.add((*path, "options"), "'options' is a mapping")
            options = {}
        for key, value in options.items():
            expected = spec.option_types.get(str(key))
            if expected is None:
                c.add((*path, "options", key), f"{spec.name} has no option {key!r}; options: "
                      f"{', '.join(sorted(spec.option_types)) or 'none'}")
            elif not isinstance(value, expected) or isinstance(value, bool):
                c.add((*path, "options", key), f"option {key!r} of {spec.name} must be "
                                               f"{expected.__name__}")
            elif key in spec.refs and not any(e.id == value for e in out):
                c.add((*path, "options", key), f"option {key!r} names {value!r}, which is not "
                                               f"an evidence id declared before it")
        for needed in spec.requires:
            if needed not in parameters:
                c.add((*path, "generator"), f"{spec.name} needs the parameter {needed!r}; "
                                            f"declare it under 'parameters'")
        out.append(EvidenceSpec(eid, spec.name, output, dict(options)))
    return out


def _tasks(c: _Checker, raw: Any, locales: tuple[str, ...], names: set[str],
           facts: set[str]) -> list[TaskSpec]:
    if not isinstance(raw, list) or not raw:
        c.add(("tasks",), "'tasks' is a non-empty list")
        return []
    out: list[TaskSpec] = []
    for i, item in enumerate(raw):
        path: PathKey = ("tasks", i)
        if not isinstance(item, dict):
            c.add(path, "a task is a mapping with id, grader, points, question, answer")
            continue
        tid = item.get("id")
        if not isinstance(tid, str) or not ID.fullmatch(tid):
            c.add((*path, "id"), "task 'id' is lower-case letters, digits and dashes")
            continue
        if any(t.id == tid for t in out):
            c.add((*path, "id"), f"task id {tid!r} is used twice")
        grader = item.get("grader")
        if grader not in GRADERS:
            c.add((*path, "grader"), f"task {tid}: unknown grader {grader!r}; one of "
                                     f"{', '.join(GRADERS)}")
            continue
        points = item.get("points")
        if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
            c.add((*path, "points"), f"task {tid}: 'points' is a positive number")
            points = 1
        question = c.texts(item.get("question"), (*path, "question"), locales,
                           f"task {tid}: 'question'", names)
        explanation = (c.texts(item["explanation"], (*path, "explanation"), locales,
                               f"task {tid}: 'explanation'", names)
                       if "explanation" in item else {})
        options = item.get("options", {}) or {}
        if not isinstance(options, dict):
            c.add((*path, "options"), "'options' is a mapping")
            options = {}
        for key, value in options.items():
            kinds = GRADER_OPTIONS[str(grader)].get(str(key))
            if kinds is None:
                c.add((*path, "options", key), f"grader {grader} has no option {key!r}")
            elif not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
                c.add((*path, "options", key), f"option {key!r} has the wrong type")
        if grader == "case_records":
            _case_records_options(c, options, path, tid)
        choices = _choices(c, item, path, tid, str(grader), locales, names)
        answer = _answer(c, item, path, tid, str(grader), facts, choices)
        hints = _hints(c, item.get("hints", []) or [], (*path, "hints"), tid, locales,
                       names, float(points))
        attempts = item.get("max_attempts")
        if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int)
                                     or attempts < 1):
            c.add((*path, "max_attempts"), f"task {tid}: 'max_attempts' is a whole number >= 1")
            attempts = None
        for key in sorted(set(item) - {"id", "grader", "points", "question", "answer",
                                       "options", "choices", "hints", "max_attempts",
                                       "explanation"}):
            c.add((*path, key), f"task {tid}: unknown field {key!r}")
        out.append(TaskSpec(tid, str(grader), float(points), question, answer, dict(options),
                            hints, attempts, choices, explanation))
    return out


def _case_records_options(c: _Checker, options: dict[str, Any], path: PathKey,
                          tid: str) -> None:
    for name in options.get("criteria") or []:
        if name not in CRITERIA:
            c.add((*path, "options", "criteria"), f"task {tid}: unknown criterion {name!r}; "
                                                  f"one of {', '.join(CRITERIA)}")
    for action in options.get("custody_order") or []:
        if action not in CUSTODY_ACTIONS:
            c.add((*path, "options", "custody_order"), f"task {tid}: unknown custody action "
                                                       f"{action!r}")


def _choices(c: _Checker, item: dict[str, Any], path: PathKey, tid: str, grader: str,
             locales: tuple[str, ...], names: set[str]) -> list[dict[str, Any]]:
    raw = item.get("choices")
    if grader != "choice":
        if raw is not None:
            c.add((*path, "choices"), f"task {tid}: 'choices' only go with grader choice")
        return []
    if not isinstance(raw, list) or len(raw) < 2:
        c.add((*path, "choices"), f"task {tid}: 'choices' is a list of at least 2 "
                                  f"{{id, text}}")
        return []
    out: list[dict[str, Any]] = []
    for j, choice in enumerate(raw):
        cpath = (*path, "choices", j)
        if not isinstance(choice, dict) or not isinstance(choice.get("id"), str):
            c.add(cpath, f"task {tid}: a choice has an 'id' and a 'text' per locale")
            continue
        if any(o["id"] == choice["id"] for o in out):
            c.add((*cpath, "id"), f"task {tid}: choice id {choice['id']!r} is used twice")
        text = c.texts(choice.get("text"), (*cpath, "text"), locales,
                       f"task {tid}: choice {choice['id']}", names)
        out.append({"id": choice["id"], "text": text})
    if len(out) > 26:
        c.add((*path, "choices"), f"task {tid}: at most 26 choices (A-Z)")
    return out


def _answer(c: _Checker, item: dict[str, Any], path: PathKey, tid: str, grader: str,
            facts: set[str], choices: list[dict[str, Any]]) -> dict[str, Any]:
    raw = item.get("answer")
    if raw is None and grader == "free_text":
        return {}
    apath = (*path, "answer")
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ANSWER_FORMS:
        c.add(apath, f"task {tid}: 'answer' is one of {{fact: evidence.fact}}, "
                     f"{{value: ...}} or {{choice: id}}")
        return {}
    form, value = next(iter(raw.items()))
    if form == "fact" and value not in facts:
        c.add((*apath, "fact"), f"task {tid}: no generator declared here plants {value!r}; "
                                f"facts: {', '.join(sorted(facts)) or 'none'}")
    if form == "choice":
        if grader != "choice":
            c.add((*apath, "choice"), f"task {tid}: {{choice: ...}} goes with grader choice")
        elif value not in {o["id"] for o in choices}:
            c.add((*apath, "choice"), f"task {tid}: {value!r} is not one of the choice ids")
    return {str(form): value}


def _hints(c: _Checker, raw: Any, path: PathKey, tid: str, locales: tuple[str, ...],
           names: set[str], points: float) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        c.add(path, f"task {tid}: 'hints' is a list of {{cost, text}}")
        return []
    out: list[dict[str, Any]] = []
    for j, hint in enumerate(raw):
        hpath = (*path, j)
        if not isinstance(hint, dict):
            c.add(hpath, f"task {tid}: a hint has 'cost' and 'text'")
            continue
        cost = hint.get("cost", 0)
        if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
            c.add((*hpath, "cost"), f"task {tid}: a hint's 'cost' is a number >= 0")
            cost = 0
        text = c.texts(hint.get("text"), (*hpath, "text"), locales, f"task {tid}: hint {j + 1}",
                       names)
        out.append({"cost": float(cost), "text": text})
    if sum(h["cost"] for h in out) > points:
        c.add(path, f"task {tid}: the hints cost more than the task's {points:g} points")
    return out


def list_templates(content: Path = CONTENT_ROOT) -> tuple[list[Template], list[ContentError]]:
    """Every template under ``content``, and the errors of those that do not validate."""
    good: list[Template] = []
    bad: list[ContentError] = []
    for name in template_ids(content):
        try:
            good.append(load_template(scenarios_dir(content) / name))
        except ContentError as exc:
            bad.append(exc)
    return good, bad


def render(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders with values; other braces stay as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
