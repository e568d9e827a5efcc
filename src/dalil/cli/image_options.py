"""The options of every command that reads a volume of an image and may unlock it (`dalil
fs`, `dalil image info`, `dalil evidence decrypt`...), in a module light enough for `dalil
evidence` to import without loading the image engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from dalil.engine.forensics.encryption import Keys

VOLUME_HELP = "Volume number as `dalil image info` (and mmls) show it; needed if several."
PASSWORD = typer.Option(None, "--password",
                        help="Password of a BitLocker, LUKS or encrypted APFS volume.")
RECOVERY = typer.Option(None, "--recovery-password",
                        help="BitLocker recovery password (48 digits in 8 groups).")
KEY_FILE = typer.Option(None, "--key-file",
                        help="BitLocker startup key (.BEK) or LUKS key file.")


def keys_given(password: str | None, recovery: str | None, key_file: str | None) -> Keys:
    """The keys of the three options above (imported when a command runs)."""
    from dalil.engine.forensics.encryption import Keys

    return Keys(password=password, recovery_password=recovery, key_file=key_file)
