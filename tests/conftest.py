"""Test-wide set-up: a throw-away DALIL_HOME, and PostgreSQL when DALIL_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before Django reads its settings: never touch a real ./dalil-data from a test run.
os.environ["DALIL_HOME"] = tempfile.mkdtemp(prefix="dalil-test-home-")
if os.environ.get("DALIL_TEST_DATABASE_URL"):
    os.environ["DALIL_DATABASE_URL"] = os.environ["DALIL_TEST_DATABASE_URL"]
else:
    os.environ.pop("DALIL_DATABASE_URL", None)
os.environ.setdefault("DALIL_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")


def _apply_env_to_loaded_settings() -> None:
    """pytest-django may import the settings before this file runs: apply the above anyway.

    Nothing has connected to a database or a task backend yet at this point, so replacing
    the settings (and dropping the connection handler's cached copy) still takes effect.
    """
    from django.conf import settings as loaded

    if not loaded.configured:
        return  # the settings module will read the environment set above
    import dj_database_url

    home = Path(os.environ["DALIL_HOME"])
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    loaded.DALIL_HOME = home
    loaded.FILE_UPLOAD_TEMP_DIR = str(home / "tmp")
    if url := os.environ.get("DALIL_DATABASE_URL"):
        from django.db import connections

        loaded.DATABASES["default"] = dj_database_url.parse(url, conn_max_age=0)
        connections.__dict__.pop("settings", None)  # the handler's cached copy, if any
        if hasattr(connections._connections, "default"):
            del connections["default"]  # made from the old settings, never opened
    loaded.TASKS = {"default": {"BACKEND": os.environ["DALIL_TASK_BACKEND"]}}


_apply_env_to_loaded_settings()

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(autouse=True)
def dalil_home(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """Each test gets its own DALIL_HOME (blobs, keys, exports)."""
    home = tmp_path / "dalil-home"
    home.mkdir()
    settings.DALIL_HOME = home
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip saying why (a user's own clone has no ../shared)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared test data at {SHARED_DATA}, absent in this clone")
    return SHARED_DATA
