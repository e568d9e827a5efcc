"""Bringing Django up for the commands that need the database (and only for those).

`dalil bundle verify` and `dalil hash` never call this: a partner abroad runs them with the
package alone, no database and no DALIL_HOME.
"""

from __future__ import annotations

import getpass
import os

_ready = False


def django_ready(migrate: bool = True) -> None:
    """Configure Django; on a fresh DALIL_HOME apply the migrations first, silently."""
    global _ready
    if _ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dalil.app.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            call_command("migrate", interactive=False, verbosity=0)
    _ready = True


def default_actor() -> str:
    """Who is acting: $DALIL_ACTOR, else the operating-system login."""
    return os.environ.get("DALIL_ACTOR") or getpass.getuser()
