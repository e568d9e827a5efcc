from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "dalil.app.cases"
    label = "cases"
    verbose_name = "Cases and evidence"

    def ready(self) -> None:
        # Job kinds register themselves on import: the web process starts them and
        # `dalil worker` runs them, so both must see the same registry.
        from dalil.app.cases import exchange_jobs, jobs  # noqa: F401
