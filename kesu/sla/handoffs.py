"""Work reaches people: every hand-off tells its recipient (a case-event subscriber).

Listed in settings.KESU_CASE_EVENT_SUBSCRIBERS after the deadline engine. For each event that puts work
on someone — an assignment, a collaboration request and its answer, a panel invitation and its
decision, an approval waiting and its outcome, a reopened case, an archive-access request and its
decision, a new complaint from the portal, a new whistle-blowing report, a new major or crisis case —
(where the supervisor must approve a collaboration or a panel first: the request to the supervisor,
the decision back to the handler, the work to the others only once approved; a panel's preliminary
opinion to the handler) the recipients get an in-app notification (and an e-mail where they have an address; see
`kesu.sla.notify`). Each notification is keyed by the case and the event's sequence number, so a
retried action never notifies twice. The actor is never told of their own action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model

from kesu.cases.models import CollaborationRequest, Kind, PanelParticipant, PanelReview, Proposal
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
    for key, kind, users, message, params in messages:
        notify(
            [u for u in _people(users) if u.pk != getattr(event.actor, "pk", None)],
            kind=kind,
            message=message,
            params={"n": case.number, "number": case.number, "subject": case.subject or "", **params},
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


def _registered(case, event, rules):
    if case.kind == Kind.REPORT:
        yield "handoff.report", users_with_role(roles.RISK), "handoff.report", {}
        return
    if event.actor is None and not case.is_imported:
        # From the complainant portal or the mailbox: the intake desk and the supervisors pick it up.
        people = [*users_with_role(roles.INTAKE), *users_with_role(roles.SUPERVISOR)]
        yield "handoff.new_case", people, "handoff.new_case", {}


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
    yield f"graded:{level}", f"handoff.{level}", people, f"handoff.{level}", {}


def _assigned(case, event, rules):
    if case.handler_id:
        yield "handoff.assigned", [case.handler], "handoff.assigned", {}
    elif case.department_id:
        yield (
            "handoff.assigned",
            department_heads(case.department),
            "handoff.assigned_department",
            {},
        )


def _awaiting_approval(case, event, what: str):
    """A handler's request the supervisor must approve first (003 恒康天安 第四条(七), 第七条(一))."""
    role = event.payload.get("approval_role")
    yield f"handoff.{what}_request", users_with_role(role) if role else [], f"handoff.{what}_request", {}


def _collaboration_requested(case, event, rules):
    if event.payload.get("awaiting_approval"):
        yield from _awaiting_approval(case, event, "collaboration")
        return
    dept = Department.objects.filter(code=event.payload.get("department")).first()
    if dept is None:
        return
    people = [*department_heads(dept), *users_with_role(roles.HANDLER, dept)]
    yield (
        "handoff.collaboration",
        people,
        "handoff.collaboration",
        {"q": str(event.payload.get("question", ""))[:60]},
    )


def _request_decided(case, event, rules, *, kind: str, approved: str, refused: str, on_approval):
    """A supervised request decided: approved, the work goes out (`on_approval`) and the requester and
    handler are told; refused, they are told why."""
    requester = User.objects.filter(pk=event.payload.get("requested_by")).first()
    people = [requester, case.handler]
    if event.payload.get("approved"):
        yield from on_approval(case, event, rules)
        yield kind, people, approved, {}
    else:
        yield kind, people, refused, {"note": str(event.payload.get("note", ""))[:60]}


def _collaboration_request_decided(case, event, rules):
    """Approved: the other department gets the work; refused: the handler is told why."""
    yield from _request_decided(
        case,
        event,
        rules,
        kind="handoff.collaboration_decided",
        approved="handoff.collaboration_approved",
        refused="handoff.collaboration_refused",
        on_approval=_collaboration_requested,
    )


def _collaboration_answered(case, event, rules):
    req = CollaborationRequest.objects.filter(pk=event.payload.get("request_id")).first()
    people = [req.requested_by] if req else []
    yield (
        "handoff.collaboration_answered",
        [*people, case.handler],
        "handoff.collaboration_answered",
        {},
    )


def _panel_convened(case, event, rules):
    if event.payload.get("awaiting_approval"):
        yield from _awaiting_approval(case, event, "panel")
        return
    ids = event.payload.get("participants") or []
    yield "handoff.panel", User.objects.filter(pk__in=ids), "handoff.panel", {}


def _panel_request_decided(case, event, rules):
    """Approved: the members (the chair among them) are invited; refused: the handler is told why."""
    yield from _request_decided(
        case,
        event,
        rules,
        kind="handoff.panel_request_decided",
        approved="handoff.panel_request_approved",
        refused="handoff.panel_request_refused",
        on_approval=_panel_convened,
    )


def _panel_preliminary(case, event, rules):
    """初步意见 (003 恒康天安 第七条(四)4): the handler acts on it meanwhile (稳定客户、控制局势)."""
    review = PanelReview.objects.filter(pk=event.payload.get("review_id")).first()
    people = [case.handler, review.convened_by if review else None]
    yield "handoff.panel_preliminary", people, "handoff.panel_preliminary", {}


def _panel_decided(case, event, rules):
    members = User.objects.filter(
        pk__in=PanelParticipant.objects.filter(review_id=event.payload.get("review_id")).values("user_id")
    )
    yield (
        "handoff.panel_decided",
        [*members, case.handler],
        "handoff.panel_decided",
        {},
    )


def _approval_waiting(case, event, rules):
    roles_needed = event.payload.get("required_roles") or []
    next_role = event.payload.get("next_role") or (roles_needed[0] if roles_needed else None)
    if next_role:
        yield "handoff.approval", users_with_role(next_role), "handoff.approval", {}


def _approval_decided(case, event, rules):
    if event.action == "approve" and event.payload.get("next_role"):
        yield from _approval_waiting(case, event, rules)
        return
    proposal = Proposal.objects.filter(pk=event.payload.get("proposal_id")).first()
    people = [proposal.proposed_by if proposal else None, case.handler]
    message = "handoff.approval_approved" if event.action == "approve" else "handoff.approval_rejected"
    yield "handoff.approval_decided", people, message, {}


def _reopened(case, event, rules):
    if event.action == "follow_up" and not event.payload.get("reopened"):
        return
    people = [case.handler, *users_with_role(roles.SUPERVISOR)]
    yield "handoff.reopened", people, "handoff.reopened", {}


def _chased(case, event, rules):
    """催办: the customer came back while the case is open (003 电信分公司 ㈡2): its handler and their
    supervisor (the department head where the handler has none), or the department heads while no
    handler is named."""
    people = [case.handler, direct_supervisor(case.handler)] if case.handler_id else []
    if case.department_id:
        people += list(department_heads(case.department)) if not case.handler_id else []
    people += list(users_with_role(roles.SUPERVISOR))
    yield "handoff.chase", people, "handoff.chase", {"r": event.payload.get("repeat", "")}


def _archive_access_requested(case, event, rules):
    yield (
        "handoff.archive_access",
        users_with_role(roles.ARCHIVIST),
        "handoff.archive_access",
        {},
    )


def _archive_access_decided(case, event, rules):
    requester = User.objects.filter(pk=event.payload.get("requester")).first()
    message = (
        "handoff.archive_access_approved"
        if event.payload.get("approved")
        else "handoff.archive_access_refused"
    )
    yield "handoff.archive_access_decided", [requester], message, {}


def _regulator_submission_filed(case, event, rules):
    """报送 is filed with compliance: risk/compliance hear of each archived file sent to a regulator."""
    yield (
        "handoff.regulator_submission",
        users_with_role(roles.RISK),
        "handoff.regulator_submission",
        {"r": str(event.payload.get("regulator", ""))[:60]},
    )


# Each handler yields (kind, recipients, message id of kesu.sla.messages, its parameters beyond the case).
_HANDLERS: dict[str, Callable[[Any, Any, Any], Iterable[tuple[str, Iterable, str, dict]]]] = {
    "register": _registered,
    "assign": _assigned,
    "request_collaboration": _collaboration_requested,
    "decide_collaboration_request": _collaboration_request_decided,
    "answer_collaboration": _collaboration_answered,
    "convene_panel": _panel_convened,
    "decide_panel_request": _panel_request_decided,
    "record_preliminary_opinion": _panel_preliminary,
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
