from django.contrib import admin

from dalil.app.cases.models import Case, CustodyEntry, Exhibit, SceneRecord


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "kind", "status", "institution", "created_at")
    list_filter = ("kind", "status", "institution")
    search_fields = ("number", "title")


@admin.register(Exhibit)
class ExhibitAdmin(admin.ModelAdmin):
    list_display = ("case", "number", "type", "description")
    search_fields = ("number", "description", "case__number")


@admin.register(CustodyEntry)
class CustodyEntryAdmin(admin.ModelAdmin):
    """Read-only: custody is recorded through Dalil's services, never edited."""

    list_display = ("case", "seq", "exhibit_number", "action", "actor", "at")
    list_filter = ("action",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(SceneRecord)
class SceneRecordAdmin(admin.ModelAdmin):
    list_display = ("case", "location", "arrival_at")
