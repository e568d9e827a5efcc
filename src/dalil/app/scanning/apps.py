from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "dalil.app.scanning"
    label = "scanning"
    verbose_name = "Feature scanning"

    def ready(self) -> None:
        # The scan job kind registers itself on import (the web starts it, `dalil worker`
        # runs it: both must see the same registry).
        from dalil.app.scanning import jobs  # noqa: F401
