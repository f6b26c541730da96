"""Reads of the workbench: the work queues and the supervisor board.

Built on `kesu.cases.selectors.list_cases` / `kesu.cases.permissions.visible_cases`, so every queue
shows only what the API would show the same user (ARCHITECTURE.md invariant 5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case as When_
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kesu.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CollaborationRequest,
    FollowUp,
    Kind,
    PanelParticipant,
    PanelReview,
    Proposal,
    Status,
)
from kesu.cases.selectors import CaseFilters, filter_cases, list_cases
from kesu.org import roles
from kesu.org.selectors import department_of, user_roles

ACTIVE_STATUSES = (*OPEN_STATUSES, Status.SUSPENDED)

# Marked for extraction only: views translate them at render time with gettext.
QUEUE_LABELS = {
    "all": gettext_noop("案件查询"),
    "mine": gettext_noop("我的案件"),
    "dept": gettext_noop("本部门案件"),
    "unassigned": gettext_noop("待分派"),
    "approvals": gettext_noop("待我审批"),
    "collab": gettext_noop("协办请求"),
    "followups": gettext_noop("待回访"),
    "panels": gettext_noop("我的合议"),
}

SORTS = {
    "received": ("received_at", "id"),
    "-received": ("-received_at", "-id"),
    "due": ("due_at", "id"),
    "-due": ("-due_at", "-id"),
    "level": ("level_rank", "due_at", "id"),
    "-level": ("-level_rank", "due_at", "id"),
    "number": ("number",),
    "-number": ("-number",),
}
LEVEL_RANK = When_(
    When(level="crisis", then=Value(4)),
    When(level="major", then=Value(3)),
    When(level="urgent", then=Value(2)),
    default=Value(1),
    output_field=IntegerField(),
)


@dataclass
class Queue:
    key: str
    cases: QuerySet[Case]
    default_sort: str = "due"


def _approval_case_ids(user) -> list[int]:
    """Pending proposals whose next approval step needs one of the user's roles (and not their own)."""
    mine = user_roles(user)
    if not mine:
        return []
    proposals = (
        Proposal.objects.filter(state=Proposal.State.PENDING, case__status=Status.PENDING_APPROVAL)
        .exclude(proposed_by=user)
        .annotate(done=Count("steps", filter=Q(steps__decision="approved")))
        .values_list("case_id", "required_roles", "done")
    )
    ids = []
    for case_id, required, done in proposals:
        if done < len(required) and required[done] in mine:
            ids.append(case_id)
    return ids


def queue_cases(user, key: str, *, now: dt.datetime | None = None) -> Queue:
    """The cases of one work queue for this user (unsorted, unfiltered by the page's filters)."""
    now = now or timezone.now()
    base = list_cases(user)
    dept = department_of(user)
    if key in ("mine", "dept"):
        # Both conditions lie inside the user's scope (permissions.visible_cases_q: own cases and own
        # department), so the wider visibility filter is not needed; whistle-blowing stays with RISK.
        own = Case.objects.select_related("channel", "category", "department", "handler")
        if roles.RISK not in user_roles(user):
            own = own.exclude(kind=Kind.REPORT)
        if key == "mine":
            return Queue(key, own.filter(handler=user, status__in=ACTIVE_STATUSES))
        if dept is None:
            return Queue(key, base.none())
        return Queue(key, own.filter(department=dept, status__in=ACTIVE_STATUSES))
    if key == "unassigned":
        q = Q(status__in=[Status.REGISTERED, Status.ACCEPTED]) | Q(
            status__in=[Status.ASSIGNED, Status.INVESTIGATING], handler__isnull=True
        )
        qs = base.filter(q)
        if (
            dept is not None
            and not (user_roles(user) & roles.COMPANY_WIDE_ROLES)
            and roles.INTAKE not in user_roles(user)
        ):
            qs = qs.filter(department=dept)
        return Queue(key, qs, "received")
    if key == "approvals":
        return Queue(key, base.filter(pk__in=_approval_case_ids(user)))
    if key == "collab":
        if dept is None:
            return Queue(key, base.none())
        open_req = CollaborationRequest.objects.filter(
            case=OuterRef("pk"), to_department=dept, state=CollaborationRequest.State.OPEN
        )
        return Queue(key, base.filter(Exists(open_req)))
    if key == "followups":
        done = FollowUp.objects.filter(case=OuterRef("pk"))
        return Queue(
            key,
            base.filter(status=Status.CLOSED, is_special_closure=False, kind__in=[Kind.COMPLAINT, Kind.FAULT])
            .exclude(closing_criterion="suspension_expired")
            .exclude(Exists(done)),
            "received",
        )
    if key == "panels":
        mine = PanelParticipant.objects.filter(
            review__case=OuterRef("pk"), user=user, confirmed_at__isnull=True
        ).exclude(review__state=PanelReview.State.CONFIRMED)
        return Queue(key, base.filter(Exists(mine)))
    return Queue("all", base, "-received")


def apply_sort(qs: QuerySet[Case], sort: str) -> QuerySet[Case]:
    fields = SORTS.get(sort) or SORTS["-received"]
    if any("level_rank" in f for f in fields):
        qs = qs.annotate(level_rank=LEVEL_RANK)
    return qs.order_by(*fields)


def filtered(
    qs: QuerySet[Case], filters: CaseFilters, *, due_within_hours: int | None = None
) -> QuerySet[Case]:
    qs = filter_cases(qs, filters)
    if due_within_hours is not None:
        now = timezone.now()
        qs = qs.filter(status__in=OPEN_STATUSES, due_at__lte=now + dt.timedelta(hours=due_within_hours))
    return qs


COUNT_CAP = 999


def queue_counts(user, cap: int = COUNT_CAP) -> dict[str, int]:
    """Counts for the home page's cards, capped (a card shows "999+"; the queue page has the exact count)."""
    out = {}
    for key in ("mine", "dept", "unassigned", "approvals", "collab", "followups", "panels"):
        out[key] = queue_cases(user, key).cases.order_by()[: cap + 1].count()
    return out


# --- supervisor board ---------------------------------------------------------------------------


def board(user, *, now: dt.datetime | None = None, near_hours: int = 24) -> dict:
    now = now or timezone.now()
    visible = list_cases(user).order_by()
    open_qs = visible.filter(status__in=OPEN_STATUSES)
    overdue = open_qs.filter(due_at__lt=now)
    near = open_qs.filter(due_at__gte=now, due_at__lt=now + dt.timedelta(hours=near_hours))

    def by_dept_level(qs) -> list[dict]:
        rows = qs.values("department__name", "level").annotate(n=Count("id")).order_by("department__name")
        table: dict[str, dict] = {}
        for r in rows:
            name = r["department__name"] or _("（未分派）")
            entry = table.setdefault(
                name, {"department": name, "normal": 0, "urgent": 0, "major": 0, "crisis": 0, "total": 0}
            )
            entry[r["level"]] = entry.get(r["level"], 0) + r["n"]
            entry["total"] += r["n"]
        return sorted(table.values(), key=lambda e: -e["total"])

    escalations = (
        CaseEvent.objects.filter(
            action="escalate", created_at__gte=now - dt.timedelta(days=7), case__in=visible
        )
        .select_related("case", "case__department")
        .order_by("-created_at")[:30]
    )
    from kesu.policy.selectors import active_rules

    try:
        group_size = int(active_rules().grading.get("group_major_size", 5))
    except Exception:  # noqa: BLE001 - a board without an active policy still renders
        group_size = 5
    serious = open_qs.filter(level__in=["crisis", "major"]).order_by("due_at", "id")
    group = open_qs.filter(people_count__gte=group_size).order_by("due_at", "id")
    return {
        "overdue_count": overdue.count(),
        "near_count": near.count(),
        "overdue_table": by_dept_level(overdue),
        "near_table": by_dept_level(near),
        "escalations": list(escalations),
        "serious": list(serious[:50]),
        "serious_count": serious.count(),
        "group": list(group[:50]),
        "group_count": group.count(),
        "group_size": group_size,
        "near_hours": near_hours,
    }
