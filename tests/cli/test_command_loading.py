"""`dalil` loads only the module of the command typed, and the map of modules stays true."""

from __future__ import annotations

import subprocess
import sys

from dalil.cli.main import COMMAND_MODULES, app


def _registered() -> dict[str, set[str]]:
    """Top-level name -> the modules whose functions it runs, from the complete app."""
    found: dict[str, set[str]] = {}
    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        found.setdefault(name, set()).add(command.callback.__module__)
    for group in app.registered_groups:
        modules = found.setdefault(group.name, set())
        stack = [group.typer_instance]
        while stack:
            typer_app = stack.pop()
            modules.update(c.callback.__module__ for c in typer_app.registered_commands)
            stack.extend(g.typer_instance for g in typer_app.registered_groups)
    return found


def test_every_command_is_mapped_to_the_modules_that_define_it():
    registered = _registered()
    assert set(registered) == set(COMMAND_MODULES)
    for name, modules in registered.items():
        expected = {f"dalil.cli.{m}" for m in COMMAND_MODULES[name]}
        assert modules == expected, name


def test_a_command_imports_neither_the_other_commands_nor_their_libraries():
    probe = (
        "import sys; sys.argv = ['dalil', 'hash', '--help']\n"
        "from dalil.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'duckdb', 'django', 'pytsk3', 'dalil.cli.scan')"
        " if m in sys.modules]\n"
        "print('heavy:' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == "heavy:"
