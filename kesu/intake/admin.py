from django.contrib import admin

from kesu.intake.models import ExportLog, ImportBatch, ImportIssue, ImportSource, InboundMail


@admin.register(ImportSource)
class ImportSourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_active", "updated_at")
    search_fields = ("code", "name")


class ImportIssueInline(admin.TabularInline):
    model = ImportIssue
    extra = 0
    can_delete = False
    readonly_fields = ("row", "external_id", "column", "value", "reason", "severity")
    max_num = 0


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "source",
        "file_name",
        "mode",
        "state",
        "total_rows",
        "created",
        "updated",
        "rejected",
        "started_at",
    )
    list_filter = ("state", "mode", "source")
    readonly_fields = [f.name for f in ImportBatch._meta.fields]
    inlines = [ImportIssueInline]


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "file_format", "row_count", "pii_masked", "case_number")
    list_filter = ("kind", "pii_masked")
    readonly_fields = [f.name for f in ExportLog._meta.fields]


@admin.register(InboundMail)
class InboundMailAdmin(admin.ModelAdmin):
    list_display = ("processed_at", "sender", "subject", "outcome", "case")
    list_filter = ("outcome",)
    readonly_fields = [f.name for f in InboundMail._meta.fields]
