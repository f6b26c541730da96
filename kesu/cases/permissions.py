"""Who may see a case and who may do what to it.

Enforced here, in the service layer, so that the API, the web UI, exports and
reports cannot diverge (ARCHITECTURE.md invariant 5).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from kesu.cases.models import (
    ArchiveAccessRequest,
    Case,
    CollaborationRequest,
    Kind,
    PanelParticipant,
    PanelReview,
    Status,
)
from kesu.org import roles
from kesu.org.selectors import department_of, has_role, holds_any_role, is_company_wide, user_roles

PENDING_COLLABORATION = (CollaborationRequest.State.PROPOSED, CollaborationRequest.State.REJECTED)
PENDING_PANEL = (PanelReview.State.PROPOSED, PanelReview.State.REJECTED)

# Who may register a complaint, on every path (web form, API, batch intake): those who receive and route
# complaints. Analysts, archivists, follow-up agents, risk/compliance and the general manager do not.
REGISTER_ROLES = frozenset(
    {roles.INTAKE, roles.ADMIN, roles.SUPERVISOR, roles.HANDLER, roles.DEPT_HEAD, roles.CS_MANAGER}
)


def may_register(user) -> bool:
    """True when a signed-in person may register complaints (the web intake form and the API alike)."""
    return bool(getattr(user, "is_authenticated", False)) and holds_any_role(user, REGISTER_ROLES)


def visible_cases_q(user) -> Q | None:
    """A filter for the cases `user` may see; None means none at all."""
    if not getattr(user, "is_authenticated", False):
        return None
    whistle = Q(kind=Kind.REPORT)
    if has_role(user, roles.RISK):
        # Risk/compliance sees the whistle-blowing reports (and, for their own department, the rest).
        base = whistle
    else:
        # A report about senior management is also read by the role it was routed to (the chairman).
        base = whistle & Q(report_recipient_role__in=user_roles(user) or ["-"])
    if is_company_wide(user):
        return base | ~whistle
    dept = department_of(user)
    own = Q(handler=user) | Q(first_responder=user) | Q(created_by=user)
    if dept is not None:
        if has_role(user, roles.DEPT_HEAD):
            own |= Q(department__path__startswith=dept.path)
        else:
            own |= Q(department=dept)
        # Subqueries rather than joins: no repeated rows, so no DISTINCT over large scopes.
        # A collaboration or a panel awaiting the supervisor's approval (or refused) gives no access yet.
        own |= Q(
            pk__in=CollaborationRequest.objects.filter(to_department=dept)
            .exclude(state__in=PENDING_COLLABORATION)
            .values("case_id")
        )
    own |= Q(
        pk__in=PanelParticipant.objects.filter(user=user)
        .exclude(review__state__in=PENDING_PANEL)
        .values("review__case_id")
    )
    if has_role(user, roles.INTAKE):
        # 受理员 pick up what arrived without a department yet (portal, e-mail, imports) to accept and route it.
        own |= Q(department__isnull=True)
    return base | (own & ~whistle)


def visible_cases(user, qs: QuerySet[Case] | None = None) -> QuerySet[Case]:
    qs = qs if qs is not None else Case.objects.all()
    q = visible_cases_q(user)
    if q is None:
        return qs.none()
    # The filter uses subqueries, never to-many joins, so rows are not repeated and need no DISTINCT.
    return qs.filter(q)


def can_view(user, case: Case) -> bool:
    if case.kind == Kind.REPORT:
        return has_role(user, roles.RISK) or bool(
            case.report_recipient_role and has_role(user, case.report_recipient_role)
        )
    if not getattr(user, "is_authenticated", False):
        return False
    if is_company_wide(user):
        return True
    if user.pk in (case.handler_id, case.first_responder_id, case.created_by_id):
        # The person's own case (a term of `visible_cases_q`): decided before that filter is built,
        # which reads the person's department.
        return True
    q = visible_cases_q(user)
    if q is None:
        return False
    return Case.objects.filter(q, pk=case.pk).exists()


def may_read(user, case: Case) -> bool:
    """May see the case and, if archived, read its file: what a full read of the case needs."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and can_view(user, case)
        and can_read_archived(user, case)
    )


def can_read_archived(user, case: Case) -> bool:
    """Reading an archived case file needs the archive keeper, or an approved, unexpired request (000 第7篇)."""
    if case.status != Status.ARCHIVED:
        return True
    if has_role(user, roles.ARCHIVIST):
        return True
    return ArchiveAccessRequest.objects.filter(
        case=case, requester=user, state=ArchiveAccessRequest.State.APPROVED, expires_at__gt=timezone.now()
    ).exists()


def acts_in_department(user, case: Case) -> bool:
    """True when the user works in (or heads) the responsible department, or handles the case."""
    if case.handler_id == getattr(user, "pk", None):
        return True
    dept = department_of(user)
    if dept is None or case.department_id is None:
        return False
    if case.department_id == dept.pk:
        return True
    return has_role(user, roles.DEPT_HEAD) and case.department.path.startswith(dept.path)
