from django.contrib import admin

from kesu.web.models import ReplyTemplate, SavedView


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "purpose", "category", "kind", "is_active", "order")
    list_filter = ("purpose", "kind", "is_active")
    search_fields = ("name", "body")
    list_editable = ("is_active", "order")


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "queue", "owner", "department", "created_at")
    list_filter = ("queue",)
    search_fields = ("name",)
