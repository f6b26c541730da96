"""Reads of kesu.sla: deadlines of a case, timeliness figures (及时率), inbox, notices, penalties."""

from __future__ import annotations

import datetime as dt
import weakref
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kesu.calendar.models import CalendarYear
from kesu.calendar.workcalendar import (
    SHANGHAI,
    calendar_for_case,
    duration_text,
    format_instant,
    get_calendar,
)
from kesu.cases.models import Accountability
from kesu.org.i18n import display_name
from kesu.policy.selectors import active_rules, rules_for
from kesu.sla.models import Notification, StageDeadline
from kesu.sla.stages import LIMIT_STAGES, stage_label


@dataclass(frozen=True)
class AnswerPromise:
    """What the complainant is told about the time limit (003 恒康天安 第五条(一), 000 第3篇): the
    answer stage's limit as written and the latest date, e.g. 7 个工作日内答复（最迟 2026-12-16）."""

    amount: int
    unit: str
    due_at: dt.datetime
    extension_days: int = 0
    paused: bool = False

    @property
    def latest(self) -> str:
        local = self.due_at.astimezone(SHANGHAI)
        # A limit in hours or minutes is told to the minute; one in days by its date.
        if self.unit in ("calendar_hours", "working_hours", "calendar_minutes"):
            return f"{local:%Y-%m-%d %H:%M}"
        return f"{local:%Y-%m-%d}"

    @property
    def text(self) -> str:
        """The promise in the active language (rendered when read, never stored as words)."""
        if self.unit == "same_day":
            return _("当日答复（最迟 %(latest)s）") % {"latest": self.latest}
        limit = duration_text(self.amount, self.unit)
        if self.extension_days:
            return ngettext(
                "%(limit)s内答复，已延长 %(days)s 个工作日（最迟 %(latest)s）",
                "%(limit)s内答复，已延长 %(days)s 个工作日（最迟 %(latest)s）",
                self.extension_days,
            ) % {"limit": limit, "days": self.extension_days, "latest": self.latest}
        return _("%(limit)s内答复（最迟 %(latest)s）") % {"limit": limit, "latest": self.latest}

    def as_payload(self) -> dict[str, Any]:
        """The promise as kept on a public event: what was promised (limit, extension, latest instant),
        not the words, so that each reader sees it in their language. `text` is the promise in the
        installation's language, for readers of the raw record (API, exports)."""
        with translation.override(settings.LANGUAGE_CODE):
            text = self.text
        return {
            "message_id": PROMISE_MESSAGE,
            "amount": self.amount,
            "unit": self.unit,
            "due_at": format_instant(self.due_at),
            "extension_days": self.extension_days,
            "text": text,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> AnswerPromise | None:
        """The promise kept on an event; None for an event written before promises were kept as data
        (its `text` is then the only record: see `promise_text`)."""
        if not isinstance(payload, dict) or payload.get("message_id") != PROMISE_MESSAGE:
            return None
        try:
            due_at = dt.datetime.fromisoformat(str(payload["due_at"]))
            return cls(
                int(payload["amount"]), str(payload["unit"]), due_at, int(payload.get("extension_days") or 0)
            )
        except (KeyError, TypeError, ValueError):
            return None


# The id under which a promise is kept on an event (`AnswerPromise.as_payload`).
PROMISE_MESSAGE = "promise.answer"


def promise_text(payload: Any) -> str:
    """The promise kept on an event, in the reader's language; the stored words for older events."""
    promise = AnswerPromise.from_payload(payload)
    if promise is not None:
        return promise.text
    return str(payload.get("text") or "") if isinstance(payload, dict) else ""


def answer_promise(case, *, stages: list[StageDeadline] | None = None) -> AnswerPromise | None:
    """The promise told to the complainant now: the case's open answer stage, None when it has none
    (finished, or no answer rule in the policy). A paused stage (暂结案) has no date to promise.

    `stages`: all the case's stages as just written (the deadline engine's hook has them), not read again.
    """
    if stages is None:
        stage = (
            StageDeadline.objects.filter(case=case, stage="answer", state=StageDeadline.State.OPEN)
            .order_by("-pk")
            .first()
        )
    else:
        open_answers = [s for s in stages if s.stage == "answer" and s.state == StageDeadline.State.OPEN]
        stage = max(open_answers, key=lambda s: s.pk, default=None)
    if stage is None:
        return None
    return AnswerPromise(
        stage.amount, stage.unit, stage.due_at, stage.extension_days, paused=stage.paused_at is not None
    )


def case_deadlines(case) -> list[StageDeadline]:
    return list(StageDeadline.objects.filter(case=case).order_by("starts_at", "pk"))


def _row(s: StageDeadline, now: dt.datetime, cal) -> dict[str, Any]:
    end = s.met_at or now
    if s.state == StageDeadline.State.CANCELLED:
        on_time = None
    elif s.met_at is not None:
        on_time = s.met_at <= s.due_at
    else:
        on_time = None if now <= s.due_at else False
    paused = 0.0
    for a, b in s.pauses or []:
        paused += cal.elapsed(s.unit, dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b))
    used = max(0.0, cal.elapsed(s.unit, s.starts_at, end) - paused)
    return {
        "case_id": s.case_id,
        "stage": s.stage,
        "stage_label": stage_label(s.stage),
        "ref": s.ref,
        "state": s.state,
        "starts_at": s.starts_at,
        "due_at": s.due_at,
        "met_at": s.met_at,
        "breached": bool(s.breached_at) or on_time is False,
        "on_time": on_time,
        "working_seconds_used": used if s.unit in ("working_days", "working_hours") else None,
        "seconds_used": used,
        "unit": s.unit,
        "amount": s.amount,
        "extension_days": s.extension_days,
        "under_fallback": s.under_fallback,
        "escalation_step": s.escalation_step,
    }


# Where the deadline subscriber leaves the stages it wrote for a case registered in this request.
REGISTERED_STAGES = "_kesu_registered_stages"


def registered_stages(case) -> list[StageDeadline] | None:
    """The stages written when `case` was registered in this request (None: not this instance)."""
    return case.__dict__.get(REGISTERED_STAGES)


def case_timeliness(
    case, now: dt.datetime | None = None, *, stages: list[StageDeadline] | None = None
) -> list[dict[str, Any]]:
    """Per stage of one case: met/breached, time used (working time for working-time rules).
    `stages`: the case's stages already at hand (else read)."""
    now = now or timezone.now()
    cal = calendar_for_case(case)
    return [_row(s, now, cal) for s in (case_deadlines(case) if stages is None else stages)]


def timeliness_rows(case_ids=None, *, since=None, until=None, now=None, chunk: int = 2000):
    """Rows of `_row` for analytics, streamed in primary-key chunks."""
    now = now or timezone.now()
    qs = StageDeadline.objects.exclude(state=StageDeadline.State.CANCELLED)
    if case_ids is not None:
        qs = qs.filter(case_id__in=list(case_ids))
    if since:
        qs = qs.filter(starts_at__gte=since)
    if until:
        qs = qs.filter(starts_at__lt=until)
    cals: dict = {}
    last = 0
    while True:
        batch = list(qs.filter(pk__gt=last).select_related("case").order_by("pk")[:chunk])
        if not batch:
            return
        for s in batch:
            key = s.case.branch_id
            if key not in cals:
                cals[key] = get_calendar(key)
            yield _row(s, now, cals[key])
        last = batch[-1].pk


def timeliness_summary(*, since=None, until=None, now=None) -> dict[str, dict[str, Any]]:
    """Per stage: finished, on time, breached, open overdue, rate (及时率 = on time / finished)."""
    now = now or timezone.now()
    qs = StageDeadline.objects.exclude(state=StageDeadline.State.CANCELLED).exclude(stage__in=LIMIT_STAGES)
    if since:
        qs = qs.filter(starts_at__gte=since)
    if until:
        qs = qs.filter(starts_at__lt=until)
    from django.db.models import F

    agg = qs.values("stage").annotate(
        total=Count("pk"),
        met=Count("pk", filter=Q(state="met")),
        on_time=Count("pk", filter=Q(state="met", met_at__lte=F("due_at"))),
        overdue_open=Count("pk", filter=Q(state="open", due_at__lt=now)),
    )
    out = {}
    for r in agg:
        r["late"] = r["met"] - r["on_time"]
        r["rate"] = round(r["on_time"] / r["met"], 4) if r["met"] else None
        r["stage_label"] = stage_label(r["stage"])
        out[r["stage"]] = r
    return out


# --- working time left (countdowns in the workbench) ----------------------------------------------


@dataclass(frozen=True)
class WorkingTimeLeft:
    """Working time between now and a deadline, per the calendar and business hours.

    `seconds` is the working time left (negative when the deadline has passed: the working time since);
    `days`/`hours`/`minutes` split its absolute value into business days of `day_seconds` each.
    """

    due_at: dt.datetime
    seconds: float
    day_seconds: float
    fallback: bool = False

    @property
    def overdue(self) -> bool:
        return self.seconds < 0

    def total_seconds(self) -> float:
        return self.seconds

    @property
    def parts(self) -> tuple[int, int, int]:
        rest = abs(int(self.seconds))
        day = int(self.day_seconds) or 1
        days, rest = divmod(rest, day)
        hours, rest = divmod(rest, 3600)
        return days, hours, rest // 60

    @property
    def urgency(self) -> str:
        """over (passed) · today (≤ half a business day) · soon (≤ one business day) · ok."""
        if self.seconds < 0:
            return "over"
        if self.seconds <= self.day_seconds / 2:
            return "today"
        if self.seconds <= self.day_seconds:
            return "soon"
        return "ok"

    @property
    def span_text(self) -> str:
        days, hours, minutes = self.parts
        if days:
            return f"{days} 个工作日 {hours} 小时" if hours else f"{days} 个工作日"
        if hours:
            return f"{hours} 小时 {minutes} 分" if minutes else f"{hours} 小时"
        return f"{minutes} 分钟"

    @property
    def text(self) -> str:
        """剩余 2 个工作日 3 小时 · 已超时 1 个工作日 · 今日 23:59 到期 (nothing left in business hours)."""
        if self.seconds < 0:
            return f"已超时 {self.span_text}"
        if self.seconds < 60:
            return f"{self.due_at.astimezone(SHANGHAI):%H:%M} 到期（非工作时间）"
        return f"剩余 {self.span_text}"


def business_day_seconds(cal) -> float:
    """The length of one business day of this calendar (e.g. 7.5 h for 09:00–12:00 and 13:30–18:00)."""
    total = 0.0
    for a, b in cal.periods:
        total += (dt.datetime.combine(dt.date.min, b) - dt.datetime.combine(dt.date.min, a)).total_seconds()
    return total or 8 * 3600.0


def working_seconds(cal, a: dt.datetime, b: dt.datetime) -> float:
    """`cal.working_seconds_between(a, b)`, with the whole days in between counted by day (long spans)."""
    if b <= a:
        return 0.0
    la, lb = a.astimezone(SHANGHAI), b.astimezone(SHANGHAI)
    if (lb.date() - la.date()).days <= 2:
        return cal.working_seconds_between(a, b)
    first_midnight = dt.datetime.combine(la.date() + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    last_midnight = dt.datetime.combine(lb.date(), dt.time(), tzinfo=SHANGHAI)
    total = cal.working_seconds_between(la, first_midnight) + cal.working_seconds_between(last_midnight, lb)
    return total + business_day_seconds(cal) * _workdays_in(
        cal, first_midnight.date(), lb.date() - dt.timedelta(days=1)
    )


_workday_prefix: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _workdays_in(cal, first: dt.date, last: dt.date) -> int:
    """Working days from `first` to `last` inclusive, from a running count per calendar (built once
    per calendar object over the dates asked for, ±400 days), so that a page of countdowns does not
    walk every day of every overdue case."""
    if last < first:
        return 0
    entry = _workday_prefix.get(cal)
    if entry is None or first < entry[0] or (last - entry[0]).days >= len(entry[1]):
        margin = dt.timedelta(days=400)
        lo = min(first, entry[0]) if entry else first
        hi = max(last, entry[0] + dt.timedelta(days=len(entry[1]) - 1)) if entry else last
        lo, hi = lo - margin, hi + margin
        counts: list[int] = []
        n, d = 0, lo
        while d <= hi:
            n += 1 if cal.is_workday(d) else 0
            counts.append(n)
            d += dt.timedelta(days=1)
        entry = (lo, counts)
        _workday_prefix[cal] = entry
    lo, counts = entry
    i, j = (first - lo).days, (last - lo).days
    return counts[j] - (counts[i - 1] if i > 0 else 0)


def working_time_remaining(
    case_or_due_at, now: dt.datetime | None = None, *, cal=None, rules=None
) -> WorkingTimeLeft | None:
    """Working time left until a case's current deadline (`case.due_at`) or a given instant.

    None when there is no deadline. Uses the case's calendar (branch overrides) and its policy's
    business hours; for a bare instant, the company calendar and the active policy's business hours.
    """
    now = now or timezone.now()
    if isinstance(case_or_due_at, dt.datetime):
        due, case = case_or_due_at, None
    else:
        case = case_or_due_at
        due = getattr(case, "due_at", None)
    if due is None:
        return None
    if cal is None:
        if rules is None:
            try:
                policy_id = getattr(case, "policy_id", None) if case is not None else None
                rules = rules_for(policy_id) if policy_id else active_rules()
            except Exception:  # noqa: BLE001 - no policy: default business hours
                rules = None
        cal = calendar_for_case(case, rules) if case is not None else get_calendar(None, rules)
    if due >= now:
        seconds = working_seconds(cal, now, due)
    else:
        seconds = -working_seconds(cal, due, now)
        if seconds == 0:
            seconds = -1.0  # passed outside business hours: overdue all the same
    lo, hi = sorted((now.astimezone(SHANGHAI).date(), due.astimezone(SHANGHAI).date()))
    fallback = any(y not in cal.known_years for y in range(lo.year, hi.year + 1))
    return WorkingTimeLeft(due, seconds, business_day_seconds(cal), fallback)


# --- inbox ---------------------------------------------------------------------------------------------


def inbox(user, *, unread_only: bool = False, limit: int = 50):
    qs = Notification.objects.filter(user=user, held_for_digest=False)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.select_related("case")[:limit]


def unread_count(user) -> int:
    """The user's unread inbox entries (the top bar's badge on every page): one COUNT on the (user,
    read_at) index, written as its statement since every page pays for it and the ORM's building of
    `.filter(...).count()` cost more than the count itself."""
    with connection.cursor() as cursor:
        cursor.execute(_UNREAD_SQL, [user.pk, False])
        return cursor.fetchone()[0]


_UNREAD_SQL = (
    f"SELECT COUNT(*) FROM {Notification._meta.db_table} "
    "WHERE user_id = %s AND read_at IS NULL AND held_for_digest = %s"
)


# --- notices for administrators ---------------------------------------------------------------------


def calendar_notices(today: dt.date | None = None) -> list[dict[str, Any]]:
    """What administrators must know about the calendar (shown in the web UI)."""
    today = today or timezone.now().astimezone(SHANGHAI).date()
    known = set(CalendarYear.objects.values_list("year", flat=True))
    notices = []
    fallback = StageDeadline.objects.filter(state="open", under_fallback=True)
    years_needed = {today.year}
    if today.month >= 10:
        years_needed.add(today.year + 1)
    latest = fallback.order_by("-due_at").values_list("due_at", flat=True).first()
    if latest:
        years_needed |= set(range(today.year, latest.astimezone(SHANGHAI).year + 1))
    for y in sorted(years_needed - known):
        notices.append(
            {
                "level": "warning",
                "code": "calendar_year_missing",
                "year": y,
                "message": f"{y} 年国务院放假安排尚未录入，工作日历暂按法定节日推定（不含调休），"
                f"请在后台“日历年度”或用 `kesu calendar load` 录入。",
            }
        )
    n = fallback.count()
    if n:
        notices.append(
            {
                "level": "info",
                "code": "fallback_deadlines",
                "count": n,
                "message": f"{n} 个进行中的环节时限按推定日历计算，录入官方安排后将自动重算。",
            }
        )
    return notices


# --- penalties (责任追究) -------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def penalty_summary(month: str, *, include_proposed: bool = False) -> list[dict[str, Any]]:
    """Monthly penalties per branch and person (responsible person and direct supervisor lines).

    Confirmed penalties only unless `include_proposed`; withdrawn and waived ones never count."""

    start, end = month_bounds(month)
    states = ["confirmed", "proposed"] if include_proposed else ["confirmed"]
    qs = (
        Accountability.objects.filter(created_at__gte=start, created_at__lt=end, state__in=states)
        .select_related("case__branch", "case__department", "person", "supervisor")
        .order_by("pk")
    )
    lines: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {
            "cases": set(),
            "records": 0,
            "amount": Decimal(0),
            "reminders": 0,
            "confirmed": 0,
            "proposed": 0,
        }
    )
    for a in qs.iterator(chunk_size=1000):
        branch = a.case.branch or (a.case.department.branch if a.case.department_id else None)
        bname = display_name(branch) if branch else _("总公司")
        for who, role, amount, reminder in (
            (a.person, "责任人", a.person_amount, a.reminder),
            (a.supervisor, "直接上级", a.supervisor_amount, a.reminder),
        ):
            if who is None or (role == "直接上级" and amount == 0 and not reminder):
                continue
            line = lines[(bname, who.get_username(), who.get_full_name() or who.get_username(), role)]
            line["cases"].add(a.case.number)
            line["records"] += 1
            line["amount"] += amount
            line["reminders"] += int(bool(reminder))
            line[a.state] += 1
    out = []
    for (bname, username, full_name, role), line in sorted(lines.items()):
        out.append(
            {
                "month": month,
                "branch": bname,
                "username": username,
                "name": full_name,
                "role": role,
                "cases": len(line["cases"]),
                "records": line["records"],
                "amount": line["amount"],
                "reminders": line["reminders"],
                "confirmed": line["confirmed"],
                "proposed": line["proposed"],
            }
        )
    return out


PENALTY_COLUMNS = [
    ("month", "月份"),
    ("branch", "机构"),
    ("username", "工号"),
    ("name", "姓名"),
    ("role", "责任类型"),
    ("cases", "案件数"),
    ("records", "记录数"),
    ("amount", "罚款合计（元）"),
    ("reminders", "提醒次数"),
    ("confirmed", "已确认"),
    ("proposed", "待确认"),
]
