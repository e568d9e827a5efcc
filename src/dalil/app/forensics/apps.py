from django.apps import AppConfig


class ForensicsConfig(AppConfig):
    name = "dalil.app.forensics"
    label = "forensics"
    verbose_name = "Forensic examination"

    def ready(self) -> None:
        # The ingest job kind registers itself on import (the web starts it, `dalil worker`
        # runs it: both must see the same registry).
        from dalil.app.forensics import jobs  # noqa: F401
