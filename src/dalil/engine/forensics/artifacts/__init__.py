"""Artifact parsers: one small plugin module per artifact, each yielding typed records.

The plugins are imported (and so registered in :data:`REGISTRY`) the first time the parsers
are asked for: :func:`select_parsers`, ``REGISTRY`` or a plugin name read from this package.
Their libraries (regipy, python-evtx, ExifRead...) cost a third of a second to import, which
``dalil fs ls`` and the other commands that never parse an artifact do not pay. Run them over
a file system with :func:`parse_file_system`, or over a loose file with :func:`parse_file`.
"""

from __future__ import annotations

import importlib
from typing import Any

from dalil.engine.forensics.artifacts.base import (
    PLUGINS,
    ArtifactError,
    ArtifactInput,
    ArtifactRecord,
    Parser,
    Source,
    load_plugins,
    register,
    run_parser,
)
from dalil.engine.forensics.artifacts.runner import (
    parse_entry,
    parse_file,
    parse_file_system,
    select_parsers,
)

__all__ = [
    "PLUGINS",
    "REGISTRY",
    "ArtifactError",
    "ArtifactInput",
    "ArtifactRecord",
    "Parser",
    "Source",
    "load_plugins",
    "parse_entry",
    "parse_file",
    "parse_file_system",
    "register",
    "run_parser",
    "select_parsers",
]


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return load_plugins()
    if name in PLUGINS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
