from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "dalil.app.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
