import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kesu.calendar.models import CalendarDay, CalendarYear
from kesu.calendar.schedule_file import ScheduleError, parse_schedule
from kesu.errors import DomainError
from kesu.sla.models import (
    Notification,
    StageDeadline,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WorkerBeat,
)
from kesu.sla.workers import lease_seconds, queue_overview


class ScheduleForm(forms.Form):
    file = forms.FileField(label=_("放假安排文件（TOML/JSON/CSV）"), required=False)
    year = forms.IntegerField(label=_("年份"), required=False, min_value=2000, max_value=2100)
    holidays = forms.CharField(
        label=_("放假日期"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("每行：起始日期 [结束日期] 名称，如 2027-02-05 2027-02-11 春节"),
    )
    workdays = forms.CharField(
        label=_("调休上班日期"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("每行：日期 名称，如 2027-02-20 春节"),
    )


def _lines(text: str):
    import datetime as dt

    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        start = dt.date.fromisoformat(parts[0])
        end, rest = start, parts[1:]
        if rest and len(rest[0]) == 10 and rest[0][4] == "-":
            end, rest = dt.date.fromisoformat(rest[0]), rest[1:]
        name = " ".join(rest)
        d = start
        while d <= end:
            out.append((d, name))
            d += dt.timedelta(days=1)
    return out


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    list_display = ("year", "source", "note", "loaded_at")

    def get_urls(self):
        return [
            path("load/", self.admin_site.admin_view(self.load_view), name="calendar_calendaryear_load")
        ] + super().get_urls()

    def load_view(self, request):
        from kesu.sla.services import load_official_schedule

        form = ScheduleForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                f = form.cleaned_data["file"]
                if f:
                    year, hol, work = parse_schedule(f.read().decode("utf-8"), f.name.rsplit(".", 1)[-1])
                else:
                    year = form.cleaned_data["year"]
                    if not year:
                        raise ScheduleError("请填写年份或上传文件")
                    hol, work = _lines(form.cleaned_data["holidays"]), _lines(form.cleaned_data["workdays"])
                result = load_official_schedule(year, hol, work, note=f"admin:{request.user.get_username()}")
            except (ScheduleError, DomainError, ValueError) as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    _("已录入 %(year)s 年放假安排，重算 %(n)s 件案件的时限")
                    % {"year": result["year"], "n": result["recomputed_cases"]},
                )
                return redirect("admin:calendar_calendaryear_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": _("录入年度放假安排")}
        return render(request, "admin/calendar/load_schedule.html", context)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "kind", "is_workday", "name", "branch", "is_override", "source")
    list_filter = ("kind", "is_override", "branch")
    date_hierarchy = "date"
    search_fields = ("name",)
    exclude = ("is_workday", "is_override")


@admin.register(StageDeadline)
class StageDeadlineAdmin(admin.ModelAdmin):
    list_display = (
        "case",
        "stage",
        "ref",
        "state",
        "due_at",
        "breached_at",
        "escalation_step",
        "under_fallback",
    )
    list_filter = ("stage", "state", "under_fallback")
    raw_id_fields = ("case",)
    readonly_fields = [f.name for f in StageDeadline._meta.fields]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "title", "created_at", "read_at", "emailed")
    list_filter = ("kind",)
    raw_id_fields = ("user", "case")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "created_at")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    readonly_fields = ("number", "at", "status_code", "error", "duration_ms")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("subscription", "event", "state", "attempts", "next_attempt_at", "created_at")
    list_filter = ("state", "event")
    inlines = [AttemptInline]


@admin.register(WorkerBeat)
class WorkerBeatAdmin(admin.ModelAdmin):
    """What an operator watches: each worker's last beat, and above the list each queue's oldest
    waiting task (a queue that only grows older has no live worker for it)."""

    list_display = (
        "worker_id",
        "hostname",
        "pid",
        "last_beat_at",
        "is_alive",
        "current_task",
        "started_at",
        "stopped_at",
    )
    list_filter = ("hostname",)
    search_fields = ("worker_id", "hostname", "current_task")
    readonly_fields = [f.name for f in WorkerBeat._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description=_("存活"))
    def is_alive(self, obj: WorkerBeat) -> bool:
        horizon = timezone.now() - dt.timedelta(seconds=lease_seconds())
        return obj.stopped_at is None and obj.last_beat_at >= horizon

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "queues": queue_overview(), "lease": int(lease_seconds())}
        return super().changelist_view(request, extra_context=extra_context)
