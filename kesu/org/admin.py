from django.contrib import admin

from kesu.org.models import ApiToken, Department, Staff


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "parent", "region", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("__str__", "department", "supervisor", "title")
    list_filter = ("department",)
    search_fields = ("user__username", "user__first_name")
    autocomplete_fields = ("supervisor",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "expires_at", "revoked", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
