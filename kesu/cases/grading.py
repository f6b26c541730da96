"""Automatic grading (定级) from the policy's rules.

Level by repetition (000 第2篇): 1st normal, 2nd urgent, 3rd+ major. Group complaints and
injury/safety/media/lawyer flags make a case major; a crisis channel (regulator, media,
internet) makes it a crisis. The result is the highest level any rule gives, with the
reasons kept so that a person can see why.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from kesu.cases.customers import same_person_q
from kesu.cases.models import Case, Customer, Kind
from kesu.cases.similarity import same_matter_by_text
from kesu.policy.rules import Rules, max_level


def same_matter_q(*, subject_no: str, category_id: int | None) -> Q:
    """Among one customer's cases, those on the same matter: the same policy/contract/order number
    when both name one, else the same category when both are classified (the intake page separates a
    customer's open cases with it)."""
    q = Q()
    if subject_no:
        q &= Q(subject_no__in=[subject_no, ""])
    if category_id:
        q &= Q(category_id=category_id) | Q(category__isnull=True)
    return q


def count_same_matter(
    *,
    customer: Customer | None,
    subject_no: str,
    category_id: int | None,
    before: dt.datetime,
    window_days: int,
    exclude_pk: int | None = None,
    text: str = "",
) -> tuple[int, Case | None]:
    """How many earlier complaints this customer made on the same matter, and the latest of them.

    Same matter: the same policy/contract/order number when both name one, else the same
    category when both are classified, else any complaint of the customer in the window.
    With `text`, the customer's earlier complaints that describe the same matter in other words
    (similar text, kesu.cases.similarity) count too, unless both name different subject numbers.
    """
    if customer is None:
        return 0, None
    qs = Case.objects.filter(
        same_person_q(customer),
        received_at__lt=before,
        received_at__gte=before - dt.timedelta(days=window_days),
    )
    qs = qs.exclude(kind__in=[Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION]).exclude(status="invalid")
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    qs = qs.filter(same_matter_q(subject_no=subject_no, category_id=category_id))
    matched = {c.pk: c for c in qs.only("pk", "received_at", "number", "subject_no")}
    if text.strip():
        for other in same_matter_by_text(
            customer=customer, text=text, before=before, window_days=window_days
        ):
            if other.pk == exclude_pk or (subject_no and other.subject_no and other.subject_no != subject_no):
                continue
            matched.setdefault(other.pk, other)
    latest = max(matched.values(), key=lambda c: (c.received_at, c.pk), default=None)
    return len(matched), latest


def grade(case: Case, rules: Rules, *, channel_is_crisis: bool) -> tuple[str, list[dict]]:
    g = rules.grading
    level = "normal"
    reasons: list[dict] = []

    def raise_to(new_level: str, rule: str, detail: str) -> None:
        nonlocal level
        level = max_level(level, new_level)
        reasons.append({"rule": rule, "level": new_level, "detail": detail})

    if g.get("by") == "fault":
        # 003 酒店: 轻微/一般/重大 follow the hotel's fault as judged at acceptance, not the repetition.
        if case.fault_level:
            raise_to(
                case.fault_level,
                "fault",
                f"过错程度：{rules.level_label(case.fault_level) or case.fault_level}",
            )
    elif case.repeat_count >= int(g.get("repeat_major_at", 3)):
        raise_to("major", "repeat", f"第{case.repeat_count}次投诉同一事项")
    elif case.repeat_count >= int(g.get("repeat_urgent_at", 2)):
        raise_to("urgent", "repeat", f"第{case.repeat_count}次投诉同一事项")
    group_size = int(g.get("group_major_size", 5))
    if case.people_count >= group_size:
        raise_to("major", "group", f"群体投诉 {case.people_count} 人（≥{group_size}）")
    flag_names = {"injury": "涉及人身伤害", "safety": "涉及安全", "media": "媒体介入", "lawyer": "律师介入"}
    for flag in g.get("major_flags", []):
        if getattr(case, f"flag_{flag}", False):
            raise_to("major", f"flag:{flag}", flag_names.get(flag, flag))
    major_categories = g.get("major_categories", [])
    if major_categories and case.category_id:
        path = case.category.path
        hit = next((c for c in major_categories if f"/{c}/" in path), None)
        if hit:
            raise_to("major", "category", f"分类：{case.category.name}")
    direct_level = g.get("direct_level")
    if direct_level and getattr(case, "flag_direct", False):
        raise_to(direct_level, "flag:direct", "直接投诉至总部/高层领导")
    if channel_is_crisis and g.get("crisis_on_crisis_channel", True):
        raise_to("crisis", "channel", f"渠道：{case.channel.name}")
    if not reasons:
        reasons.append({"rule": "default", "level": "normal", "detail": "首次投诉"})
    return level, reasons
