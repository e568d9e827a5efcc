"""YAML with line numbers: load a document and remember where every value was written.

Validation errors of templates and pools must name the file and the line, so the loader
keeps, for every path into the document (``("tasks", 2, "grader")``), the 1-based line
of its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ContentError(ValueError):
    """A template or pool is invalid; ``problems`` names each file, line and reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Marked:
    """A loaded YAML document and the line of each of its values."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def problem(self, path: PathKey, message: str) -> Problem:
        return Problem(self.file, self.line(path), message)


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int],
          problems: list[Problem], file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(Problem(file, key_node.start_mark.line + 1,
                                        f"duplicate key {key!r}"))
            seen.add(key)
            _walk(value_node, (*path, key), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems, file)


def load_marked(path: Path, display: str | None = None) -> Marked:
    """Load one YAML document from ``path``; raise ContentError on syntax errors."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError([Problem(name, 1, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError([Problem(name, 1, f"cannot read: {exc}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ContentError([Problem(name, 1, "the file is empty")])
        problems: list[Problem] = []
        lines: dict[PathKey, int] = {}
        _walk(node, (), lines, problems, name)
        if problems:
            raise ContentError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ContentError([Problem(name, line, f"YAML syntax: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ContentError([Problem(name, 1, f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return Marked(name, data, lines)
