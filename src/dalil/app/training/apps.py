from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "dalil.app.training"
    label = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # The variant-generation job kind registers on import, in the web process and in
        # `dalil worker` alike (as the cases app does for its job kinds).
        from dalil.app.training import jobs  # noqa: F401
