from django.contrib import admin, messages
from django.utils.translation import gettext as _

from kesu.org.models import ApiToken, Department, Staff


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "name_en", "code", "kind", "parent", "region", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "name_en", "code")


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("__str__", "department", "supervisor", "title")
    list_filter = ("department",)
    search_fields = ("user__username", "user__first_name")
    autocomplete_fields = ("supervisor",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scopes", "expires_at", "revoked", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            # Editing never touches the key: name, scopes, expiry and revocation only.
            super().save_model(request, obj, form, change)
            return
        # The same defaults as `ApiToken.issue`; the key exists only in this response (the database
        # keeps its hash), so it is shown once, now.
        obj.scopes = obj.scopes or ["*"]
        key = obj.assign_new_key()
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            _("API 令牌「%(name)s」的密钥（只显示这一次，请立即复制保存）：%(key)s")
            % {"name": obj.name, "key": key},
            level=messages.WARNING,
        )
