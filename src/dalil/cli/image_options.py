"""The key options of every command that unlocks an encrypted volume (`dalil fs`, `dalil
image info`, `dalil evidence decrypt`), in a module light enough for `dalil evidence` to
import without loading the image engine."""

from __future__ import annotations

import typer

PASSWORD = typer.Option(None, "--password",
                        help="Password of a BitLocker, LUKS or encrypted APFS volume.")
RECOVERY = typer.Option(None, "--recovery-password",
                        help="BitLocker recovery password (48 digits in 8 groups).")
KEY_FILE = typer.Option(None, "--key-file",
                        help="BitLocker startup key (.BEK) or LUKS key file.")
