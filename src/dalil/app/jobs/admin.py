from django.contrib import admin

from dalil.app.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("pk", "kind", "status", "done", "total", "created_at")
    list_filter = ("kind", "status")
