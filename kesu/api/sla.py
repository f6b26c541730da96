"""API endpoints of kesu.sla (mounted under /api/v1/sla by kesu/api.py). Thin: selectors and services."""

# No `from __future__ import annotations`: ninja reads the annotations at runtime.
import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from kesu.calendar.workcalendar import format_instant, get_calendar, parse_duration, parse_instant
from kesu.cases import permissions
from kesu.cases.models import Case
from kesu.errors import Forbidden, Invalid, NotFound
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import has_role
from kesu.policy.selectors import active_rules
from kesu.sla import selectors
from kesu.sla.notify import mark_read
from kesu.sla.selectors import calendar_notices, case_timeliness

router = Router(tags=["sla"])


class DeadlineOut(Schema):
    start: str
    duration: str
    due: str
    fallback: bool
    fallback_years: list[int]
    explain: list[str]


# Deadlines a complaint system can mean. Outside this range Python's dates overflow (a 500), and
# before 1901 Asia/Shanghai resolves to local mean time, +08:05:43.
DEADLINE_YEARS = (1970, 2100)
MAX_OFFSET = dt.timedelta(hours=14)


def _start_instant(text: str) -> dt.datetime:
    try:
        value = parse_instant(text)
    except ValueError as exc:
        raise Invalid(str(exc), details={"start": _("时间格式无效")})
    low, high = DEADLINE_YEARS
    offset = value.utcoffset() or dt.timedelta()
    if not low <= value.year <= high or abs(offset) > MAX_OFFSET:
        reason = _("须在 %(low)s–%(high)s 年之间，时区偏移不超过 ±14 小时") % {"low": low, "high": high}
        raise Invalid(_("开始时间超出合理范围"), details={"start": reason})
    return value


@router.get("/deadline", response=DeadlineOut, summary="计算时限", operation_id="sla_deadline")
def deadline(request: HttpRequest, start: str, duration: str, explain: bool = False, branch: str = ""):
    begin = _start_instant(start)
    try:
        dur = parse_duration(duration)
    except ValueError as exc:
        raise Invalid(str(exc), details={"duration": str(exc)})
    branch_id = None
    if branch:
        dept = Department.objects.filter(code=branch).first()
        if dept is None:
            raise Invalid("未知机构", details={"branch": "未知机构"})
        branch_id = dept.pk
    too_long = Invalid(
        _("时限过长"), details={"duration": _("截止时间须在 %(high)s 年以前") % {"high": DEADLINE_YEARS[1]}}
    )
    try:
        result = get_calendar(branch_id, active_rules()).deadline(begin, dur, explain=explain)
    except (OverflowError, ValueError) as exc:  # past datetime.max, or beyond the calendar's scan
        raise too_long from exc
    if result.due.astimezone(dt.UTC).year > DEADLINE_YEARS[1]:
        raise too_long
    return {
        "start": format_instant(begin),
        "duration": str(dur),
        "due": format_instant(result.due),
        "fallback": result.fallback,
        "fallback_years": list(result.fallback_years),
        "explain": result.explain,
    }


@router.get("/cases/{number}/deadlines", response=list[dict[str, Any]], summary="案件各环节时限与及时性")
def case_deadlines(request: HttpRequest, number: str):

    case = Case.objects.filter(number=number).first()
    # Hidden and missing answer alike (404): a 403 would confirm that the number exists.
    if case is None or not permissions.can_view(request.auth, case):
        raise NotFound("案件不存在")
    rows = case_timeliness(case)
    for r in rows:
        for k in ("starts_at", "due_at", "met_at"):
            r[k] = format_instant(r[k]) if r[k] else None
    return rows


class NotificationOut(Schema):
    id: int
    kind: str
    message_id: str
    params: dict[str, Any]
    title: str
    body: str
    case: str | None
    created_at: str
    read: bool


class InboxOut(Schema):
    unread: int
    items: list[NotificationOut]


@router.get("/inbox", response=InboxOut, summary="站内通知", operation_id="sla_inbox")
def inbox(request: HttpRequest, unread_only: bool = False, limit: int = 50):

    items = selectors.inbox(request.auth, unread_only=unread_only, limit=max(1, min(limit, 200)))
    return {
        "unread": selectors.unread_count(request.auth),
        "items": [_notification(n) for n in items],
    }


def _notification(n) -> dict[str, Any]:
    # Title and body in the request's language (Accept-Language; the installation's by default).
    title, body = n.text()
    return {
        "id": n.pk,
        "kind": n.kind,
        "message_id": n.message_id,
        "params": n.params,
        "title": title,
        "body": body,
        "case": n.case.number if n.case_id else None,
        "created_at": format_instant(n.created_at),
        "read": n.read_at is not None,
    }


class MarkReadIn(Schema):
    ids: list[int] | None = None


@router.post("/inbox/read", response=dict[str, int], summary="标记已读", operation_id="sla_inbox_read")
def inbox_read(request: HttpRequest, body: MarkReadIn):

    return {"marked": mark_read(request.auth, body.ids)}


@router.get(
    "/notices", response=list[dict[str, Any]], summary="工作日历提示（管理员）", operation_id="sla_notices"
)
def notices(request: HttpRequest):

    if not (
        request.auth.is_superuser or has_role(request.auth, roles.ADMIN, roles.SUPERVISOR, roles.CS_MANAGER)
    ):
        raise Forbidden("仅管理员可查看")
    return calendar_notices()
