from django.contrib import admin

from dalil.app.forensics.models import Bookmark, FileRecord, IngestProblem, IngestRun


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = ("exhibit", "status", "started_at", "ended_at", "entries", "errors")
    list_filter = ("status",)


@admin.register(FileRecord)
class FileRecordAdmin(admin.ModelAdmin):
    list_display = ("exhibit", "volume_index", "inode", "path", "type", "size", "deleted")
    list_filter = ("deleted", "type", "extension_mismatch", "verdict")
    search_fields = ("path", "sha256", "md5")


admin.site.register(IngestProblem)
admin.site.register(Bookmark)
