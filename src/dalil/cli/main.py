"""Entry point of the `dalil` command.

Each command group lives in its own module and registers itself on the Typer app of
:mod:`dalil.cli.root`. Importing every module costs a third of a second (NumPy, DuckDB,
Hyperscan, pytsk3, Django...), which `dalil hash` or a partner's `dalil bundle verify`
should not pay, so :func:`main` imports only the module(s) of the command typed; `--help`
and unknown commands import them all. ``from dalil.cli.main import app`` gives the whole
application (tests and ``typer.testing`` use it).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from dalil.cli import root

# Top-level command or group name -> the modules that register it (tests keep this true).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "acquire": ("acquire",),
    "artifacts": ("hashsets",),
    "bundle": ("exchange",),
    "carve": ("carve",),
    "case": ("cases",),
    "chain": ("chain",),
    "class": ("classes",),
    "custody": ("cases",),
    "demo": ("serve",),
    "evidence": ("cases",),
    "export": ("exchange",),
    "fs": ("forensics",),
    "hash": ("hashing",),
    "hashset": ("hashsets",),
    "image": ("forensics",),
    "ingest": ("ingest",),
    "manage": ("serve",),
    "onion": ("chain", "capture"),
    "report": ("exchange",),
    "scan": ("scan",),
    "scan-exhibit": ("scan_exhibit",),
    "serve": ("serve",),
    "timeline": ("forensics",),
    "train": ("train",),
    "verify": ("cases",),
    "worker": ("serve",),
}


def _load(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(f"dalil.cli.{name}")


def _register() -> None:
    _load(tuple(dict.fromkeys(m for mods in COMMAND_MODULES.values() for m in mods)))


def _command(argv: list[str]) -> str | None:
    """The command name typed: the first argument that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def __getattr__(name: str) -> Any:
    if name == "app":
        _register()
        return root.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    command = _command(sys.argv[1:])
    if command in COMMAND_MODULES:
        _load(COMMAND_MODULES[command])
    elif command is not None or "--version" not in sys.argv:
        _register()
    root.app()
