"""Every write to a case.

`register_case` creates a case; `perform` is the only code that changes a case's
status afterwards (ARCHITECTURE.md invariant 1). Both run in one transaction with
their event, so a case and its timeline never disagree.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases import chain, grading, permissions, prepared, regulator, subscribers
from kesu.cases.actions.after_closing import within_reopen_window
from kesu.cases.actions.common import department_arg, user_arg
from kesu.cases.actions.judging import route_to_recipient
from kesu.cases.context import ActionContext
from kesu.cases.customers import find_or_create
from kesu.cases.models import OPEN_STATUSES, Case, CaseEvent, Customer, IdempotencyRecord, Kind, Status
from kesu.cases.numbering import next_case_number, next_case_numbers
from kesu.cases.phones import normalize_phone, parse_phone
from kesu.cases.storable import insert_rows, update_rows
from kesu.cases.text import is_blank
from kesu.cases.transitions import CREATION_ACTION, TRANSITIONS
from kesu.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    Invalid,
    NotFound,
    VersionConflict,
)
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import department_of, has_role, holds_any_role
from kesu.policy.selectors import active_policy_and_taxonomy, rules_for


@dataclass
class Registration:
    case: Case
    created: bool  # False when an idempotent retry returned the earlier case
    reporter_token: str | None = None  # only for anonymous whistle-blowing, shown once
    # NFRA (intake.count_repeats_once): a same-matter complaint joined the open `case` instead of a new one.
    merged: bool = False
    # A new case: its register event, involved staff and attachments as written (the create endpoint
    # presents them without reading them back).
    event: CaseEvent | None = None
    involved_staff: list | None = None
    attachments: list | None = None


# The registration flags (Case.flag_<name>).
FLAGS = ("injury", "safety", "media", "lawyer", "direct", "senior_management")

REGISTER_FIELDS = {
    "channel",
    "received_at",
    "kind",
    "category",
    "business_type",
    "subject",
    "description",
    "demands",
    "claimed_amount",
    "people_count",
    "subject_no",
    "product",
    "region",
    "branch",
    "customer",
    "flags",
    "is_anonymous",
    "external_source",
    "external_id",
    "client_key",
    "attachments",
    "respondent_name",
    "respondent_staff",
    "respondent_department",
    "involved_staff",
    "occurred_on",
    "known_on",
    "new_facts",
    "customer_due_at",
}


def request_fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


def register_case(
    *,
    actor,
    data: dict[str, Any],
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
    imported: bool = False,
) -> Registration:
    """Register a complaint: validate, find the customer, detect repeats, grade, number, and record the event.

    Idempotent: with an `idempotency_key` (or `client_key` / external id in the data) a retry returns the
    case created the first time; the same key with a different body is refused with 409.
    """
    now = now or timezone.now()
    unknown = set(data) - REGISTER_FIELDS
    if unknown:
        raise Invalid(
            _("未知字段：") + "、".join(sorted(unknown)), details={k: _("未知字段") for k in unknown}
        )
    # One rule for every path (web form, API, batch intake): kesu.cases.permissions.REGISTER_ROLES.
    if getattr(actor, "is_authenticated", False) and not permissions.may_register(actor):
        raise Forbidden(_("您的角色不能登记投诉"), code="role_not_allowed")
    fingerprint = request_fingerprint(data)
    user_for_key = actor if getattr(actor, "is_authenticated", False) else None

    def earlier_under_key() -> Registration | None:
        earlier = (
            IdempotencyRecord.objects.filter(key=idempotency_key, user=user_for_key)
            .select_related("case")
            .first()
        )
        return None if earlier is None else _replay(earlier.case, earlier.request_hash, fingerprint, actor)

    # The idempotency key is not looked up before a new registration (one round trip fewer for every
    # create): the record's unique key refuses a retry at its insert below, which rolls the
    # registration back and answers the earlier one. It is looked up first only where another answer
    # would otherwise come before that insert: an earlier case under the same client key or external
    # id, or a refusal of the body (a retry is answered with its case even when the body would no
    # longer pass, e.g. past a time bar).
    existing = _existing_by_keys(data, user_for_key)
    if existing is not None:
        if idempotency_key and (replayed := earlier_under_key()) is not None:
            return replayed
        return _replay(existing, existing.request_hash, fingerprint, actor)
    try:
        fields = _validated_fields(data, now)
        _refuse_time_barred(fields)
        with transaction.atomic():
            registration = _create(
                actor=actor, fields=fields, data=data, now=now, imported=imported, fingerprint=fingerprint
            )
            if idempotency_key:
                IdempotencyRecord.objects.create(
                    key=idempotency_key, user=user_for_key, request_hash=fingerprint, case=registration.case
                )
    except DomainError:
        if idempotency_key and (replayed := earlier_under_key()) is not None:
            return replayed
        raise
    except IntegrityError:
        # A retry, or a concurrent request with the same key that won the race: answer as the retry it is.
        if idempotency_key and (replayed := earlier_under_key()) is not None:
            return replayed
        existing = _existing_by_keys(data, user_for_key)
        if existing is not None:
            return _replay(existing, existing.request_hash, fingerprint, actor)
        raise
    return registration


# What makes an item of `register_many` take the one-by-one path: rows or side effects the set-based
# path does not write (involved staff, attachments, a report routed to senior management).
_ONE_BY_ONE_FIELDS = ("involved_staff", "attachments")
_IDENTIFIERS = ("id_number", "phone", "policy_no", "account_no")


def register_many(
    actor, items: Sequence[dict[str, Any]], *, now: dt.datetime | None = None
) -> list[Registration | DomainError]:
    """`register_case` for a batch (the intake batch endpoint): one result per item, in order — its
    Registration, or the DomainError that refused it, exactly as `register_case` would answer.

    The items of new complainants (no known customer shares an identifier with them, no other item of
    the batch either) and without earlier keys are registered as a set, in a fixed number of
    statements: the lookups once, the customers, the numbers (one statement), the cases and their
    register events in bulk inserts, and every subscriber once over the set
    (`subscribers.notify_many`: deadlines, rollups, hand-offs). Validation, grading and the events are
    those of `register_case`; a new complainant has no history, so the same-matter count is one. The
    others (a known customer, a retry of an earlier key, attachments …) go through `register_case`
    one by one, each in its own transaction as before.
    """
    now = now or timezone.now()
    results: list[Registration | DomainError | None] = [None] * len(items)
    if getattr(actor, "is_authenticated", False) and not permissions.may_register(actor):
        refusal = Forbidden(_("您的角色不能登记投诉"), code="role_not_allowed")
        return [refusal] * len(items)
    memo: dict[Any, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    retries = set(_retries(items))
    one_by_one: list[int] = []
    for index, data in enumerate(items):
        unknown = set(data) - REGISTER_FIELDS
        if (
            index in retries
            or unknown
            or any(data.get(name) for name in _ONE_BY_ONE_FIELDS)
            or data.get("client_key")
        ):
            # Refused for its fields, a retry, or keyed by the person: as `register_case` answers it.
            one_by_one.append(index)
            continue
        try:
            fields = _validated_fields(data, now, memo)
            _refuse_time_barred(fields)
        except DomainError as exc:
            results[index] = exc
            continue
        if "senior_management" in fields["flags"]:
            one_by_one.append(index)
            continue
        candidates[index] = fields
    one_by_one += _not_new(candidates)
    for index in one_by_one:
        candidates.pop(index, None)
    if candidates:
        try:
            with transaction.atomic():
                for index, registration in _register_set(actor, items, candidates, now).items():
                    results[index] = registration
        except IntegrityError:
            # A concurrent request registered one of these keys first: each item on its own then.
            one_by_one += list(candidates)
    for index in sorted(set(one_by_one)):
        try:
            with transaction.atomic():
                # At its own time, as a single registration: a second complaint of the same person in
                # the batch is received after the first (the repeat count compares the times).
                results[index] = register_case(actor=actor, data=items[index])
        except DomainError as exc:
            results[index] = exc
    return results  # type: ignore[return-value]


def _retries(items: Sequence[dict[str, Any]]) -> list[int]:
    """The items whose external id was registered before (a retry: the earlier case is answered, before
    any validation, as `register_case` does) or comes twice in the batch: one query for the batch."""
    keys = {
        index: (str(data.get("external_source") or ""), data["external_id"])
        for index, data in enumerate(items)
        if data.get("external_id")
    }
    if not keys:
        return []
    if not all(isinstance(key[1], str) for key in keys.values()):
        return sorted(keys)  # refused one by one, with `register_case`'s message
    taken = set(
        Case.objects.filter(external_id__in={key[1] for key in keys.values()}).values_list(
            "external_source", "external_id"
        )
    )
    twice = {key for key, n in Counter(keys.values()).items() if n > 1}
    return [index for index, key in keys.items() if key in taken or key in twice]


def _not_new(candidates: dict[int, dict[str, Any]]) -> list[int]:
    """The candidates that are not new complainants: one query per identifier kind for the batch."""
    out: set[int] = set()
    seen: dict[tuple[str, str], list[int]] = {}
    for index, fields in candidates.items():
        if fields["is_anonymous"]:
            continue
        for name, value in _customer_fields(fields["customer"]).items():
            if name in _IDENTIFIERS and value:
                seen.setdefault((name, value), []).append(index)
    for indexes in seen.values():
        if len(indexes) > 1:
            out.update(indexes)  # the same person twice in the batch: the second is a repeat
    for name in _IDENTIFIERS:
        values = {value for (kind, value) in seen if kind == name}
        if values:
            known = set(Customer.objects.filter(**{f"{name}__in": values}).values_list(name, flat=True))
            for value in known:
                out.update(seen[(name, value)])
    return sorted(out)


def _customer_fields(c: dict[str, Any]) -> dict[str, str]:
    """The customer row's values as `find_or_create` stores them."""
    return {
        "name": str(c.get("name") or "").strip(),
        "phone": normalize_phone(str(c.get("phone") or "")),
        "email": str(c.get("email") or "").strip(),
        "address": str(c.get("address") or "").strip(),
        "id_number": str(c.get("id_number") or "").strip().upper(),
        "policy_no": str(c.get("policy_no") or "").strip(),
        "account_no": str(c.get("account_no") or "").strip(),
    }


def _register_set(
    actor, items: Sequence[dict[str, Any]], candidates: dict[int, dict[str, Any]], now: dt.datetime
) -> dict[int, Registration]:
    """The set-based part of `register_many` (inside its transaction)."""
    order = sorted(candidates)
    customers = {
        index: Customer(**_customer_fields(candidates[index]["customer"]))
        for index in order
        if not candidates[index]["is_anonymous"]
    }
    for customer in customers.values():
        customer.fill_normalized()
    Customer.objects.bulk_create(list(customers.values()))
    numbers = next_case_numbers(now, len(order))
    written: list[tuple[Case, CaseEvent, Any]] = []
    out: dict[int, Registration] = {}
    for index, number in zip(order, numbers, strict=True):
        fields = candidates[index]
        rules = rules_for(fields["policy"])
        case, token = _new_case(
            actor=actor,
            fields=fields,
            data=items[index],
            number=number,
            customer=customers.get(index),
            latest=None,
            earlier_count=0,
            imported=False,
            reopened_from=None,
            fingerprint=request_fingerprint(items[index]),
            rules=rules,
        )
        event = _register_event(
            case, now=now, latest=None, imported=False, reopened_from=None, attachments=[]
        )
        subscribers.before_register(case, event, rules)
        written.append((case, event, rules))
        out[index] = Registration(case, created=True, reporter_token=token, involved_staff=[], attachments=[])
    # `bulk_create` without its per-value compile (kesu.cases.storable.insert_rows), here and below.
    insert_rows([case for case, _e, _r in written])
    for case, event, _rules in written:
        event.case_id = case.pk  # built before the insert (its `case` is this instance): now its id
    subscribers.notify_many(written)
    for (_case, event, _rules), registration in zip(written, out.values(), strict=True):
        event.payload = _jsonable(event.payload)
        chain.seal(event, chain.GENESIS)
        registration.event = event
    insert_rows([event for _case, event, _rules in written])
    return out


def _replay(case: Case | None, stored_hash: str, fingerprint: str, actor) -> Registration:
    """The earlier registration under the same key, only if it is the same request and the caller may
    read that case; otherwise one 409 that says nothing about the case (not whose, not what, not which).

    Anonymous callers (the public portal, signed webhooks) get the replay: their keys are scoped (the
    portal's are server-issued UUIDs among anonymous cases, a webhook's external ids are its source's),
    and they are answered with the case number only.
    """
    same_request = not stored_hash or secrets.compare_digest(stored_hash, fingerprint)
    readable = case is not None and (
        not getattr(actor, "is_authenticated", False) or permissions.may_read(actor, case)
    )
    if not (same_request and readable):
        raise Conflict(_("同一幂等键已用于不同的请求内容"), code="idempotency_key_reused")
    return Registration(case, created=False)


def _existing_by_keys(data: dict[str, Any], creator) -> Case | None:
    """The case registered earlier under the same client key *of the same creator* (None: anonymous),
    or under the same external source and id (an external system's identity, e.g. the importer's)."""
    if data.get("client_key"):
        found = (
            Case.objects.select_related("channel", "category", "department")
            .filter(client_key=data["client_key"], created_by=creator)
            .first()
        )
        if found:
            return found
    if data.get("external_id"):
        return (
            Case.objects.select_related("channel", "category", "department")
            .filter(external_source=data.get("external_source") or "", external_id=data["external_id"])
            .first()
        )
    return None


def _validated_fields(
    data: dict[str, Any], now: dt.datetime, memo: dict[Any, Any] | None = None
) -> dict[str, Any]:
    """The registration's fields, checked. `memo`: the lookups (channel, category, branch, the active
    policy) shared by the items of one batch, each read once for the batch."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    memo = {} if memo is None else memo

    def once(key: Any, read) -> Any:
        if key not in memo:
            memo[key] = read()
        return memo[key]

    # Read once per registration (one query, the per-process caches' checks): the time bar and the
    # case's policy stamp use the same version; channels and categories come from the cached taxonomy.
    policy, taxonomy = once("policy", active_policy_and_taxonomy)
    channel = taxonomy.channels.get(str(data.get("channel") or ""))
    if channel is None:
        errors["channel"] = "未知渠道" if data.get("channel") else "必填"
    out["channel"] = channel

    out["policy"] = policy
    rules = rules_for(policy)
    kind = data.get("kind") or Kind.COMPLAINT
    if kind not in Kind.values or (rules.enabled_kinds and kind not in rules.enabled_kinds):
        errors["kind"] = "未知类型"
    out["kind"] = kind

    category = None
    if data.get("category"):
        category = taxonomy.categories.get(str(data["category"]))
        if category is None:
            errors["category"] = "未知分类"
    out["category"] = category

    description = (data.get("description") or "").strip() if isinstance(data.get("description"), str) else ""
    if is_blank(description):
        errors["description"] = "必填"
    elif len(description) > 20000:
        errors["description"] = "最多 20000 字"
    out["description"] = description

    received_at = data.get("received_at") or now
    if isinstance(received_at, str):
        try:
            received_at = dt.datetime.fromisoformat(received_at)
        except ValueError:
            errors["received_at"] = "时间格式无效"
            received_at = now
    if isinstance(received_at, dt.datetime):
        if timezone.is_naive(received_at):
            received_at = timezone.make_aware(received_at)
        if received_at.year < 1970:
            errors["received_at"] = _("接收时间不合理")
        elif received_at > now + dt.timedelta(minutes=5):
            errors["received_at"] = "接收时间不能晚于当前时间"
    out["received_at"] = received_at
    out["customer_due_at"] = _customer_due_at(data.get("customer_due_at"), received_at, errors)

    try:
        raw_people = data.get("people_count")
        if isinstance(raw_people, bool):
            raise ValueError
        people = 1 if raw_people in (None, "") else int(raw_people)
        if people < 1 or people > 100000:
            raise ValueError
    except (TypeError, ValueError):
        errors["people_count"] = "须为正整数"
        people = 1
    out["people_count"] = people

    amount = data.get("claimed_amount")
    if amount not in (None, ""):
        try:
            amount = Decimal(str(amount)).quantize(Decimal("0.01"))
            if amount < 0 or amount > Decimal("999999999999"):
                raise InvalidOperation
        except InvalidOperation:
            errors["claimed_amount"] = "不是有效金额"
            amount = None
    out["claimed_amount"] = amount if amount not in ("",) else None

    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        errors["customer"] = "格式无效"
        customer = {}
    # The customer table's column widths: every caller (API, web, portal, mail, imports) is held to them.
    for name, limit in (
        ("name", 100),
        ("phone", 30),
        ("email", 254),
        ("address", 300),
        ("id_number", 40),
        ("policy_no", 60),
        ("account_no", 60),
    ):
        if len(str(customer.get(name) or "")) > limit:
            errors[f"customer.{name}"] = f"最多 {limit} 字"
    client_key = data.get("client_key")
    if client_key is not None and (not isinstance(client_key, str) or len(client_key) > 100):
        errors["client_key"] = "最多 100 字"
    anonymous = bool(data.get("is_anonymous"))
    # An anonymous complaint is registered where the rules count it before judging it invalid
    # (003 天翼 第八条: 匿名投诉 is an invalid complaint, recorded with its reason); elsewhere only reports.
    if anonymous and kind != Kind.REPORT and not rules.section("intake").get("anonymous_complaints"):
        errors["is_anonymous"] = "只有举报可以匿名"
    elif anonymous and not rules.section("whistleblowing").get("anonymous_allowed", True):
        errors["is_anonymous"] = "本公司规则不受理匿名举报，请留下姓名和联系方式"
    # The one phone normaliser (kesu.cases.phones), whichever way the case came in: what is stored is
    # the form that search, customer matching and repeat detection compare.
    phone, phone_reason = parse_phone(str(customer.get("phone") or ""))
    if phone_reason:
        errors["customer.phone"] = _(phone_reason)
    elif not anonymous and not (phone or customer.get("email") or customer.get("address")):
        errors["customer.phone"] = "须提供至少一种联系方式（电话、邮箱或地址）"
    if customer.get("phone"):
        customer = {**customer, "phone": phone}
    out["customer"] = customer
    out["is_anonymous"] = anonymous

    flags = data.get("flags") or []
    bad_flags = [f for f in flags if f not in FLAGS]
    if bad_flags:
        errors["flags"] = "未知标记：" + "、".join(map(str, bad_flags))
    elif "senior_management" in flags and kind != Kind.REPORT:
        errors["flags"] = _("只有举报可以标记涉及高级管理人员")
    out["flags"] = flags

    for name, limit in (
        ("subject", 200),
        ("demands", 5000),
        ("subject_no", 60),
        ("product", 100),
        ("region", 40),
        ("business_type", 40),
        ("external_source", 40),
        ("external_id", 100),
    ):
        value = data.get(name) or ""
        if not isinstance(value, str):
            errors[name] = "必须是文本"
        elif len(value) > limit:
            errors[name] = f"最多 {limit} 字"
        out[name] = value.strip() if isinstance(value, str) else ""

    if out["business_type"] and rules.business_types and out["business_type"] not in rules.business_types:
        errors["business_type"] = "未知业务类型"

    # Evidence files stored beforehand by kesu.cases.attachments.store_file (e.g. by the public portal,
    # where no staff member can perform the `attach` action): recorded with the registration.
    out["attachments"] = []
    files = data.get("attachments") or []
    if not isinstance(files, list) or len(files) > 20:
        errors["attachments"] = "格式无效"
    else:
        from kesu.cases.attachments import STORED_NAME_RE, stored_file_exists

        for info in files:
            if (
                not isinstance(info, dict)
                or not STORED_NAME_RE.match(str(info.get("stored_name", "")))
                or not stored_file_exists(info["stored_name"])
            ):
                errors["attachments"] = "附件无效或文件不存在"
                break
            out["attachments"].append(info)

    for name in ("occurred_on", "known_on"):
        out[name] = None
        value = data.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, dt.datetime):
            value = value.date()
        elif isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                errors[name] = "日期格式无效"
                continue
        if not isinstance(value, dt.date) or value.year < 1970:
            errors[name] = "日期格式无效"
        elif isinstance(out["received_at"], dt.datetime) and value > timezone.localdate(out["received_at"]):
            errors[name] = "不能晚于接收时间"
        else:
            out[name] = value
    # respondent_staff, with respondent_name and respondent_department: _validate_respondent below.
    out["new_facts"] = bool(data.get("new_facts"))

    out["branch"] = None
    if data.get("branch"):
        branch_code = data["branch"]
        out["branch"] = once(
            ("branch", branch_code), lambda: Department.objects.filter(code=branch_code).first()
        )
        if out["branch"] is None:
            errors["branch"] = "未知机构"
    _validate_respondent(data, out, errors)
    if errors:
        raise Invalid(_("登记信息有误：") + "；".join(f"{k} {v}" for k, v in errors.items()), details=errors)
    return out


def _customer_due_at(value: Any, received_at: Any, errors: dict[str, str]) -> dt.datetime | None:
    """The time the complainant asks to be answered by (001 篇8 六二）1, a hotel guest during the stay):
    an instant after the receipt, since a deadline before the complaint arrived could only be breached."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            errors["customer_due_at"] = _("时间格式无效")
            return None
    if not isinstance(value, dt.datetime):
        errors["customer_due_at"] = _("时间格式无效")
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not 1970 <= value.year <= 2200:
        errors["customer_due_at"] = _("客人要求的解决时间不合理")
    elif isinstance(received_at, dt.datetime) and value <= received_at:
        errors["customer_due_at"] = _("客人要求的解决时间须晚于接收时间")
    else:
        return value
    return None


def _validate_respondent(data: dict[str, Any], out: dict[str, Any], errors: dict[str, str]) -> None:
    """被投诉人/被投诉部门 at registration: a name as the complainant gives it, and where known the staff
    member (user id or username) and the unit (department code)."""
    name = data.get("respondent_name") or ""
    if not isinstance(name, str):
        errors["respondent_name"] = "必须是文本"
        name = ""
    elif len(name) > 100:
        errors["respondent_name"] = "最多 100 字"
    out["respondent_name"] = name.strip()
    out["respondent_staff"] = None
    if data.get("respondent_staff") not in (None, ""):
        try:
            out["respondent_staff"] = user_arg(data["respondent_staff"], "respondent_staff")
        except Invalid:
            errors["respondent_staff"] = "未知人员"
    out["respondent_department"] = None
    if data.get("respondent_department") not in (None, ""):
        try:
            out["respondent_department"] = department_arg(data["respondent_department"])
        except Invalid:
            errors["respondent_department"] = "未知部门"
    # The staff member's own unit when only the person is named: statistics by unit still count it.
    if out["respondent_staff"] is not None and out["respondent_department"] is None:
        out["respondent_department"] = department_of(out["respondent_staff"])
    # 涉事人员: staff who took part in the matter complained about (recusal, kesu.cases.regulator).
    out["involved_staff"] = []
    involved = data.get("involved_staff") or []
    if not isinstance(involved, list) or len(involved) > 20:
        errors["involved_staff"] = "格式无效"
    else:
        for ref in involved:
            try:
                out["involved_staff"].append(user_arg(ref, "involved_staff"))
            except Invalid:
                errors["involved_staff"] = "未知人员"
                break


def _refuse_time_barred(fields: dict[str, Any]) -> None:
    """Regulator time bars (intake.time_bar): 不予受理, refused at registration with the reason."""
    rules = rules_for(fields["policy"])
    barred = regulator.time_bar_refusal(
        rules,
        kind=fields["kind"],
        category_code=fields["category"].code if fields["category"] else "",
        occurred_on=fields["occurred_on"],
        known_on=fields["known_on"],
        received_at=fields["received_at"],
    )
    if barred is None:
        return
    reason = rules.invalidity_reasons.get(barred["reason"], barred["reason"])
    raise Invalid(
        _("超过投诉时效，不予受理：%(reason)s") % {"reason": reason},
        code=barred["reason"],
        details={barred["field"]: _("早于 %(limit)s") % {"limit": barred["limit"]}},
    )


def _merge_into_open(open_case: Case, *, actor, fields: dict[str, Any], now: dt.datetime) -> Registration:
    """NFRA (intake.count_repeats_once): the repeat joins the open case's timeline and counts once."""
    perform(
        open_case.pk,
        "merge_repeat",
        None,
        now=now,
        channel=fields["channel"].code,
        received_at=fields["received_at"].isoformat(),
        description=fields["description"],
        new_facts=fields["new_facts"],
        registered_by=getattr(actor, "username", None) if getattr(actor, "is_authenticated", False) else None,
    )
    open_case.refresh_from_db()
    return Registration(open_case, created=False, merged=True)


def _create(
    *,
    actor,
    fields: dict[str, Any],
    data: dict[str, Any],
    now: dt.datetime,
    imported: bool,
    reopened_from: Case | None = None,
    fingerprint: str = "",
) -> Registration:
    policy = fields["policy"]
    rules = rules_for(policy)
    customer, new_customer = None, False
    if not fields["is_anonymous"]:
        c = fields["customer"]
        customer, new_customer = find_or_create(
            name=str(c.get("name") or ""),
            phone=str(c.get("phone") or ""),
            email=str(c.get("email") or ""),
            address=str(c.get("address") or ""),
            id_number=str(c.get("id_number") or ""),
            policy_no=str(c.get("policy_no") or ""),
            account_no=str(c.get("account_no") or ""),
        )
    # A customer created just now has no earlier complaint: no history to read (two queries).
    earlier_count, latest = (
        (0, None)
        if new_customer
        else grading.count_same_matter(
            customer=customer,
            subject_no=fields["subject_no"],
            category_id=fields["category"].pk if fields["category"] else None,
            before=fields["received_at"],
            window_days=int(rules.grading.get("repeat_window_days", 365)),
            # The same composition kesu.insight compares earlier cases by (subject, description, demands).
            text=" ".join(p for p in (fields["subject"], fields["description"], fields["demands"]) if p),
        )
    )
    if (
        latest is not None
        and not imported
        and reopened_from is None
        and rules.section("intake").get("count_repeats_once")
        and latest.status in (*OPEN_STATUSES, Status.SUSPENDED)
    ):
        return _merge_into_open(latest, actor=actor, fields=fields, now=now)
    case, token = _new_case(
        actor=actor,
        fields=fields,
        data=data,
        number=next_case_number(now),
        customer=customer,
        latest=latest,
        earlier_count=earlier_count,
        imported=imported,
        reopened_from=reopened_from,
        fingerprint=fingerprint,
        rules=rules,
    )
    event = _register_event(
        case,
        now=now,
        latest=latest,
        imported=imported,
        reopened_from=reopened_from,
        attachments=fields["attachments"],
    )
    # What the subscribers settle on the row itself (the binding deadline) is part of its insert.
    subscribers.before_register(case, event, rules)
    case.save()
    event.case_id = case.pk  # built before the insert (its `case` is this instance): now its id
    if fields["involved_staff"]:
        case.involved_staff.set(fields["involved_staff"])
    attachments: list = []
    if fields["attachments"]:
        from kesu.cases.models import Attachment

        attachments = Attachment.objects.bulk_create(
            Attachment(
                case=case,
                original_name=f["original_name"],
                stored_name=f["stored_name"],
                content_type=f["content_type"],
                size=f["size"],
                sha256=f["sha256"],
                uploaded_by=case.created_by,
            )
            for f in fields["attachments"]
        )
    subscribers.notify(case, event, rules)
    # The first link of the case's hash chain, over the payload as it will be read back.
    event.payload = _jsonable(event.payload)
    chain.seal(event, chain.GENESIS)
    event.save(force_insert=True)
    if latest is not None and rules.section("repeats").get("chase_open_case"):
        _chase_open_case(latest, case, now)
    return Registration(
        case,
        created=True,
        reporter_token=token,
        event=event,
        involved_staff=sorted(fields["involved_staff"], key=lambda u: u.pk),
        attachments=attachments,
    )


def _new_case(
    *,
    actor,
    fields: dict[str, Any],
    data: dict[str, Any],
    number: str,
    customer,
    latest: Case | None,
    earlier_count: int,
    imported: bool,
    reopened_from: Case | None,
    fingerprint: str,
    rules,
) -> tuple[Case, str | None]:
    """The new case row, graded, not yet saved; with the anonymous reporter's token (shown once)."""
    token = None
    case = Case(
        number=number,
        client_key=data.get("client_key") or None,
        request_hash=fingerprint,
        external_source=fields["external_source"],
        external_id=fields["external_id"] or None,
        customer=customer,
        is_anonymous=fields["is_anonymous"],
        channel=fields["channel"],
        received_at=fields["received_at"],
        kind=fields["kind"],
        category=fields["category"],
        business_type=fields["business_type"],
        subject=fields["subject"],
        description=fields["description"],
        demands=fields["demands"],
        claimed_amount=fields["claimed_amount"],
        people_count=fields["people_count"],
        subject_no=fields["subject_no"],
        product=fields["product"],
        region=fields["region"],
        branch=fields["branch"],
        respondent_name=fields["respondent_name"],
        respondent_staff=fields["respondent_staff"],
        respondent_department=fields["respondent_department"],
        flag_injury="injury" in fields["flags"],
        flag_safety="safety" in fields["flags"],
        flag_media="media" in fields["flags"],
        flag_lawyer="lawyer" in fields["flags"],
        flag_direct="direct" in fields["flags"],
        occurred_on=fields["occurred_on"],
        known_on=fields["known_on"],
        customer_due_at=fields["customer_due_at"],
        first_responder=actor if getattr(actor, "is_authenticated", False) else None,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        policy=fields["policy"],
        is_imported=imported,
        is_confidential=fields["kind"] == Kind.REPORT,
        reopened_from=reopened_from,
    )
    if "senior_management" in fields["flags"]:
        route_to_recipient(case, rules)
    if case.is_anonymous:
        token = secrets.token_urlsafe(24)
        case.reporter_token_hash = hashlib.sha256(token.encode()).hexdigest()
    case.repeat_count = earlier_count + 1
    case.repeat_of = latest
    case.level, case.level_reasons = grading.grade(case, rules, channel_is_crisis=case.channel.is_crisis)
    return case, token


def _register_event(
    case: Case,
    *,
    now: dt.datetime,
    latest: Case | None,
    imported: bool,
    reopened_from: Case | None,
    attachments: list,
) -> CaseEvent:
    """The case's first event (seq 1), not yet sealed or written."""
    return CaseEvent(
        case=case,
        seq=1,
        actor=case.created_by,
        action=CREATION_ACTION,
        from_status="",
        to_status=case.status,
        created_at=now,
        is_public=True,
        payload={
            "channel": case.channel.code,
            "kind": case.kind,
            "level": case.level,
            "level_reasons": case.level_reasons,
            "repeat_of": latest.number if latest else None,
            "repeat_count": case.repeat_count,
            "imported": imported,
            **({"recipient_role": case.report_recipient_role} if case.report_recipient_role else {}),
            **({"reopened_from": reopened_from.number} if reopened_from else {}),
            **({"attachments": [f["original_name"] for f in attachments]} if attachments else {}),
        },
    )


def _chase_open_case(earlier: Case, repeat: Case, now: dt.datetime) -> None:
    """The customer complains again while the earlier case is still being handled: besides the new
    (linked, counted) case, the open one is chased — 催办 on its timeline, its handler and supervisor told
    (003 电信分公司 ㈡2, behind the preset's `repeats.chase_open_case`). A finished case is not chased:
    the new case is the matter coming back."""
    if earlier.status in (*OPEN_STATUSES, Status.SUSPENDED):
        perform(earlier, "chase", None, now=now, repeat=repeat.number)


def _continuation_data(case: Case, reason: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    c = case.customer
    customer = (
        {
            "name": c.name,
            "phone": c.phone,
            "email": c.email,
            "address": c.address,
            "id_number": c.id_number,
            "policy_no": c.policy_no,
            "account_no": c.account_no,
        }
        if c is not None
        else {}
    )
    data: dict[str, Any] = {
        "channel": case.channel.code,
        "kind": case.kind,
        "category": case.category.code if case.category_id else None,
        "business_type": case.business_type,
        "subject": case.subject,
        "description": f"续案（原案 {case.number}）：{reason}\n\n{case.description}"[:20000],
        "demands": case.demands,
        "people_count": case.people_count,
        "subject_no": case.subject_no,
        "product": case.product,
        "region": case.region,
        "branch": case.branch.code if case.branch_id else None,
        "customer": customer,
        "is_anonymous": case.is_anonymous,
        "flags": [f for f in FLAGS if getattr(case, f"flag_{f}")],
        "respondent_name": case.respondent_name,
        # A respondent who has since left is kept by name only: the new case cannot point at an inactive user.
        "respondent_staff": case.respondent_staff_id
        if case.respondent_staff_id and case.respondent_staff.is_active
        else None,
        "respondent_department": case.respondent_department.code if case.respondent_department_id else None,
        "involved_staff": [u.pk for u in case.involved_staff.filter(is_active=True)],
    }
    data.update(overrides or {})
    return data


def create_continuation(
    case: Case, *, actor, now: dt.datetime, reason: str, data: dict[str, Any] | None = None
) -> Case:
    """A new case continuing `case` (linked by `reopened_from`), inside the caller's transaction.

    Used when the matter comes back after the reopen window (or after an expired suspension): the old
    case stays closed and the matter is handled, graded and numbered as a new case.
    """
    payload = _continuation_data(case, reason, data)
    unknown = set(payload) - REGISTER_FIELDS
    if unknown:
        raise Invalid(
            _("未知字段：") + "、".join(sorted(unknown)), details={k: _("未知字段") for k in unknown}
        )
    fields = _validated_fields(payload, now)
    with transaction.atomic():
        return _create(
            actor=actor, fields=fields, data=payload, now=now, imported=False, reopened_from=case
        ).case


def open_linked_case(
    case: Case | int,
    actor,
    *,
    reason: str,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Registration:
    """The customer comes back on a finished matter: open a new case linked to the old one.

    Within the reopen window a closed case is reopened instead (`perform(case, "reopen", ...)`), so
    that is refused here with 409 `reopen_instead`; an open case is refused with `case_still_open`.
    The old case records the link in its timeline (`link_continuation`).
    """
    now = now or timezone.now()
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden(_("请先登录"), code="not_authenticated")
    if not holds_any_role(actor, {roles.INTAKE, *TRANSITIONS["accept"].roles}):
        raise Forbidden(_("您的角色不能登记投诉"), code="role_not_allowed")
    reason = (reason or "").strip()
    if is_blank(reason):
        raise Invalid(_("缺少必填项：reason"), details={"reason": _("必填")})
    case_pk = case.pk if isinstance(case, Case) else case
    with transaction.atomic():
        old = Case.objects.select_for_update(of=("self",)).select_related(
            "channel", "category", "customer", "branch"
        )
        old = old.filter(pk=case_pk).first()
        if old is None or not permissions.can_view(actor, old):
            raise NotFound(_("案件不存在"))
        if old.kind == Kind.REPORT and not has_role(actor, roles.RISK):
            raise Forbidden(_("举报案件仅限风险合规人员处理"))
        if old.status not in (Status.CLOSED, Status.INVALID, Status.ANSWERED, Status.ARCHIVED):
            raise Conflict(_("原案尚未办结，请在原案中继续处理"), code="case_still_open")
        ctx = ActionContext(case=old, actor=actor, now=now, rules=rules_for(old.policy_id), data={})
        if old.status == Status.CLOSED and within_reopen_window(ctx):
            raise Conflict(_("原案仍在重新处理期限内，请重新处理原案"), code="reopen_instead")
        new = create_continuation(old, actor=actor, now=now, reason=reason, data=data)
        perform(old, "link_continuation", None, now=now, continuation=new.number, reason=reason)
    return Registration(new, created=True)


def _check_permission(actor, case: Case, action: str, *, visible: bool | None = None) -> None:
    """`visible`: the caller already knows whether the actor may see the case (allowed_actions)."""
    spec = TRANSITIONS[action]
    if actor is None:
        if spec.scope != "system":
            raise Forbidden(_("系统不能代替人员执行此操作"))
        return
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden(_("请先登录"), code="not_authenticated")
    if not (visible if visible is not None else permissions.can_view(actor, case)):
        # The same answer as for a case that does not exist: a 403 would confirm the number.
        raise NotFound(_("案件不存在"))
    if case.kind == Kind.REPORT and not has_role(actor, roles.RISK, roles.ARCHIVIST):
        raise Forbidden(_("举报案件仅限风险合规人员处理"))
    if not holds_any_role(actor, spec.roles):
        raise Forbidden(_("您的角色不能执行「%(action)s」") % {"action": spec.label}, code="role_not_allowed")
    if (
        spec.scope == "department"
        and not _company_wide_for(actor, spec)
        and not permissions.acts_in_department(actor, case)
    ):
        raise Forbidden(
            _("只有责任部门人员可以执行「%(action)s」") % {"action": spec.label},
            code="not_responsible_department",
        )


def _company_wide_for(actor, spec) -> bool:
    return holds_any_role(
        actor, spec.roles & {roles.SUPERVISOR, roles.CS_MANAGER, roles.GENERAL_MANAGER, roles.ADMIN}
    )


def perform(
    case: Case | int,
    action: str,
    actor,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
    **data: Any,
) -> CaseEvent:
    """Apply one lifecycle action to a case: the only writer of a case's status.

    Checks the transition table and the actor's permission, locks the row, refuses a stale
    `expected_version` (409), runs the action's handler, bumps `version`, appends the immutable
    event and calls the case-event subscribers (kesu.cases.subscribers) — all in one transaction.
    """
    spec = TRANSITIONS.get(action)
    if spec is None:
        raise IllegalTransition(_("未知操作：%(action)s") % {"action": action}, code="unknown_action")
    case_pk = case.pk if isinstance(case, Case) else case
    now = now or timezone.now()
    with transaction.atomic():
        # Compiled once per connection (kesu.cases.prepared): compiling it cost ~1 ms of every action.
        found = [] if case_pk is None else prepared.fetch("perform.lock", _locking_query, [int(case_pk)])
        locked = found[0] if found else None
        if locked is None:
            raise NotFound(_("案件不存在"))
        _check_permission(actor, locked, action)
        if expected_version is not None and locked.version != expected_version:
            raise VersionConflict(
                _("案件已被他人更新，请刷新后重试"),
                details={
                    "expected_version": expected_version,
                    "current_version": locked.version,
                    "changes": _events_since(locked, expected_version),
                },
            )
        if locked.status not in spec.from_statuses:
            raise IllegalTransition(
                _("当前状态「%(status)s」不能执行「%(action)s」")
                % {"status": locked.get_status_display(), "action": spec.label},
                details={"status": locked.status, "action": action},
            )
        rules = rules_for(locked.policy_id)
        before = _row_values(locked)
        event = _apply(locked, spec, action, actor, now=now, rules=rules, data=data)
        # What the subscribers settle on the row itself (the binding deadline) joins the handler's
        # changes in the one UPDATE below (it was a second UPDATE of the same row after it).
        subscribers.before_update(locked, event, rules)
        # Only the columns the handler changed (and `updated_at`): what a full save would change.
        locked.save(update_fields=_changed_fields(locked, before))
        # Deadlines, rollups, triage feedback … (settings.KESU_CASE_EVENT_SUBSCRIBERS), then the event.
        subscribers.notify(locked, event, rules)
        event.payload = _jsonable(event.payload)
        # Chained to the case's previous event, read with (or else under) the row lock taken above.
        chain.seal(event, locked.chain_head or None)
        event.save(force_insert=True)
    if isinstance(case, Case):
        _copy_state(locked, case)
    return event


def _locking_query(case_pk: int):
    """The case `perform` locks, with what its checks and handlers read of it."""
    return (
        # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the outer joins.
        Case.objects.select_for_update(of=("self",))
        .select_related("channel", "category", "department")
        # The chain head (the event whose seq is the version) in the same statement: one round
        # trip fewer per action. Its subquery reads the statement's snapshot: when a concurrent
        # action committed while this one waited for the lock, the row comes back with the new
        # version, whose event that snapshot does not hold, so the head is None and `chain.seal`
        # reads it under the lock instead. Raw SQL: an ORM subquery cost more to compile than the
        # separate read it saves.
        .annotate(chain_head=RawSQL(_chain_head_sql(), ()))
        .filter(pk=case_pk)
        .order_by("pk")[:1]
    )


@functools.cache
def _chain_head_sql() -> str:
    """The hash of the case's event whose seq is its version (a correlated subquery of the case row)."""
    q = connection.ops.quote_name
    event, case = q(CaseEvent._meta.db_table), q(Case._meta.db_table)
    return (
        f"SELECT {event}.{q('hash')} FROM {event} "
        f"WHERE {event}.{q('case_id')} = {case}.{q('id')} AND {event}.{q('seq')} = {case}.{q('version')}"
    )


def _case_fields() -> list:
    return [f for f in Case._meta.concrete_fields if not f.primary_key]


def _row_values(case: Case) -> list[Any]:
    # JSON values copied: a handler that changes a list in place (level_reasons) must still differ.
    values = [getattr(case, f.attname) for f in _case_fields()]
    return [copy.deepcopy(v) if isinstance(v, dict | list) else v for v in values]


def _changed_fields(case: Case, before: list[Any]) -> list[str]:
    """The names of the case's columns whose values differ from `before` (`_row_values`), and `updated_at`."""
    fields = _case_fields()
    return sorted(
        {fields[i].name for i, value in enumerate(before) if getattr(case, fields[i].attname) != value}
        | {"updated_at"}
    )


@dataclass
class ManyResult:
    """What `perform_many` did: `events[i]` for `items[i]` (None when refused), `refused[i]` why not."""

    events: list[CaseEvent | None]
    refused: dict[int, DomainError]


def _apply(case: Case, spec, action: str, actor, *, now, rules, data) -> CaseEvent:
    """Run the action's handler on a locked case, bump its version and build (not yet write) the event."""
    from_status = case.status
    outcome = spec.handler(ActionContext(case=case, actor=actor, now=now, rules=rules, data=dict(data)))
    if outcome.to_status:
        case.status = outcome.to_status
    case.version += 1
    return CaseEvent(
        case=case,
        seq=case.version,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=case.status,
        created_at=now,
        payload=_jsonable(outcome.payload),
        is_public=outcome.public,
    )


def perform_many(
    action: str,
    items: Sequence[tuple[int, dict[str, Any]]],
    actor,
    *,
    now: dt.datetime | None = None,
) -> ManyResult:
    """`perform` for a set of cases at once: the same transition table, permission, row locks,
    version, chained immutable events and subscribers, in a fixed number of statements per set.

    `items` are (case id, action data); a case may appear more than once (its events follow each other
    in the list's order, with consecutive `seq` and chained hashes). The rows are locked in id order
    (no deadlock between two sets). A case that is missing, hidden, or in a status the action does not
    start from is refused (in `refused`, by index), as `perform` would refuse it; what the handlers and
    subscribers raise past those checks rolls the whole set back, as it would roll back one `perform`.
    Subscribers that define `on_events` get the set in one call, the others `on_event` per event.
    Callers pass sets of a bounded size (the sweeper: one chunk).

    One `now` for the whole set, on purpose: it is the instant the caller decided the set at (the
    sweeper's escalations were due at its `now`), so every event says when it was owed, and a case's
    several events in one set share it (their order is `seq`, as on every timeline). An event written
    meanwhile by a concurrent `perform` may thus carry a later time and a lower `seq`; the timeline and
    the hash chain follow `seq`. `updated_at` of the cases is the time of writing.
    """
    spec = TRANSITIONS.get(action)
    if spec is None:
        raise IllegalTransition(_("未知操作：%(action)s") % {"action": action}, code="unknown_action")
    now = now or timezone.now()
    events: list[CaseEvent | None] = [None] * len(items)
    refused: dict[int, DomainError] = {}
    if not items:
        return ManyResult(events, refused)
    ids = sorted({pk for pk, _data in items})
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Case.objects.select_for_update(of=("self",))
            .select_related("channel", "category", "department")
            .filter(pk__in=ids)
            .order_by("pk")
        }
        # Every case's chain head (its last event: seq = version), read under the locks taken above.
        heads = dict(
            CaseEvent.objects.filter(case_id__in=list(locked), seq=F("case__version")).values_list(
                "case_id", "hash"
            )
        )
        before = {pk: _row_values(c) for pk, c in locked.items()}
        written: list[tuple[Case, CaseEvent, Any]] = []
        for index, (pk, data) in enumerate(items):
            case = locked.get(pk)
            try:
                if case is None:
                    raise NotFound(_("案件不存在"))
                _check_permission(actor, case, action)
                if case.status not in spec.from_statuses:
                    raise IllegalTransition(
                        _("当前状态「%(status)s」不能执行「%(action)s」")
                        % {"status": case.get_status_display(), "action": spec.label},
                        details={"status": case.status, "action": action},
                    )
            except DomainError as exc:
                refused[index] = exc
                continue
            rules = rules_for(case.policy_id)
            event = _apply(case, spec, action, actor, now=now, rules=rules, data=data)
            events[index] = event
            written.append((case, event, rules))
        # The cases first (as `perform` saves before its subscribers): only the columns that changed.
        changed = [c for pk, c in locked.items() if _row_values(c) != before[pk]]
        if changed:
            names = {name for c in changed for name in _changed_fields(c, before[c.pk])}
            stamp = timezone.now()
            for c in changed:
                c.updated_at = stamp
            update_rows(changed, sorted(names))
        subscribers.notify_many(written)
        for case, event, _rules in written:
            event.payload = _jsonable(event.payload)
            chain.seal(event, heads.get(case.pk, chain.GENESIS))
            heads[case.pk] = event.hash
        CaseEvent.objects.bulk_create([event for _case, event, _rules in written], batch_size=500)
    return ManyResult(events, refused)


def _copy_state(source: Case, target: Case) -> None:
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


def _events_since(case: Case, version: int) -> list[dict]:
    return [
        {"seq": e.seq, "action": e.action, "to_status": e.to_status, "at": e.created_at.isoformat()}
        for e in case.events.filter(seq__gt=version).order_by("seq")
    ]


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload, default=str, ensure_ascii=False))


def verify_reporter_token(case: Case, token: str) -> bool:
    if not case.reporter_token_hash or not token:
        return False
    return secrets.compare_digest(case.reporter_token_hash, hashlib.sha256(token.encode()).hexdigest())


def allowed_actions(case: Case, actor) -> list[str]:
    """The actions this actor may start on this case now (for the UI's buttons)."""
    result = []
    # Visibility is the same for every action: checked once, not once per action (one query each).
    visible = bool(getattr(actor, "is_authenticated", False)) and permissions.can_view(actor, case)
    for name, spec in TRANSITIONS.items():
        if spec.scope == "system" or case.status not in spec.from_statuses:
            continue
        try:
            _check_permission(actor, case, name, visible=visible)
        except (Forbidden, NotFound):
            continue
        result.append(name)
    return result


__all__ = [
    "Registration",
    "register_case",
    "perform",
    "perform_many",
    "register_many",
    "ManyResult",
    "allowed_actions",
    "open_linked_case",
    "create_continuation",
    "verify_reporter_token",
    "Status",
]
