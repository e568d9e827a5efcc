"""Entry point of the `dalil` command."""

from __future__ import annotations

import typer

from dalil import __version__

app = typer.Typer(
    name="dalil",
    help="Dalil: evidence handling, forensics and training for cybercrime investigators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dalil {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Dalil command line."""


def _register() -> None:
    # Each command group lives in its own module and registers itself on `app`.
    from dalil.cli import (  # noqa: F401
        acquire,
        capture,
        carve,
        cases,
        chain,
        exchange,
        forensics,
        hashing,
        hashsets,
        scan,
        serve,
        train,
    )


_register()


def main() -> None:
    app()
