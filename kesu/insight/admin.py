from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from kesu.insight.models import ForecastRun, GroupAlert, SurgeWarning, TriageFeedback, TriageModel


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    """The model card: data size, date, validation metrics per class, the replacement decision."""

    list_display = ("version", "created_at", "is_active", "n_train", "n_validation", "macro_f1", "threshold")
    readonly_fields = (
        "version",
        "created_at",
        "algorithm",
        "n_train",
        "n_validation",
        "train_until",
        "threshold",
        "decision",
        "per_class_table",
        "metrics",
    )
    exclude = ("blob", "labels")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("验证集 macro-F1"))
    def macro_f1(self, obj):
        return obj.macro_f1

    @admin.display(description=_("各分类指标"))
    def per_class_table(self, obj):
        rows = (obj.metrics or {}).get("per_class", {})
        return format_html_join(
            "\n",
            "<div>{}：精确率 {} · 召回率 {} · F1 {} · 样本 {}</div>",
            ((k, v["precision"], v["recall"], v["f1"], v["support"]) for k, v in rows.items()),
        )


@admin.register(TriageFeedback)
class TriageFeedbackAdmin(admin.ModelAdmin):
    list_display = ("case", "suggested", "chosen", "accepted", "source", "at")
    list_filter = ("accepted", "source")
    raw_id_fields = ("case",)


@admin.register(SurgeWarning)
class SurgeWarningAdmin(admin.ModelAdmin):
    list_display = (
        "period_start",
        "granularity",
        "dimension",
        "label",
        "observed",
        "expected",
        "upper",
        "state",
    )
    list_filter = ("state", "dimension", "granularity")


@admin.register(GroupAlert)
class GroupAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "title", "customers", "state")
    list_filter = ("state",)


@admin.register(ForecastRun)
class ForecastRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "origin", "horizon_days", "model_name")
