"""The `dalil` Typer application that every command module registers itself on."""

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
