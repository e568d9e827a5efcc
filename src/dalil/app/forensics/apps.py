from django.apps import AppConfig


class ForensicsConfig(AppConfig):
    name = "dalil.app.forensics"
    label = "forensics"
    verbose_name = "Forensic examination"

    def ready(self) -> None:
        # The ingest job kind registers itself on import (the web starts it, `dalil worker`
        # runs it: both must see the same registry).
        from dalil.app.cases.reports import register_bookmarks
        from dalil.app.forensics import jobs  # noqa: F401
        from dalil.app.forensics.report import bookmarked_files

        # The bookmarked files go into the case report, which never imports this app.
        register_bookmarks("forensics", bookmarked_files)
