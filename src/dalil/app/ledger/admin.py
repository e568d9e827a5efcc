from django.contrib import admin

from dalil.app.ledger.models import LedgerFinding


@admin.register(LedgerFinding)
class LedgerFindingAdmin(admin.ModelAdmin):
    list_display = ("case", "kind", "title", "created_by", "created_at")
    list_filter = ("kind",)
    readonly_fields = ("case", "kind", "title", "parameters", "result",
                       "store_manifest_sha256", "store_parts", "engine_version", "note",
                       "created_by", "created_at")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
