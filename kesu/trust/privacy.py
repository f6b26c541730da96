"""Personal data (PIPL): reveal of a masked field, export of one person's data, retention purge.

- `reveal(user, number, field, reason)`: the full value of one masked field of a case's customer
  (phone, ID number, e-mail, address) for a reader allowed to see the case, with a required reason;
  every reveal is in the audit log (who, when, why, which field, which case).
- `person_data(phone=..., id_number=...)`: everything Kesu holds about one person (customer records
  and their cases with the timeline), for a data subject's request (`kesu pii export`).
- `purge(dry_run=...)`: cases finished longer ago than the retention period of their policy
  (`[archive] retention_years`, or `retention_years_by_kind.<kind>`) lose their personal fields —
  the customer's name/phone/e-mail/address/ID/policy and account numbers (when none of that
  customer's cases is still within retention) and the case's free text — while every statistical
  field (kind, category, channel, department, level, status, dates, amounts) stays, so counts by
  category and month are unchanged (`kesu pii purge --dry-run`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from kesu.cases.models import Case, Customer
from kesu.cases.selectors import get_case, searches_identifiers
from kesu.cases.spreadsheet import safe_cell
from kesu.cases.text import meaningful
from kesu.errors import Forbidden, Invalid
from kesu.org import roles
from kesu.org.i18n import display_name
from kesu.org.selectors import user_roles
from kesu.policy.models import Policy
from kesu.trust import audit
from kesu.trust.pii import PII_ROLES, can_see_pii, mask_email, mask_id, mask_phone

REVEALABLE_FIELDS = {"phone": "电话", "id_number": "证件号码", "email": "电子邮件", "address": "地址"}
# Who may reveal a masked value (with a reason): those who handle complaints, plus the archive keeper
# and the system administrator for archive and data-subject requests. Analysts work on statistics only.
REVEAL_ROLES = PII_ROLES | {roles.ARCHIVIST, roles.ADMIN}
MIN_REASON = 4
DEFAULT_RETENTION_YEARS = 20
PURGED_TEXT = "（已超过保存期限，个人信息已匿名化）"


def reveal(user, number: str, field_name: str, reason: str, *, request=None) -> str:
    """The unmasked value of one field; raises Forbidden/NotFound/Invalid. Always audited."""

    if field_name not in REVEALABLE_FIELDS:
        raise Invalid(
            "不支持查看该字段",
            code="validation_error",
            details={"field": "只能是电话、证件号码、电子邮件或地址"},
        )
    reason = (reason or "").strip()
    # Counted without whitespace and invisible format characters: zero-width spaces are no reason.
    if len(meaningful(reason)) < MIN_REASON:
        raise Invalid(
            f"查看完整信息须填写理由（至少 {MIN_REASON} 个字）",
            code="validation_error",
            details={"reason": "必填"},
        )
    case = get_case(user, number=number)  # 404/403 and the archive rule
    if not set(user_roles(user)) & REVEAL_ROLES:
        audit.record(
            "pii.reveal_refused", user, case, {"field": field_name, "reason": reason[:500]}, request=request
        )
        raise Forbidden("您的角色无权查看完整的个人信息", code="pii_forbidden")
    value = getattr(case.customer, field_name, "") if case.customer_id else ""
    audit.record("pii.reveal", user, case, {"field": field_name, "reason": reason[:500]}, request=request)
    return value or ""


# --- search by personal identifier -------------------------------------------------------------------


def identifier_search(user, text: str | None, *, via: str, request=None) -> bool:
    """May `user`'s search `text` match customers' identifiers (phone, ID number, e-mail, name) by
    their full value? Only roles that see them unmasked (`can_see_pii`): for anyone else a search would
    recover a masked value by trial. Each such search of an identifier-shaped text is audited
    (`pii.search`; the query itself is kept masked in the log).

    The answer goes into `kesu.cases.selectors.CaseFilters.identifiers`.
    """
    if not text or not text.strip() or not can_see_pii(user):
        return False
    if searches_identifiers(text):
        query = text.strip()
        masked = (
            mask_email(query) if "@" in query else mask_id(query) if len(query) >= 15 else mask_phone(query)
        )
        audit.record("pii.search", user, None, {"via": via, "query": masked}, request=request)
    return True


# --- data subject export ----------------------------------------------------------------------------


def _customers(phone: str | None, id_number: str | None, email: str | None) -> list[Customer]:
    q = Q(pk__in=[])
    if phone:
        q |= Q(phone=phone.strip())
    if id_number:
        q |= Q(id_number=id_number.strip())
    if email:
        q |= Q(email__iexact=email.strip())
    return list(Customer.objects.filter(q).order_by("pk"))


def _iso(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def person_data(
    *, phone: str | None = None, id_number: str | None = None, email: str | None = None, actor=None
) -> dict[str, Any]:
    """Everything held about one person, as plain JSON-able data. Audited (`pii.export`)."""
    if not (phone or id_number or email):
        raise Invalid("须提供电话、证件号码或电子邮件之一", code="validation_error")
    customers = _customers(phone, id_number, email)
    cases = (
        Case.objects.filter(customer__in=customers)
        .select_related("category", "channel", "department")
        .order_by("received_at", "pk")
    )
    out_cases = []
    for case in cases:
        out_cases.append(
            {
                "number": case.number,
                "customer_id": case.customer_id,
                "kind": case.kind,
                "channel": display_name(case.channel) if case.channel_id else "",
                "category": display_name(case.category) if case.category_id else "",
                "department": display_name(case.department) if case.department_id else "",
                "received_at": _iso(case.received_at),
                "status": case.status,
                "subject": case.subject,
                "description": case.description,
                "demands": case.demands,
                "subject_no": case.subject_no,
                "closing_criterion": case.closing_criterion,
                "closed_at": _iso(case.closed_at),
                "timeline": [
                    {"seq": e.seq, "action": e.action, "at": _iso(e.created_at), "to_status": e.to_status}
                    for e in case.events.order_by("seq")
                ],
            }
        )
    data = {
        "generated_at": _iso(timezone.now()),
        "query": {"phone": phone or "", "id_number": id_number or "", "email": email or ""},
        "customers": [
            {
                "id": c.pk,
                "name": c.name,
                "phone": c.phone,
                "email": c.email,
                "address": c.address,
                "id_number": c.id_number,
                "policy_no": c.policy_no,
                "account_no": c.account_no,
                "created_at": _iso(c.created_at),
            }
            for c in customers
        ],
        "cases": out_cases,
    }
    audit.record(
        "pii.export",
        actor,
        ("person", (phone or id_number or email or "")[-4:]),
        {"customers": len(customers), "cases": len(out_cases)},
    )
    return data


def write_person_xlsx(data: dict[str, Any], out) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "个人信息"
    cols = ["id", "name", "phone", "email", "address", "id_number", "policy_no", "account_no", "created_at"]
    ws.append(cols)
    for c in data["customers"]:
        ws.append([safe_cell(c[k]) for k in cols])
    ws2 = wb.create_sheet("案件")
    ccols = ["number", "kind", "channel", "category", "department", "received_at", "status", "subject"]
    ccols += ["description", "demands", "subject_no", "closing_criterion", "closed_at"]
    ws2.append(ccols)
    for c in data["cases"]:
        ws2.append([safe_cell(c[k]) for k in ccols])
    ws3 = wb.create_sheet("处理记录")
    ws3.append(["number", "seq", "action", "at", "to_status"])
    for c in data["cases"]:
        for e in c["timeline"]:
            ws3.append([c["number"], e["seq"], e["action"], e["at"], e["to_status"]])
    wb.save(out)


# --- retention ----------------------------------------------------------------------------------------


def retention_years(policy_document: dict[str, Any] | None, kind: str) -> int:
    archive = (policy_document or {}).get("archive", {}) or {}
    by_kind = archive.get("retention_years_by_kind", {}) or {}
    years = by_kind.get(kind, archive.get("retention_years", DEFAULT_RETENTION_YEARS))
    return int(years)


def _years_before(now: dt.datetime, years: int) -> dt.datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


PURGE_CHUNK = 1000
LISTED_NUMBERS = 1000  # case numbers kept in the result and the audit entry; the count is exact


@dataclass
class PurgeResult:
    dry_run: bool
    cases: list[str] = field(default_factory=list)  # the first LISTED_NUMBERS numbers, by id
    customers: int = 0
    case_count: int = 0

    def __str__(self) -> str:
        verb = "将匿名化" if self.dry_run else "已匿名化"
        return f"{verb} {self.case_count} 件超过保存期限的案件，{self.customers} 位客户的个人信息"


def _expired_condition(now: dt.datetime) -> Q:
    """One condition per (policy version, kind) that has finished cases: a handful, whatever the
    number of cases (`order_by()`: the model's default ordering would make `distinct` one row per case)."""
    finished = Case.objects.filter(Q(closed_at__isnull=False) | Q(archived_at__isnull=False))
    pairs = finished.order_by().values_list("policy_id", "kind").distinct()
    documents = dict(
        Policy.objects.filter(pk__in={p for p, _k in pairs}).order_by().values_list("pk", "document")
    )
    q = Q(pk__in=[])
    for policy_id, kind in sorted(pairs):
        cutoff = _years_before(now, retention_years(documents.get(policy_id), kind))
        q |= Q(policy_id=policy_id, kind=kind) & (
            Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, archived_at__lt=cutoff)
        )
    return q


def expired_cases(now: dt.datetime | None = None):
    """Finished cases past their retention period (per policy version and kind), not yet purged."""
    return (
        Case.objects.filter(_expired_condition(now or timezone.now()))
        .exclude(description=PURGED_TEXT)
        .order_by("pk")
    )


def _purgeable_customers(expired):
    """Customers with an expired case and none still within retention (or open): set-based, the
    expired cases as a subquery rather than a list of ids."""
    kept = (
        Case.objects.filter(customer_id=OuterRef("pk"))
        .exclude(description=PURGED_TEXT)
        .exclude(pk__in=expired.order_by().values("pk"))
    )
    return (
        Customer.objects.filter(Exists(expired.filter(customer_id=OuterRef("pk")).order_by()))
        .exclude(Exists(kept.order_by()))
        .order_by("pk")
    )


def _chunks(queryset, size: int = PURGE_CHUNK):
    """The primary keys of `queryset` in ascending slices (keyset pagination: flat memory, and
    each slice re-reads the query, so rows changed by an earlier slice are not skipped)."""
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def purge(*, dry_run: bool = True, now: dt.datetime | None = None, actor=None) -> PurgeResult:
    """Anonymise what is past retention, in chunks inside one transaction (all or nothing)."""
    now = now or timezone.now()
    expired = expired_cases(now)
    result = PurgeResult(dry_run=dry_run)
    result.case_count = expired.count()
    result.cases = list(expired.values_list("number", flat=True)[:LISTED_NUMBERS])
    customers = _purgeable_customers(expired)
    result.customers = customers.count()
    if dry_run or not result.case_count:
        return result
    with transaction.atomic():
        # Customers first: which ones to purge is read from the cases before they are marked.
        for ids in _chunks(customers):
            Customer.objects.filter(pk__in=ids).update(
                name="",
                name_normalized="",
                phone="",
                email="",
                address="",
                id_number="",
                policy_no="",
                account_no="",
            )
        # Purged cases leave `expired` (PURGED_TEXT), so each slice starts again from the last id.
        for ids in _chunks(expired):
            Case.objects.filter(pk__in=ids).update(
                description=PURGED_TEXT, demands="", subject="", subject_no=""
            )
        audit.record(
            "pii.purge",
            actor,
            ("retention", now.date().isoformat()),
            {"cases": result.case_count, "customers": result.customers, "numbers": result.cases},
        )
    return result
