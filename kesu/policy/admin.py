from django.contrib import admin

from kesu.policy.models import Category, Channel, Policy


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "version", "is_active", "created_at", "created_by", "note")
    readonly_fields = ("version", "created_at", "created_by")

    def save_model(self, request, obj, form, change):
        # Editing never changes a stored version: it becomes a new active version.
        from kesu.policy.services import activate_document

        activate_document(obj.document, actor=request.user, note=obj.note or "edited in admin")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "name_en", "department_code", "is_active")
    search_fields = ("code", "name", "name_en")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "is_crisis", "is_active")
