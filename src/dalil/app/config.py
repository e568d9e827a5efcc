"""Dalil's environment: DALIL_HOME and the database URL, read once, usable without Django."""

from __future__ import annotations

import os
from pathlib import Path


def dalil_home() -> Path:
    """The data folder: $DALIL_HOME, or ./dalil-data beside the current directory."""
    return Path(os.environ.get("DALIL_HOME", "dalil-data")).expanduser().resolve()


def database_url() -> str:
    """$DALIL_DATABASE_URL, or an embedded SQLite database inside DALIL_HOME."""
    return os.environ.get("DALIL_DATABASE_URL") or f"sqlite:///{dalil_home() / 'dalil.sqlite3'}"
