from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "dalil.app.scanning"
    label = "scanning"
    verbose_name = "Feature scanning"

    def ready(self) -> None:
        # The scan job kind registers itself on import (the web starts it, `dalil worker`
        # runs it: both must see the same registry).
        from dalil.app.cases.reports import register_bookmarks
        from dalil.app.scanning import jobs  # noqa: F401
        from dalil.app.scanning.report import bookmarked_findings

        # The bookmarked findings go into the case report, which never imports this app.
        register_bookmarks("scanning", bookmarked_findings)
