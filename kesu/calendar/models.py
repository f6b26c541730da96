"""The working-day calendar's data: the years whose official schedule is known and the days that differ.

Knows nothing of cases. The tables keep the names they got in the sla app, where they were created.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CalendarYear(models.Model):
    """A year whose official holiday schedule is known (else the calendar falls back)."""

    class Source(models.TextChoices):
        CHINESECALENDAR = "chinesecalendar", _("chinesecalendar 内置")
        OFFICIAL = "official", _("官方安排（管理员录入）")

    year = models.PositiveSmallIntegerField(_("年份"), unique=True)
    source = models.CharField(_("来源"), max_length=20, choices=Source.choices)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    loaded_at = models.DateTimeField(_("录入时间"), auto_now=True)

    class Meta:
        verbose_name = _("日历年度")
        verbose_name_plural = _("日历年度")
        ordering = ["year"]
        db_table = "sla_calendaryear"  # created by the sla app before the calendar became its own app

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A day that differs from the Monday–Friday rule: a holiday, an adjusted working day, an override."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("法定节假日")
        ADJUSTED_WORKDAY = "adjusted_workday", _("调休上班")
        COMPANY_CLOSED = "company_closed", _("公司休息日")
        COMPANY_OPEN = "company_open", _("公司工作日")

    date = models.DateField(_("日期"), db_index=True)
    is_workday = models.BooleanField(_("工作日"))
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("名称"), max_length=60, blank=True)
    source = models.CharField(_("来源"), max_length=40, blank=True)
    # Company overrides (is_override) apply company-wide, or to one branch when `branch` is set.
    is_override = models.BooleanField(_("公司调整"), default=False)
    branch = models.ForeignKey(
        "org.Department",
        verbose_name=_("适用机构"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        verbose_name = _("日历日")
        verbose_name_plural = _("日历日")
        ordering = ["date"]
        db_table = "sla_calendarday"
        constraints = [
            models.UniqueConstraint(
                fields=["date", "is_override"],
                condition=models.Q(branch__isnull=True),
                name="calendar_day_unique_national",
            ),
            models.UniqueConstraint(
                fields=["date", "branch"],
                condition=models.Q(branch__isnull=False),
                name="calendar_day_unique_branch",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}"

    def save(self, *args, **kwargs) -> None:
        if self.kind in (self.Kind.COMPANY_CLOSED, self.Kind.COMPANY_OPEN) or self.branch_id:
            self.is_override = True
        self.is_workday = self.kind in (self.Kind.ADJUSTED_WORKDAY, self.Kind.COMPANY_OPEN)
        super().save(*args, **kwargs)
