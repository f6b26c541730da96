from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "kesu.analytics"
    label = "analytics"
    verbose_name = _("统计分析")

    def ready(self) -> None:
        try:
            from kesu.web.nav import register_nav_item
        except ImportError:  # the workbench is not installed
            return
        analysts = {"analyst", "supervisor", "cs_manager", "general_manager", "dept_head", "admin"}
        register_nav_item("analytics", _("统计分析"), "analytics:dashboard", roles=analysts, order=60)
        register_nav_item("analytics_kpis", _("考核指标"), "analytics:kpis", roles=analysts, order=61)
        register_nav_item("analytics_hotspots", _("热点分析"), "analytics:hotspots", roles=analysts, order=62)
        register_nav_item("analytics_measures", _("整改措施"), "analytics:measures", roles=analysts, order=63)
        register_nav_item("analytics_reports", _("分析报告"), "analytics:reports", roles=analysts, order=64)
