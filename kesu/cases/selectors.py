"""Reads of cases, scoped by the reader's permissions (ARCHITECTURE.md invariant 5)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import BooleanField, Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases import permissions, prepared
from kesu.cases.models import (
    OPEN_STATUSES,
    Accountability,
    ArchiveAccessRequest,
    Attachment,
    Case,
    CaseEvent,
    CollaborationRequest,
    EmergencyPlan,
    FollowUp,
    Kind,
    Level,
    PanelReview,
    Proposal,
    RegulatorSubmission,
    Status,
    TypicalCase,
)
from kesu.cases.phones import normalize_phone
from kesu.cases.storable import unstorable_text
from kesu.errors import Forbidden, Invalid, NotFound
from kesu.org import roles
from kesu.org.i18n import row_name
from kesu.org.models import Department
from kesu.org.selectors import has_role
from kesu.policy.models import Category, Channel


@dataclass
class CaseFilters:
    status: list[str] | None = None
    level: list[str] | None = None
    kind: list[str] | None = None
    department: str | None = None  # department code; includes its subtree
    handler: int | None = None
    category: str | None = None  # category code; includes its subtree
    channel: list[str] | None = None
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None
    overdue: bool | None = None
    open_only: bool = False
    text: str | None = None
    # Whether `text` may match personal identifiers (phone, ID number, e-mail, name) by their full value.
    # Only for readers who see them unmasked (kesu.trust.pii.can_see_pii) — otherwise the search is an
    # oracle that recovers a masked phone in 10,000 tries. Set by the web/API layer, which audits it.
    identifiers: bool = False


_PHONE_SHAPE = re.compile(r"^\+?[\d\s-]{5,20}$")
_ID_SHAPE = re.compile(r"^\d{15}$|^\d{17}[\dXx]$")


def searches_identifiers(text: str | None) -> bool:
    """True when a search text has the shape of a phone number, an ID card number or an e-mail address
    (what a search by personal identifier looks like, for the audit log)."""
    text = (text or "").strip()
    if not text:
        return False
    if "@" in text:
        return True
    return bool(_ID_SHAPE.match(text)) or (
        bool(_PHONE_SHAPE.match(text)) and 5 <= len(normalize_phone(text)) <= 15
    )


def check_filters(f: CaseFilters) -> CaseFilters:
    """Refuse (422, naming the field) filter values that cannot mean anything: an unknown status,
    level, kind, channel, department or category code, or text with a NUL. Ignoring them would widen
    or empty the list silently; a NUL makes SQLite's LIKE match every case and PostgreSQL fail."""
    problems: dict[str, str] = {}
    for name, allowed in (("status", Status.values), ("level", Level.values), ("kind", Kind.values)):
        unknown = [v for v in getattr(f, name) or [] if v not in allowed]
        if unknown:
            problems[name] = _("未知取值：") + "、".join(unknown)
    if f.channel:
        known = set(Channel.objects.filter(code__in=f.channel).values_list("code", flat=True))
        unknown = [v for v in f.channel if v not in known]
        if unknown:
            problems["channel"] = _("未知渠道：") + "、".join(unknown)
    for name, model in (("department", Department), ("category", Category)):
        code = getattr(f, name)
        if code and (unstorable_text(code) or not model.objects.filter(code=code).exists()):
            problems[name] = _("未知编码：") + code.replace("\x00", "")
    if f.text and unstorable_text(f.text):
        problems["text"] = _("含有 NUL 等无法处理的字符")
    if problems:
        raise Invalid(_("筛选条件无效：") + "、".join(problems), details=problems)
    return f


def filter_cases(qs: QuerySet[Case], f: CaseFilters, *, now: dt.datetime | None = None) -> QuerySet[Case]:
    now = now or timezone.now()
    if f.status:
        qs = qs.filter(status__in=f.status)
    if f.open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if f.level:
        qs = qs.filter(level__in=f.level)
    if f.kind:
        qs = qs.filter(kind__in=f.kind)
    if f.department:
        qs = qs.filter(Q(department__code=f.department) | Q(department__path__contains=f"/{f.department}/"))
    if f.handler:
        qs = qs.filter(handler_id=f.handler)
    if f.category:
        qs = qs.filter(category__path__contains=f"/{f.category}/")
    if f.channel:
        qs = qs.filter(channel__code__in=f.channel)
    if f.received_from:
        qs = qs.filter(received_at__gte=f.received_from)
    if f.received_to:
        qs = qs.filter(received_at__lt=f.received_to)
    if f.overdue is True:
        qs = qs.filter(status__in=OPEN_STATUSES, due_at__lt=now)
    elif f.overdue is False:
        qs = qs.exclude(status__in=OPEN_STATUSES, due_at__lt=now)
    if f.text:
        text = f.text.strip()
        q = Q(number=text) | Q(description__contains=text) | Q(subject__contains=text) | Q(subject_no=text)
        if f.identifiers:
            q |= Q(customer__name=text) | Q(customer__id_number=text) | Q(customer__email__iexact=text)
            phone = normalize_phone(text)
            q |= Q(customer__phone=text) | (Q(customer__phone=phone) if phone else Q(pk__in=[]))
        qs = qs.filter(q)
    return qs


def list_cases(user, filters: CaseFilters | None = None) -> QuerySet[Case]:
    """The cases this user may see, filtered, newest first (ordered by `-received_at, -id` for cursors)."""
    qs = permissions.visible_cases(
        user, Case.objects.select_related("channel", "category", "department", "handler")
    )
    if filters:
        qs = filter_cases(qs, filters)
    return qs.order_by("-received_at", "-id")


# The related sets of a case the API detail presents, each with the model holding it. Most cases have
# none of most of them: `get_case(parts=True)` tells in the case's own statement which are non-empty
# (one EXISTS each, answered from the foreign key's index), so the reader skips a query per empty set.
PART_MODELS: dict[str, type] = {
    "collaborations": CollaborationRequest,
    "panel_reviews": PanelReview,
    "proposals": Proposal,
    "follow_ups": FollowUp,
    "accountabilities": Accountability,
    "archive_requests": ArchiveAccessRequest,
    "attachments": Attachment,
    "emergency_plan": EmergencyPlan,
    "typical": TypicalCase,
    "regulator_submissions": RegulatorSubmission,
    "involved_staff": Case.involved_staff.through,
}


def _part_flags() -> dict[str, RawSQL]:
    """`has_<part>`: one EXISTS per related set, written as SQL once per process. The same EXISTS as
    `Exists(model.objects.filter(case_id=OuterRef("pk")))`, whose eleven subqueries the ORM compiled on
    every call: ~4 ms of CPU per case read on SQLite (issue 19, the case page)."""
    if not _PART_FLAGS:
        case_table = connection.ops.quote_name(Case._meta.db_table)
        for part, model in PART_MODELS.items():
            column = connection.ops.quote_name(model._meta.get_field("case").column)
            table = connection.ops.quote_name(model._meta.db_table)
            sql = f"EXISTS (SELECT 1 FROM {table} WHERE {table}.{column} = {case_table}.id)"
            _PART_FLAGS[f"has_{part}"] = sql
    return {name: RawSQL(sql, (), output_field=BooleanField()) for name, sql in _PART_FLAGS.items()}


_PART_FLAGS: dict[str, str] = {}


def has_part(case: Case, part: str) -> bool:
    """Whether `case` may have rows in the related set `part` (a PART_MODELS key): False only when it was
    read with `get_case(parts=True)` and has none; a case read otherwise answers True (read to know)."""
    return getattr(case, f"has_{part}", True)


def get_case(
    user,
    *,
    number: str | None = None,
    pk: int | None = None,
    archive_check: bool = True,
    parts: bool = False,
    policy_row: bool = True,
) -> Case:
    """One case for reading; 404 when it does not exist *or the user may not see it* (one answer for both,
    so that a number cannot be confirmed), 403 when the user sees the case but not its archived file
    (`archive_check=False`: the case itself, to ask for access to its archived file). `parts`: also tell
    which related sets are non-empty (`has_part`), for a reader that presents them all. `policy_row=False`:
    not the policy's row with the case (its rule document is ~15 KB of JSON decoded per read), for a
    reader that needs only `policy_id` (the rules come from the per-process cache, `rules_for`)."""
    by, value = ("number", number) if number else ("pk", pk)
    case = _read_case(by, value, parts=parts, policy_row=policy_row)
    if case is None or not permissions.can_view(user, case):
        raise NotFound(_("案件不存在"))
    if archive_check and not permissions.can_read_archived(user, case):
        raise Forbidden(_("调阅归档案件须经档案管理员批准"), code="archive_access_required")
    return case


def _case_statement(by: str, parts: bool, policy_row: bool):
    """What `get_case` reads: the case with its related rows and, with `parts`, its flags (one shape of
    the statement per argument set, compiled once per connection by `prepared.fetch`: compiling its six
    tables' columns was ~1.7 ms of CPU per case page, reading the row ~0.6; issue 19, profiled)."""

    def build(value: Any) -> QuerySet:
        related = ["channel", "category", "department", "handler", "customer"]
        qs = Case.objects.select_related(*related, *(["policy"] if policy_row else []))
        if parts:
            qs = qs.annotate(**_part_flags())
        return qs.filter(**{by: value}).order_by()[:1]  # a unique lookup: no ORDER BY

    return build


def _read_case(by: str, value: Any, *, parts: bool, policy_row: bool) -> Case | None:
    # The lookup's value as the ORM prepares it: converted by the field (a bad value raises as the
    # ORM's does), and an integer out of the column's range matches nothing (it would not fit the
    # driver's parameter: the API's fuzzing sends such ids). tests/cases/test_compiled_read.py compares
    # the Case with the QuerySet's.
    field = Case._meta.pk if by == "pk" else Case._meta.get_field(by)
    value = field.get_prep_value(value)
    if value is None:
        return None  # `= NULL` matches no row
    internal = field.get_internal_type()
    if "Integer" in internal or "Auto" in internal:
        low, high = connections[DEFAULT_DB_ALIAS].ops.integer_field_range(internal)
        if (low is not None and value < low) or (high is not None and value > high):
            return None
    found = prepared.fetch(
        ("get_case", by, parts, policy_row), _case_statement(by, parts, policy_row), [value]
    )
    return found[0] if found else None


def case_for_reporter(number: str, token: str) -> Case:
    """An anonymous reporter follows their whistle-blowing report with the secret token (never 403: a
    wrong token looks exactly like a missing case)."""
    from kesu.cases.services import verify_reporter_token

    case = Case.objects.filter(number=number, kind="report").first()
    if case is None or not verify_reporter_token(case, token):
        raise NotFound(_("案件不存在"))
    return case


@dataclass(frozen=True)
class RespondentCount:
    department_code: str | None
    department_name: str | None
    staff_id: int | None
    staff_name: str | None
    name: str  # the complainant's own words for the respondent, when no staff member is recorded
    total: int
    open: int


def counts_by_respondent(
    user, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[RespondentCount]:
    """被投诉人统计: the cases this user may see, counted by whom they are about (unit, person, or
    the name the complainant gave), most complained-about first. Cases without a respondent are left out."""
    qs = permissions.visible_cases(user, Case.objects.all()).filter(
        Q(respondent_department__isnull=False) | Q(respondent_staff__isnull=False) | ~Q(respondent_name="")
    )
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if until is not None:
        qs = qs.filter(received_at__lt=until)
    rows = (
        qs.values(
            "respondent_department__code",
            "respondent_department__name",
            "respondent_department__name_en",
            "respondent_staff_id",
            "respondent_staff__username",
            "respondent_staff__first_name",
            "respondent_staff__last_name",
            "respondent_name",
        )
        .annotate(total=Count("id"), open=Count("id", filter=Q(status__in=OPEN_STATUSES)))
        .order_by()
    )
    out: dict[tuple, RespondentCount] = {}
    for r in rows:
        staff_name = None
        if r["respondent_staff_id"]:
            full = f"{r['respondent_staff__last_name']}{r['respondent_staff__first_name']}".strip()
            staff_name = full or r["respondent_staff__username"]
        # A recorded person or unit groups the cases; the free-text name only groups what has neither.
        name = "" if (r["respondent_staff_id"] or r["respondent_department__code"]) else r["respondent_name"]
        key = (r["respondent_department__code"], r["respondent_staff_id"], name)
        prev = out.get(key)
        out[key] = RespondentCount(
            r["respondent_department__code"],
            row_name(r, "respondent_department"),
            r["respondent_staff_id"],
            staff_name,
            name,
            r["total"] + (prev.total if prev else 0),
            r["open"] + (prev.open if prev else 0),
        )
    return sorted(out.values(), key=lambda c: (-c.total, c.department_code or "", c.staff_id or 0, c.name))


def counts_in_closing_rate(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Finished cases that count in the closing-rate KPI: special closures (001 篇10) are excluded
    from the rate but remain in every volume figure."""
    return qs.exclude(is_special_closure=True).exclude(closing_criterion="special")


def timeline(case: Case, *, public_only: bool = False) -> QuerySet[CaseEvent]:
    qs = case.events.select_related("actor").order_by("seq")
    return qs.filter(is_public=True) if public_only else qs


# --- the typical-case library and the regulator submissions ------------------------------------------


def typical_cases(user, *, text: str = "", limit: int = 50) -> QuerySet:
    """The typical-case library (典型案例) as `user` may read it: only cases the reader may see, never a
    whistle-blowing report (not even for risk/compliance), newest first; `text` searches the lesson, the
    subject, the description and the category. Masking the personal data in what is shown is the
    presenters' job (kesu.trust.pii.mask_text)."""
    visible = permissions.visible_cases(user, Case.objects.exclude(kind=Kind.REPORT))
    qs = TypicalCase.objects.filter(case__in=visible.values("pk")).select_related(
        "case", "case__category", "case__customer", "marked_by"
    )
    text = (text or "").strip()[:100]
    if unstorable_text(text):
        raise Invalid(_("含有 NUL 等无法处理的字符"), details={"q": _("含有无法处理的字符")})
    if text:
        qs = qs.filter(
            Q(lesson__icontains=text)
            | Q(case__subject__icontains=text)
            | Q(case__description__icontains=text)
            | Q(case__category__name__icontains=text)
        )
    return qs.order_by("-marked_at", "-pk")[:limit]


def regulator_submissions(user, *, limit: int = 200) -> QuerySet:
    """The register of archived files sent to regulators, kept by risk/compliance (and the archive
    keeper who sends them); empty for everybody else."""
    if not has_role(user, roles.RISK, roles.ARCHIVIST):
        return RegulatorSubmission.objects.none()
    return RegulatorSubmission.objects.select_related("case", "sent_by").order_by("-sent_at", "-pk")[:limit]


# The related rows a case list names (the web queues' rows, the API's case list), per process: categories
# and channels under the taxonomy's stamp token, departments and people under the organisation's (kesu.org.models.OrgStamp: every write of a
# department, a user's name or a staff row changes it), so another process's rename is seen at the next
# page. Filled lazily by primary key (one query per relation for the keys a page is the first to name),
# so a large staff costs only the people who handle cases. Shared instances: read, never change.
ROW_RELATIONS = ("category", "channel", "department", "handler")
_ROW_TOKEN = {"category": "tax", "channel": "tax", "department": "org", "handler": "org"}
_row_cache: dict[str, dict] = {}
_row_lock = threading.Lock()


def _row_reader(relation: str) -> QuerySet:
    # what the rows show: the name in either language and (the API) the code; a person's name
    if relation == "category":
        return Category.objects.only("code", "name", "name_en")
    if relation == "channel":
        return Channel.objects.only("code", "name", "name_en")
    if relation == "department":
        return Department.objects.only("code", "name", "name_en")
    return get_user_model().objects.only("first_name", "last_name", "username")


def clear_relations_cache() -> None:
    with _row_lock:
        _row_cache.clear()


def attach_relations(rows: list[Case], tax_token: int | None, org_token: int | None) -> list[Case]:
    """Set each row's category, channel, department and handler (read as ids, without joins)
    from the per-process cache, reading the ones it does not hold yet (`*_token`: the stamps' tokens as
    the page read them; None: no stamp row, nothing to key a cache on, so read them for this page)."""
    tokens = {"tax": tax_token, "org": org_token}
    for relation in ROW_RELATIONS:
        token = tokens[_ROW_TOKEN[relation]]
        with _row_lock:
            entry = _row_cache.get(relation)
            known = (
                entry["rows"] if entry is not None and token is not None and entry["token"] == token else {}
            )
        wanted = {getattr(row, f"{relation}_id") for row in rows} - {None}
        missing = wanted - known.keys()
        if missing:
            known = {**known, **{obj.pk: obj for obj in _row_reader(relation).filter(pk__in=missing)}}
            if token is not None:
                with _row_lock:
                    _row_cache[relation] = {"token": token, "rows": known}
        field = Case._meta.get_field(relation)
        for row in rows:
            pk = getattr(row, f"{relation}_id")
            field.set_cached_value(row, known.get(pk) if pk is not None else None)
    return rows
