from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "dalil.app.ledger"
    label = "ledger"
    verbose_name = "Blockchain ledger"
