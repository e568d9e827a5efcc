from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from dalil.app.accounts.models import Institution, User


@admin.register(User)
class DalilUserAdmin(UserAdmin):
    list_display = ("username", "get_full_name", "role", "institution", "is_active")
    list_filter = ("role", "institution", "is_active")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Dalil", {"fields": ("role", "institution", "preferred_language")}),
    )


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "kind")
    search_fields = ("name",)
