from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DALIL = [sys.executable, "-m", "dalil.cli"]


class Dalil:
    """Runs the real `dalil` command in a subprocess with its own DALIL_HOME and SQLite."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DALIL_", "DJANGO_"))}
        self.env.update(DALIL_HOME=str(home), DALIL_ACTOR="officer.test")

    def __call__(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*DALIL, *args], env=self.env, capture_output=True, text=True,
                                timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"dalil {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json", check=True).stdout)

    @property
    def database(self) -> Path:
        return self.home / "dalil.sqlite3"


@pytest.fixture
def dalil(tmp_path: Path) -> Dalil:
    return Dalil(tmp_path / "cli-home")
