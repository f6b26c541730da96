from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CalendarConfig(AppConfig):
    """Working days, statutory holidays and adjusted weekends; deadline arithmetic that knows nothing of cases."""

    name = "kesu.calendar"
    label = "calendar"
    verbose_name = _("工作日历")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from kesu.calendar import workcalendar
        from kesu.calendar.models import CalendarDay, CalendarYear

        def _invalidate(**kwargs) -> None:
            workcalendar.clear_cache()

        for model in (CalendarDay, CalendarYear):
            post_save.connect(
                _invalidate, sender=model, dispatch_uid=f"cal-save-{model.__name__}", weak=False
            )
            post_delete.connect(
                _invalidate, sender=model, dispatch_uid=f"cal-del-{model.__name__}", weak=False
            )
