"""After closing: the follow-up call (回访) and reopening within the window."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from kesu.calendar.workcalendar import SHANGHAI, add_calendar_days
from kesu.cases.actions.common import involved_user_ids, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    FollowUp,
    Status,
)
from kesu.errors import Conflict, Forbidden, Invalid


def follow_up_from(case, rules) -> dt.datetime | None:
    """When the follow-up visit may be made: the start of the window's first day after closing (001 篇9
    四2.4.3: 第 5 天至第 7 天), in local days; None when the case is not closed or the rules set no window."""
    earliest, _latest = rules.follow_up_window
    if case.closed_at is None or not earliest:
        return None
    day = case.closed_at.astimezone(SHANGHAI).date() + dt.timedelta(days=earliest)
    return dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)


def follow_up(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if user_id_of(ctx.actor) in involved_user_ids(case):
        raise Forbidden(_("回访须由未参与处理的人员进行"), code="involved_in_case")
    try:
        score = int(ctx.data.get("score"))
    except (TypeError, ValueError):
        raise Invalid(_("满意度须为 1–5 分"), details={"score": "1–5"})
    if not 1 <= score <= 5:
        raise Invalid(_("满意度须为 1–5 分"), details={"score": "1–5"})
    earliest = follow_up_from(case, ctx.rules)
    if earliest is not None and ctx.now < earliest:
        day = earliest.date().isoformat()
        raise Conflict(
            _("回访须在结案后第 %(first)s 天至第 %(last)s 天进行，最早可于 %(date)s 回访")
            % {"first": ctx.rules.follow_up_window[0], "last": ctx.rules.follow_up_window[1], "date": day},
            code="follow_up_too_early",
            details={"earliest": earliest.isoformat()},
        )
    satisfied = score >= ctx.rules.satisfied_min_score
    comment = ctx.text("comment", required=False)
    FollowUp.objects.create(
        case=case, agent=ctx.actor, contacted_at=ctx.now, score=score, satisfied=satisfied, comment=comment
    )
    case.satisfaction = score
    case.last_contact_at = ctx.now
    payload = {"score": score, "satisfied": satisfied, "comment": comment}
    if satisfied:
        return Outcome(None, payload, public=True)
    if within_reopen_window(ctx):
        _reopen(ctx)
        return Outcome(Status.INVESTIGATING, {**payload, "reopened": True}, public=True)
    # Past the window the matter continues in a new case linked to this one.
    from kesu.cases.services import create_continuation

    continuation = create_continuation(case, actor=ctx.actor, now=ctx.now, reason=comment or "回访不满意")
    return Outcome(None, {**payload, "reopened": False, "continuation": continuation.number}, public=True)


def within_reopen_window(ctx: ActionContext) -> bool:
    """A closed case may be reopened within the policy's window; an expired suspension never (003)."""
    case = ctx.case
    if case.closing_criterion == "suspension_expired" or case.closed_at is None:
        return False
    return ctx.now <= add_calendar_days(case.closed_at, ctx.rules.reopen_window_days)


def _reopen(ctx: ActionContext) -> None:
    case = ctx.case
    case.reopen_count += 1
    case.closed_at = None
    case.closing_criterion = ""
    case.replied_at = None
    case.satisfaction = None


def reopen(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if case.closing_criterion == "suspension_expired":
        raise Conflict(
            _("暂结案期满结案后再次联系须以关联新案登记"),
            code="reopen_window_passed",
            details={"window_days": 0},
        )
    if not within_reopen_window(ctx):
        raise Conflict(
            _("已超过重新处理期限，请以关联新案登记"),
            code="reopen_window_passed",
            details={"window_days": ctx.rules.reopen_window_days},
        )
    reason = ctx.text("reason")
    _reopen(ctx)
    return Outcome(Status.INVESTIGATING, {"reason": reason}, public=True)
