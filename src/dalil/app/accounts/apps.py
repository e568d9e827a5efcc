from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "dalil.app.accounts"
    label = "accounts"
    verbose_name = "Accounts and institutions"
