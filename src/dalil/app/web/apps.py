from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "dalil.app.web"
    label = "web"
    verbose_name = "Web shell"
