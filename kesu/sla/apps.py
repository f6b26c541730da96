from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "kesu.sla"
    label = "sla"
    verbose_name = _("时限管理")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from kesu.sla import calendar
        from kesu.sla.models import CalendarDay, CalendarYear

        def _invalidate(**kwargs) -> None:
            calendar.clear_cache()

        for model in (CalendarDay, CalendarYear):
            post_save.connect(
                _invalidate, sender=model, dispatch_uid=f"sla-cal-save-{model.__name__}", weak=False
            )
            post_delete.connect(
                _invalidate, sender=model, dispatch_uid=f"sla-cal-del-{model.__name__}", weak=False
            )
