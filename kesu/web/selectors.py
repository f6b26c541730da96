"""Reads of the workbench: the work queues and the supervisor board.

Built on `kesu.cases.selectors.list_cases` / `kesu.cases.permissions.visible_cases`, so every queue
shows only what the API would show the same user (ARCHITECTURE.md invariant 5).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as When_
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_noop

from kesu.cases.attachments import attachments_of
from kesu.cases.models import (
    ACTIVE_INLINE_Q,
    OPEN_STATUSES,
    UNASSIGNED_INLINE_Q,
    Accountability,
    ArchiveAccessRequest,
    Attachment,
    Case,
    CaseEvent,
    CollaborationRequest,
    EmergencyPlan,
    FollowUp,
    Kind,
    PanelParticipant,
    PanelReview,
    Proposal,
    RegulatorSubmission,
    Status,
    TypicalCase,
)
from kesu.cases.selectors import (
    CaseFilters,
    attach_relations,
    clear_relations_cache,
    filter_cases,
    has_part,
    list_cases,
)
from kesu.cases.services import allowed_actions
from kesu.org import roles
from kesu.org.i18n import local_names
from kesu.org.models import Department
from kesu.org.selectors import department_of, is_company_wide, user_roles
from kesu.policy.selectors import active_rules
from kesu.sla import selectors as sla_selectors
from kesu.sla.models import StageDeadline
from kesu.web import replies
from kesu.web.models import SavedView

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
    "to_archive": gettext_noop("待归档"),
    "access": gettext_noop("调阅申请"),
}

SORTS = {
    "received": ("received_at", "id"),
    "-received": ("-received_at", "-id"),
    # Cases without a current deadline (closed, suspended) come last either way, on every database.
    "due": (F("due_at").asc(nulls_last=True), "id"),
    "-due": (F("due_at").desc(nulls_last=True), "-id"),
    # NULLS LAST spelled out: the cursor pager (KEYSETS) continues in exactly this order.
    "level": ("level_rank", F("due_at").asc(nulls_last=True), "id"),
    "-level": ("-level_rank", F("due_at").asc(nulls_last=True), "id"),
    # A queue's own deadline (the follow-up or collaboration deadline), where the queue has one.
    "queue_due": (F("queue_due").asc(nulls_last=True), "id"),
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
        # ACTIVE_INLINE_Q: the predicate of the partial indexes case_handler_queue_idx and
        # case_dept_queue_idx, codes inline so that SQLite uses them too (kesu.cases.models.InlineIn).
        if key == "mine":
            return Queue(key, own.filter(ACTIVE_INLINE_Q, handler=user))
        if dept is None:
            return Queue(key, base.none())
        return Queue(key, own.filter(ACTIVE_INLINE_Q, department=dept))
    if key == "unassigned":
        # UNASSIGNED_Q's expression: the partial index case_unassigned_idx serves it only for the same
        # expression, and on SQLite only with its codes inline.
        qs = base.filter(UNASSIGNED_INLINE_Q)
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
        # `pk IN (subquery)`: the database walks the (few) open requests and looks the cases up by
        # key, instead of testing a correlated EXISTS against every visible case.
        open_req = CollaborationRequest.objects.filter(
            to_department=dept, state=CollaborationRequest.State.OPEN
        )
        # The question asked, and the request's own deadline, on each row.
        first = open_req.filter(case=OuterRef("pk")).order_by("pk")
        return Queue(
            key,
            base.filter(pk__in=open_req.values("case_id")).annotate(
                queue_note=Subquery(first.values("question")[:1]),
                queue_due=Subquery(first.values("due_at")[:1]),
            ),
            "queue_due",
        )
    if key == "followups":
        # Done = visited since the case was last closed: a reopened and closed again case is visited again.
        done = FollowUp.objects.filter(case=OuterRef("pk"), contacted_at__gte=OuterRef("closed_at"))
        # Each row shows its follow-up deadline (the open 回访 stage), the earliest first.
        follow_up_due = StageDeadline.objects.filter(
            case=OuterRef("pk"), stage="follow_up", state=StageDeadline.State.OPEN
        ).values("due_at")[:1]
        return Queue(
            key,
            base.filter(status=Status.CLOSED, is_special_closure=False, kind__in=[Kind.COMPLAINT, Kind.FAULT])
            .exclude(closing_criterion="suspension_expired")
            .exclude(Exists(done))
            .annotate(queue_due=Subquery(follow_up_due)),
            "queue_due",
        )
    if key == "to_archive":
        # 待归档: finished, and nothing is owed any more (follow-up done where one is due).
        followed = FollowUp.objects.filter(case=OuterRef("pk"))
        no_follow_up_due = (
            Q(is_special_closure=True)
            | ~Q(kind__in=[Kind.COMPLAINT, Kind.FAULT])
            | Q(closing_criterion="suspension_expired")
            | Q(Exists(followed))
        )
        return Queue(
            key,
            base.filter(
                Q(status__in=[Status.INVALID, Status.ANSWERED]) | (Q(status=Status.CLOSED) & no_follow_up_due)
            ),
            "received",
        )
    if key == "access":
        pending = ArchiveAccessRequest.objects.filter(state=ArchiveAccessRequest.State.PENDING)
        return Queue(
            key,
            base.filter(pk__in=pending.values("case_id")).annotate(
                queue_note=Subquery(pending.filter(case=OuterRef("pk")).order_by("pk").values("reason")[:1])
            ),
            "received",
        )
    if key == "panels":
        mine = (
            PanelParticipant.objects.filter(user=user, confirmed_at__isnull=True)
            # A panel still awaiting the supervisor's approval, or refused, is nobody's work yet.
            .exclude(
                review__state__in=(
                    PanelReview.State.CONFIRMED,
                    PanelReview.State.PROPOSED,
                    PanelReview.State.REJECTED,
                )
            )
            .values("review__case_id")
        )
        return Queue(key, base.filter(pk__in=mine))
    return Queue("all", base, "-received")


def apply_sort(qs: QuerySet[Case], sort: str) -> QuerySet[Case]:
    fields = SORTS.get(sort) or SORTS["-received"]
    if any(isinstance(f, str) and "level_rank" in f for f in fields):
        qs = qs.annotate(level_rank=LEVEL_RANK)
    return qs.order_by(*fields)


# What a queue row shows (kesu_web.queue_rows) and its cursor reads: the wide case rows and their four
# joined tables whole were a fifth of the queue page's CPU time (issue 19, profiled). The queues'
# annotations (queue_note, queue_due, level_rank) are kept by `.only()`. The four related rows' names
# come from a per-process cache (`attach_row_relations`), not from joins: on PostgreSQL the joins and
# their 120 model instances were a third of the page's statement and a fifth of its Python (queue22).
QUEUE_ROW_FIELDS = (
    "number",
    "subject",
    "description",
    "received_at",
    "level",
    "status",
    "replied_at",
    "closed_at",
    "due_at",
    "branch_id",
    "policy_id",
    "category_id",
    "channel_id",
    "department_id",
    "handler_id",
)


def queue_row_columns(qs: QuerySet[Case]) -> QuerySet[Case]:
    """`qs` reading only the columns of a queue row (not for exports, which write every column); the
    rows' category, channel, department and handler are attached after by `attach_row_relations`."""
    return qs.select_related(None).only(*QUEUE_ROW_FIELDS)


# The rows' related names come from kesu.cases.selectors.attach_relations (a per-process cache under the
# taxonomy's and the organisation's stamps), which the API's case list shares.
attach_row_relations = attach_relations
clear_row_cache = clear_relations_cache


def filtered(
    qs: QuerySet[Case], filters: CaseFilters, *, due_within_hours: int | None = None
) -> QuerySet[Case]:
    qs = filter_cases(qs, filters)
    if due_within_hours is not None:
        now = timezone.now()
        qs = qs.filter(status__in=OPEN_STATUSES, due_at__lte=now + dt.timedelta(hours=due_within_hours))
    return qs


COUNT_CAP = 999


def _queue_offered(user, key: str) -> bool:
    """Whether the navigation offers this queue to the user (the same role rules as the menu)."""
    from kesu.web import nav

    item = nav._ITEMS.get(f"queue_{key}")
    if item is None or not item.roles:
        return True
    return bool(item.roles & user_roles(user)) or (
        getattr(user, "is_staff", False) and roles.ADMIN in item.roles
    )


def queue_counts(user, cap: int = COUNT_CAP) -> dict[str, int]:
    """Counts for the home page's cards, capped (a card shows "999+"; the queue page has the exact count).
    Only the queues the user's menu offers are counted."""
    out = {}
    for key in (
        "mine",
        "dept",
        "unassigned",
        "approvals",
        "collab",
        "followups",
        "panels",
        "to_archive",
        "access",
    ):
        if not _queue_offered(user, key):
            continue
        out[key] = queue_cases(user, key).cases.order_by()[: cap + 1].count()
    return out


# --- supervisor board ---------------------------------------------------------------------------


BOARD_CACHE_SECONDS = 30
SERIOUS_LEVELS = ("crisis", "major")


def _board_scope(user) -> str:
    """Users who see the same cases share the board's cache entry (company-wide roles), others not."""

    if is_company_wide(user):
        return f"company:{int(roles.RISK in user_roles(user))}"
    return f"user:{user.pk}"


def _visible_escalations(visible: QuerySet[Case], since: dt.datetime, limit: int = 30) -> list[CaseEvent]:
    """The latest escalation events of visible cases: newest escalations first (index on action,
    created_at), then the visibility check on just those cases — never a scan of all visible cases."""
    out: list[CaseEvent] = []
    qs = (
        CaseEvent.objects.filter(action="escalate", created_at__gte=since)
        .select_related("case", "case__department")
        .only(
            "case_id",
            "created_at",
            "payload",
            "case__number",
            "case__department__name",
            "case__department__name_en",
        )
        .order_by("-created_at", "-pk")
    )
    offset, chunk = 0, max(limit * 4, 100)
    while len(out) < limit:
        batch = list(qs[offset : offset + chunk])
        if not batch:
            break
        ok = set(visible.filter(pk__in={e.case_id for e in batch}).values_list("pk", flat=True))
        out.extend(e for e in batch if e.case_id in ok)
        if len(batch) < chunk:
            break  # that was the last of them: no query for an empty batch
        offset += chunk
    return out[:limit]


# What a row of the board's lists shows: its link, text, level, people, status (replied or not), department
# and countdown (the deadline, on the calendar of its branch and the business hours of its policy).
BOARD_LIST_FIELDS = (
    "number",
    "subject",
    "description",
    "level",
    "people_count",
    "status",
    "replied_at",
    "due_at",
    "branch_id",
    "policy_id",
    "department__name",
    "department__name_en",
)


def board(user, *, now: dt.datetime | None = None, near_hours: int = 24, use_cache: bool = True) -> dict:
    """The supervisor board: overdue and near-due open cases by department and level, crisis/major and
    group complaints, escalations of the last 7 days.

    One aggregate query over the open cases (a covering index on status, kind, department, level,
    due_at, people_count, report_recipient_role: index-only) gives every count; it is cached for BOARD_CACHE_SECONDS per scope of
    visibility, and the page says when it was computed. The lists (crisis/major, group complaints,
    escalations) are index range scans limited to 50 rows and always current.
    """
    from django.core.cache import cache

    try:
        group_size = int(active_rules().grading.get("group_major_size", 5))
    except Exception:  # noqa: BLE001 - a board without an active policy still renders
        group_size = 5
    current = now or timezone.now()
    visible = list_cases(user).order_by()
    open_qs = visible.filter(status__in=OPEN_STATUSES)
    key = f"kesu:web:board:{_board_scope(user)}:{near_hours}:{group_size}"
    counts = cache.get(key) if (use_cache and now is None) else None
    if counts is None:
        counts = _board_counts(open_qs, now=current, near_hours=near_hours, group_size=group_size)
        if use_cache:
            cache.set(key, counts, BOARD_CACHE_SECONDS)
    # An open case without a deadline comes last. Spelled as `due_at IS NULL, due_at`, not NULLS LAST:
    # SQLite (3.30+) walks the due_at index for NULLS LAST too, and then read the open cases one by one
    # in deadline order to find the few crisis/major or group ones (at 100k cases 12 and 19 ms for the
    # two lists, most of the board's time). With an expression first it reads those few cases through
    # their own indexes (level, status, due_at) and (people_count, status) and sorts them, as PostgreSQL does.
    by_due = (ExpressionWrapper(Q(due_at__isnull=True), output_field=BooleanField()).asc(), "due_at", "id")
    if connection.vendor == "postgresql":
        # The same order as PostgreSQL's indexes hold it (NULLS LAST is their ascending order): the
        # partial indexes case_open_serious_due_idx and case_open_group_due_idx serve each list as
        # their first 50 rows (at 1M cases the serious list read and sorted 4,802 cases; queue22).
        by_due = (F("due_at").asc(nulls_last=True), "id")
    # The columns the lists show (kesu_web.board_case_rows), not the whole wide case rows with four
    # joined tables: the model instances of 100 full rows were a fifth of the board's CPU time.
    listed = open_qs.select_related(None).select_related("department").only(*BOARD_LIST_FIELDS)
    serious = listed.filter(level__in=SERIOUS_LEVELS).order_by(*by_due)
    group = listed.filter(people_count__gte=group_size).order_by(*by_due)
    return {
        **counts,
        "cache_seconds": BOARD_CACHE_SECONDS,
        "escalations": _visible_escalations(visible, current - dt.timedelta(days=7)),
        "serious": list(serious[:50]),
        "group": list(group[:50]),
        "group_size": group_size,
        "near_hours": near_hours,
    }


def _board_counts(open_qs: QuerySet[Case], *, now: dt.datetime, near_hours: int, group_size: int) -> dict:

    horizon = now + dt.timedelta(hours=near_hours)
    # Grouped by expressions, not the bare columns: otherwise SQLite walks the department (or level)
    # index to skip the sort and reads every case row instead of the open cases in the covering index.
    rows = list(
        open_qs.values(lvl=Coalesce("level", Value("")), dept=Coalesce("department_id", Value(0)))
        # Counted by status (never NULL, so the same as counting rows), not by id: every column the
        # statement names is in case_board_cover_idx, so PostgreSQL reads that index alone instead of
        # visiting the heap page of every open case (100k cases: 56 buffers against 2,157; queue22).
        .annotate(
            total=Count("status"),
            overdue=Count("status", filter=Q(due_at__lt=now)),
            near=Count("status", filter=Q(due_at__gte=now, due_at__lt=horizon)),
            group=Count("status", filter=Q(people_count__gte=group_size)),
        )
        .order_by()
    )
    dept_ids = {r["dept"] for r in rows} - {0}
    names = local_names(Department.objects.filter(pk__in=dept_ids), "pk") if dept_ids else {}

    def table(measure: str) -> list[dict]:
        out: dict[object, dict] = {}
        for r in rows:
            n = r[measure]
            if not n:
                continue
            name = names.get(r["dept"]) or ""
            entry = out.setdefault(
                name, {"department": name, "normal": 0, "urgent": 0, "major": 0, "crisis": 0, "total": 0}
            )
            entry[r["lvl"]] = entry.get(r["lvl"], 0) + n
            entry["total"] += n
        return sorted(out.values(), key=lambda e: (-e["total"], e["department"]))

    return {
        "computed_at": now,
        "open_count": sum(r["total"] for r in rows),
        "overdue_count": sum(r["overdue"] for r in rows),
        "near_count": sum(r["near"] for r in rows),
        "overdue_table": table("overdue"),
        "near_table": table("near"),
        "serious_count": sum(r["total"] for r in rows if r["lvl"] in SERIOUS_LEVELS),
        "group_count": sum(r["group"] for r in rows),
    }


# --- cursor paging (beyond the offset pager's cap) ------------------------------------------------

# Per sort: the keyset (field, descending, value type), ending in the id so every row has one place.
# Nullable keys (due_at, queue_due) sort NULLS LAST in both directions, as SORTS does.
KEYSETS: dict[str, tuple[tuple[str, bool, str], ...]] = {
    "received": (("received_at", False, "dt"), ("id", False, "int")),
    "-received": (("received_at", True, "dt"), ("id", True, "int")),
    "due": (("due_at", False, "dt?"), ("id", False, "int")),
    "-due": (("due_at", True, "dt?"), ("id", True, "int")),
    "level": (("level_rank", False, "int"), ("due_at", False, "dt?"), ("id", False, "int")),
    "-level": (("level_rank", True, "int"), ("due_at", False, "dt?"), ("id", False, "int")),
    "queue_due": (("queue_due", False, "dt?"), ("id", False, "int")),
    "number": (("number", False, "str"), ("id", False, "int")),
    "-number": (("number", True, "str"), ("id", True, "int")),
}


def _keyset_order(keys) -> list:
    out = []
    for name, desc, kind in keys:
        expr = F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_last=True)
        out.append(expr if kind.endswith("?") else (f"-{name}" if desc else name))
    return out


def encode_cursor(row: Case, sort: str) -> str:
    """The position after `row` in the keyset order of `sort`, as an opaque URL-safe token."""
    values = []
    for name, _desc, _kind in KEYSETS[sort]:
        v = getattr(row, name, None)
        values.append(v.isoformat() if isinstance(v, dt.datetime) else v)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(token: str, sort: str) -> list | None:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        keys = KEYSETS[sort]
        if not isinstance(raw, list) or len(raw) != len(keys):
            return None
        values = []
        for (_name, _desc, kind), v in zip(keys, raw, strict=True):
            if v is None and kind.endswith("?"):
                values.append(None)
            elif kind.startswith("dt"):
                values.append(dt.datetime.fromisoformat(v))
            elif kind == "int":
                values.append(int(v))
            else:
                values.append(str(v))
        return values
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        return None


def _after_q(keys, values) -> Q:
    """Rows strictly after `values` in the keyset order: lexicographic, with NULLs last."""
    result = Q(pk__in=[])
    equal = Q()
    for (name, desc, kind), v in zip(keys, values, strict=True):
        nullable = kind.endswith("?")
        if v is None:
            # Nothing but NULLs follows a NULL; the next key decides among them.
            equal &= Q(**{f"{name}__isnull": True})
            continue
        beyond = Q(**{f"{name}__{'lt' if desc else 'gt'}": v})
        if nullable:
            beyond |= Q(**{f"{name}__isnull": True})
        result |= equal & beyond
        equal &= Q(**{name: v})
    return result


def keyset_page(
    qs: QuerySet[Case], sort: str, cursor: str | None, size: int
) -> tuple[list[Case], str | None]:
    """One page of `qs` in the keyset order of `sort`, after `cursor` (None: from the start), and the
    cursor of the next page (None when this is the last). No OFFSET and no COUNT: any depth costs the
    same."""
    keys = KEYSETS.get(sort) or KEYSETS["-received"]
    sort = sort if sort in KEYSETS else "-received"
    if any(name == "level_rank" for name, _d, _k in keys):
        qs = qs.annotate(level_rank=LEVEL_RANK)
    qs = qs.order_by(*_keyset_order(keys))
    if cursor:
        values = _decode_cursor(cursor, sort)
        if values is not None:
            qs = qs.filter(_after_q(keys, values))
    rows = list(qs[: size + 1])
    next_cursor = encode_cursor(rows[size - 1], sort) if len(rows) > size else None
    return rows[:size], next_cursor


def saved_views(user, queue: str) -> list:
    """The user's own views of this queue, then those shared with their department by others."""
    dept = department_of(user)
    q = Q(owner=user)
    if dept is not None:
        q |= Q(department=dept)
    views = SavedView.objects.filter(q, queue=queue).select_related("owner").order_by("name", "pk")
    return sorted(views, key=lambda v: (v.owner_id != user.pk, v.name))


# --- the inbox, by case ------------------------------------------------------------------------------

# The actions that answer a notification: while the reader may still take one, the message needs action.
ANSWERED_BY = {
    "handoff.assigned": {"accept", "assign", "start_investigation"},
    "handoff.new_case": {"accept", "mark_invalid", "answer_on_the_spot"},
    "handoff.report": {"accept", "assign", "start_investigation"},
    "handoff.collaboration": {"answer_collaboration"},
    "handoff.panel": {"record_preliminary_opinion", "decide_panel", "confirm_panel"},
    "handoff.collaboration_request": {"decide_collaboration_request"},
    "handoff.panel_request": {"decide_panel_request"},
    "handoff.approval": {"approve", "reject"},
    "handoff.reopened": {"start_investigation", "propose_remedy", "reply"},
    "handoff.archive_access": {"decide_archive_access"},
    "accountability.proposed": {"confirm_accountability", "waive_accountability"},
    "sla.warning": {"start_investigation", "propose_remedy", "reply", "close", "answer_collaboration"},
    "sla.escalation": {"start_investigation", "propose_remedy", "reply", "close", "assign"},
}


@dataclass
class InboxGroup:
    case: Case | None
    items: list
    needs_action: bool
    unread: int
    # The moves the reader may make now that answer these messages (the case link opens that form).
    act: str = ""


def inbox_groups(user, notifications) -> list[InboxGroup]:
    """The inbox grouped by case (newest first), each group marked when the reader still has to act."""
    groups: dict[int | None, InboxGroup] = {}
    order: list[int | None] = []
    for n in notifications:
        key = n.case_id if n.case_id is not None else -n.pk  # messages without a case stand alone
        if key not in groups:
            groups[key] = InboxGroup(case=n.case, items=[], needs_action=False, unread=0)
            order.append(key)
        g = groups[key]
        g.items.append(n)
        g.unread += n.read_at is None
    for g in groups.values():
        wanted = set().union(*(ANSWERED_BY.get(n.kind, set()) for n in g.items))
        if g.case is not None and wanted:
            moves = [a for a in allowed_actions(g.case, user) if a in wanted]
            g.needs_action = bool(moves)
            g.act = ",".join(moves)
            for n in g.items:
                n.needs_action = g.needs_action and n.kind in ANSWERED_BY
    return [groups[k] for k in order]


# --- the rows of one case page ----------------------------------------------------------------------


class CaseReads:
    """The rows of one case that its page shows and its action forms choose from, each read once, in
    the order of their ids: the case page read the collaboration, panel, proposal and accountability
    rows two or three times (its panels, then the forms that decide them; issue 19, profiled). Read
    lazily: a page whose forms do not need a kind of row and whose panel is empty reads it once. A set
    the case's own statement found empty (`get_case(parts=True)`, `has_part`) is not read at all: most
    cases have none of most of these rows (issue 19: ten of the page's statements)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self._reply_values: dict[int | None, dict[str, str]] = {}
        self._reply_choices: dict[tuple[int | None, str], list[tuple[str, str]]] = {}

    def reply_choices(self, user, purpose: str) -> list[tuple[str, str]]:
        """`replies.choices_for` once per reader and purpose (the reply form's draft and the picker
        read the same templates: three reads of the templates and of the latest proposal before), the
        placeholders' values computed once from the page's proposals."""
        key = (user.pk, purpose)
        if key not in self._reply_choices:
            templates = replies.templates_for(self.case, purpose)
            if templates and user.pk not in self._reply_values:
                self._reply_values[user.pk] = replies.values_for(self.case, user, self.proposals)
            values = self._reply_values.get(user.pk, {})
            self._reply_choices[key] = [(t.name, replies.fill(t.body, values)) for t in templates]
        return self._reply_choices[key]

    def _has(self, part: str) -> bool:
        return has_part(self.case, part)

    @cached_property
    def collaborations(self) -> list[CollaborationRequest]:
        if not self._has("collaborations"):
            return []
        return list(
            CollaborationRequest.objects.filter(case=self.case)
            .select_related("to_department", "from_department", "requested_by", "answered_by")
            .order_by("pk")
        )

    @cached_property
    def reviews(self) -> list[PanelReview]:
        if not self._has("panel_reviews"):
            return []
        return list(
            PanelReview.objects.filter(case=self.case)
            .select_related("chair")
            .prefetch_related("participants__user")
            .order_by("pk")
        )

    @cached_property
    def proposals(self) -> list[Proposal]:
        if not self._has("proposals"):
            return []
        return list(
            Proposal.objects.filter(case=self.case)
            .select_related("proposed_by")
            .prefetch_related("steps__approver")
            .order_by("pk")
        )

    @cached_property
    def accountabilities(self) -> list[Accountability]:
        if not self._has("accountabilities"):
            return []
        return list(Accountability.objects.filter(case=self.case).select_related("person").order_by("pk"))

    @cached_property
    def emergency_plan(self) -> EmergencyPlan | None:
        if not self._has("emergency_plan"):
            return None
        return EmergencyPlan.objects.filter(case=self.case).select_related("leader").first()

    @cached_property
    def typical(self) -> TypicalCase | None:
        if not self._has("typical"):
            return None
        return TypicalCase.objects.filter(case=self.case).select_related("marked_by").first()

    @cached_property
    def follow_ups(self) -> list[FollowUp]:
        """The follow-up visits (the page's panel; the follow-up form asks whether this closing's visit
        is done)."""
        if not self._has("follow_ups"):
            return []
        return list(FollowUp.objects.filter(case=self.case).select_related("agent").order_by("pk"))

    @cached_property
    def attachments(self) -> list[Attachment]:
        if not self._has("attachments"):
            return []
        return attachments_of(self.case)

    @cached_property
    def submissions(self) -> list[RegulatorSubmission]:
        if not self._has("regulator_submissions"):
            return []
        return list(
            RegulatorSubmission.objects.filter(case=self.case)
            .select_related("sent_by")
            .order_by("sent_at", "pk")
        )

    @cached_property
    def involved_staff(self) -> list:
        """The recorded 涉事人员 (users, with their staff and department rows)."""
        if not self._has("involved_staff"):
            return []
        return list(self.case.involved_staff.select_related("staff__department"))

    @cached_property
    def pending_archive_requests(self) -> list[ArchiveAccessRequest]:
        if not self._has("archive_requests"):
            return []
        return list(
            ArchiveAccessRequest.objects.filter(
                case=self.case, state=ArchiveAccessRequest.State.PENDING
            ).select_related("requester")
        )

    @cached_property
    def stage_deadlines(self) -> list[StageDeadline]:
        """Every stage deadline of the case (kesu.sla's order: starts_at, id), for the deadline panel
        and the extension form's open stages (read twice before; issue 19)."""
        return sla_selectors.case_deadlines(self.case)
