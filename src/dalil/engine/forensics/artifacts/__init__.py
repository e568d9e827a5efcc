"""Artifact parsers: one small plugin module per artifact, each yielding typed records.

Importing this package registers every parser in :data:`REGISTRY`. Run them over a file
system with :func:`parse_file_system`, or over a loose file with :func:`parse_file`.
"""

from __future__ import annotations

from dalil.engine.forensics.artifacts import (
    android,
    chrome,
    evtx,
    exif,
    firefox,
    registry,
    telegram,
)
from dalil.engine.forensics.artifacts.base import (
    REGISTRY,
    ArtifactError,
    ArtifactInput,
    ArtifactRecord,
    Parser,
    Source,
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
    "REGISTRY",
    "ArtifactError",
    "ArtifactInput",
    "ArtifactRecord",
    "Parser",
    "Source",
    "android",
    "chrome",
    "evtx",
    "exif",
    "firefox",
    "parse_entry",
    "parse_file",
    "parse_file_system",
    "register",
    "registry",
    "run_parser",
    "select_parsers",
    "telegram",
]
