from django.contrib import admin

from dalil.app.scanning.models import IndicatorFeed, ScanRun, StopList


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = ("id", "exhibit", "status", "findings", "alerts", "started_at")
    list_filter = ("status",)


@admin.register(IndicatorFeed)
class IndicatorFeedAdmin(admin.ModelAdmin):
    list_display = ("name", "case", "format", "indicators", "created_at")


@admin.register(StopList)
class StopListAdmin(admin.ModelAdmin):
    list_display = ("name", "case", "entries", "created_at")
