"""Work reaches people: every hand-off tells its recipient (a case-event subscriber).

Listed in settings.KESU_CASE_EVENT_SUBSCRIBERS after the deadline engine. For each event that puts work
on someone — an assignment, a collaboration request and its answer, a panel invitation and its
decision, an approval waiting and its outcome, a reopened case, an archive-access request and its
decision, a new complaint from the portal, a new whistle-blowing report, a new major or crisis case —
the recipients get an in-app notification (and an e-mail where they have an address; see
`kesu.sla.notify`). Each notification is keyed by the case and the event's sequence number, so a
retried action never notifies twice. The actor is never told of their own action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from kesu.cases.models import CollaborationRequest, Kind, PanelParticipant, Proposal
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import department_heads, direct_supervisor, users_with_role
from kesu.sla.notify import notify

User = get_user_model()

# Who hears of a new major or crisis case at once (000 第2篇 第六条三/第八条/第九条, 001 篇10 三),
# unless the policy names them in [notifications].
DEFAULT_LEADERS = {
    "major": [roles.SUPERVISOR, roles.CS_MANAGER],
    "crisis": [roles.SUPERVISOR, roles.CS_MANAGER, roles.GENERAL_MANAGER],
}


def on_event(case, event, rules) -> None:
    handler = _HANDLERS.get(event.action)
    messages = [
        (f"{event.seq}:{n}", *m) for n, m in enumerate(handler(case, event, rules) if handler else [])
    ]
    messages += list(_graded_up(case, event, rules))
    for key, kind, users, title in messages:
        notify(
            [u for u in _people(users) if u.pk != getattr(event.actor, "pk", None)],
            kind=kind,
            title=title,
            body=_body(case),
            case=case,
            key=f"handoff:{case.pk}:{key}",
            now=event.created_at,
        )


def _people(users: Iterable) -> list:
    out, seen = [], set()
    for u in users:
        if u is not None and u.pk not in seen and getattr(u, "is_active", True):
            seen.add(u.pk)
            out.append(u)
    return out


def _body(case) -> str:
    return _("%(number)s %(subject)s") % {"number": case.number, "subject": case.subject or ""}


def _registered(case, event, rules):
    if case.kind == Kind.REPORT:
        yield "handoff.report", users_with_role(roles.RISK), _("新举报待处理：%(n)s") % {"n": case.number}
        return
    if event.actor is None and not case.is_imported:
        # From the complainant portal or the mailbox: the intake desk and the supervisors pick it up.
        people = [*users_with_role(roles.INTAKE), *users_with_role(roles.SUPERVISOR)]
        yield "handoff.new_case", people, _("新投诉待受理：%(n)s") % {"n": case.number}


def _graded_up(case, event, rules):
    """A major or crisis case (graded so at registration, acceptance or a regrade): the leaders, at once,
    once per case and level."""
    if event.action not in ("register", "accept", "regrade") or case.kind == Kind.REPORT:
        return
    level = case.level
    if level not in ("major", "crisis"):
        return
    configured = rules.section("notifications").get(f"{level}_case_roles")
    people = []
    for role in configured if configured is not None else DEFAULT_LEADERS[level]:
        people += list(users_with_role(role))
    title = (_("危机投诉，请立即关注：%(n)s") if level == "crisis" else _("重大投诉，请关注：%(n)s")) % {
        "n": case.number
    }
    yield f"graded:{level}", f"handoff.{level}", people, title


def _assigned(case, event, rules):
    if case.handler_id:
        yield "handoff.assigned", [case.handler], _("案件分派给您：%(n)s") % {"n": case.number}
    elif case.department_id:
        yield (
            "handoff.assigned",
            department_heads(case.department),
            _("案件分派至本部门，请指定经办人：%(n)s") % {"n": case.number},
        )


def _collaboration_requested(case, event, rules):
    dept = Department.objects.filter(code=event.payload.get("department")).first()
    if dept is None:
        return
    people = [*department_heads(dept), *users_with_role(roles.HANDLER, dept)]
    yield (
        "handoff.collaboration",
        people,
        _("协办请求：%(n)s（%(q)s）") % {"n": case.number, "q": str(event.payload.get("question", ""))[:60]},
    )


def _collaboration_answered(case, event, rules):
    req = CollaborationRequest.objects.filter(pk=event.payload.get("request_id")).first()
    people = [req.requested_by] if req else []
    yield (
        "handoff.collaboration_answered",
        [*people, case.handler],
        _("协办已答复：%(n)s") % {"n": case.number},
    )


def _panel_convened(case, event, rules):
    ids = event.payload.get("participants") or []
    yield "handoff.panel", User.objects.filter(pk__in=ids), _("合议邀请：%(n)s") % {"n": case.number}


def _panel_decided(case, event, rules):
    members = User.objects.filter(
        pk__in=PanelParticipant.objects.filter(review_id=event.payload.get("review_id")).values("user_id")
    )
    yield (
        "handoff.panel_decided",
        [*members, case.handler],
        _("合议已有决议，请确认纪要：%(n)s") % {"n": case.number},
    )


def _approval_waiting(case, event, rules):
    roles_needed = event.payload.get("required_roles") or []
    next_role = event.payload.get("next_role") or (roles_needed[0] if roles_needed else None)
    if next_role:
        yield "handoff.approval", users_with_role(next_role), _("方案待您审批：%(n)s") % {"n": case.number}


def _approval_decided(case, event, rules):
    if event.action == "approve" and event.payload.get("next_role"):
        yield from _approval_waiting(case, event, rules)
        return
    proposal = Proposal.objects.filter(pk=event.payload.get("proposal_id")).first()
    people = [proposal.proposed_by if proposal else None, case.handler]
    title = (_("方案已获批准：%(n)s") if event.action == "approve" else _("方案被退回：%(n)s")) % {
        "n": case.number
    }
    yield "handoff.approval_decided", people, title


def _reopened(case, event, rules):
    if event.action == "follow_up" and not event.payload.get("reopened"):
        return
    people = [case.handler, *users_with_role(roles.SUPERVISOR)]
    yield "handoff.reopened", people, _("案件重新处理：%(n)s") % {"n": case.number}


def _chased(case, event, rules):
    """催办: the customer came back while the case is open (003 电信分公司 ㈡2): its handler and their
    supervisor (the department head where the handler has none), or the department heads while no
    handler is named."""
    people = [case.handler, direct_supervisor(case.handler)] if case.handler_id else []
    if case.department_id:
        people += list(department_heads(case.department)) if not case.handler_id else []
    people += list(users_with_role(roles.SUPERVISOR))
    title = _("催办：客户再次来电，案件仍在处理中：%(n)s（%(r)s）") % {
        "n": case.number,
        "r": event.payload.get("repeat", ""),
    }
    yield "handoff.chase", people, title


def _archive_access_requested(case, event, rules):
    yield (
        "handoff.archive_access",
        users_with_role(roles.ARCHIVIST),
        _("档案调阅申请：%(n)s") % {"n": case.number},
    )


def _archive_access_decided(case, event, rules):
    requester = User.objects.filter(pk=event.payload.get("requester")).first()
    title = (
        _("调阅申请已批准：%(n)s") if event.payload.get("approved") else _("调阅申请未获批准：%(n)s")
    ) % {"n": case.number}
    yield "handoff.archive_access_decided", [requester], title


def _regulator_submission_filed(case, event, rules):
    """报送 is filed with compliance: risk/compliance hear of each archived file sent to a regulator."""
    yield (
        "handoff.regulator_submission",
        users_with_role(roles.RISK),
        _("监管报送备案：%(n)s 已报送%(r)s") % {"n": case.number, "r": event.payload.get("regulator", "")},
    )


_HANDLERS: dict[str, Callable[[Any, Any, Any], Iterable[tuple[str, Iterable, str]]]] = {
    "register": _registered,
    "assign": _assigned,
    "request_collaboration": _collaboration_requested,
    "answer_collaboration": _collaboration_answered,
    "convene_panel": _panel_convened,
    "decide_panel": _panel_decided,
    "propose_remedy": _approval_waiting,
    "request_special_closure": _approval_waiting,
    "approve": _approval_decided,
    "reject": _approval_decided,
    "reopen": _reopened,
    "chase": _chased,
    "file_regulator_submission": _regulator_submission_filed,
    "follow_up": _reopened,
    "request_archive_access": _archive_access_requested,
    "decide_archive_access": _archive_access_decided,
}
