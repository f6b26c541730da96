"""Automatic grading (定级) from the policy's rules.

Level by repetition (000 第2篇): 1st normal, 2nd urgent, 3rd+ major. Group complaints and
injury/safety/media/lawyer flags make a case major; a crisis channel (regulator, media,
internet) makes it a crisis. The result is the highest level any rule gives, with the
reasons kept so that a person can see why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext, gettext_noop

from kesu.cases import similarity
from kesu.cases.customers import same_person_q
from kesu.cases.models import Case, Customer, Kind
from kesu.cases.similarity import similar_texts
from kesu.org.i18n import display_name
from kesu.policy.models import Category, Channel
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


# The most recent earlier complaints of a customer that grading reads (one index range, newest first):
# the level only needs the 2nd and 3rd (repeat_urgent_at / repeat_major_at), so a customer with a long
# history costs the same as one with a short one. `repeat_count` is then "at least" past this bound.
MAX_EARLIER = similarity.MAX_EARLIER


def earlier_complaints(*, customer: Customer | None, before: dt.datetime, window_days: int) -> list[Case]:
    """The customer's (same person's) earlier complaints in the window, newest first, at most
    `MAX_EARLIER`: one range scan of the (customer, received_at) index, with the columns grading and
    the text comparison need."""
    if customer is None:
        return []
    qs = Case.objects.filter(
        same_person_q(customer),
        received_at__lt=before,
        received_at__gte=before - dt.timedelta(days=window_days),
    )
    qs = qs.exclude(kind__in=[Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION]).exclude(status="invalid")
    fields = ("pk", "received_at", "number", "subject_no", "category_id", "subject", "description", "demands")
    return list(qs.order_by("-received_at", "-pk").only(*fields)[:MAX_EARLIER])


def _same_matter(other: Case, *, subject_no: str, category_id: int | None) -> bool:
    """`same_matter_q` for one row already read."""
    if subject_no and other.subject_no not in (subject_no, ""):
        return False
    return not (category_id and other.category_id not in (category_id, None))


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
    Reads at most `MAX_EARLIER` earlier complaints (one indexed query), whatever the history's size.
    """
    earlier = [
        c
        for c in earlier_complaints(customer=customer, before=before, window_days=window_days)
        if c.pk != exclude_pk
    ]
    matched = {c.pk: c for c in earlier if _same_matter(c, subject_no=subject_no, category_id=category_id)}
    if text.strip():
        rest = [
            c
            for c in earlier
            if c.pk not in matched and not (subject_no and c.subject_no and c.subject_no != subject_no)
        ]
        for other in similar_texts(text, rest):
            matched.setdefault(other.pk, other)
    latest = max(matched.values(), key=lambda c: (c.received_at, c.pk), default=None)
    return len(matched), latest


# The special circumstances a grading rule names, in Chinese: the stored detail (the record), said in the
# reader's language by `reason_text`.
_FLAG_WORDS = {
    "injury": gettext_noop("涉及人身伤害"),
    "safety": gettext_noop("涉及安全"),
    "media": gettext_noop("媒体介入"),
    "lawyer": gettext_noop("律师介入"),
    "direct": gettext_noop("直接投诉至总部/高层领导"),
}


def grade(case: Case, rules: Rules, *, channel_is_crisis: bool) -> tuple[str, list[dict]]:
    g = rules.grading
    level = "normal"
    reasons: list[dict] = []

    def raise_to(new_level: str, rule: str, detail: str, **params: Any) -> None:
        # `detail` is the record in Chinese (API, exports); `params` let `reason_text` say it in the
        # reader's language.
        nonlocal level
        level = max_level(level, new_level)
        reason = {"rule": rule, "level": new_level, "detail": detail}
        if params:
            reason["params"] = params
        reasons.append(reason)

    if g.get("by") == "fault":
        # 003 酒店: 轻微/一般/重大 follow the hotel's fault as judged at acceptance, not the repetition.
        if case.fault_level:
            raise_to(
                case.fault_level,
                "fault",
                f"过错程度：{rules.level_label(case.fault_level) or case.fault_level}",
                fault=case.fault_level,
            )
    elif case.repeat_count >= int(g.get("repeat_major_at", 3)):
        raise_to("major", "repeat", f"第{case.repeat_count}次投诉同一事项", count=case.repeat_count)
    elif case.repeat_count >= int(g.get("repeat_urgent_at", 2)):
        raise_to("urgent", "repeat", f"第{case.repeat_count}次投诉同一事项", count=case.repeat_count)
    group_size = int(g.get("group_major_size", 5))
    if case.people_count >= group_size:
        raise_to(
            "major",
            "group",
            f"群体投诉 {case.people_count} 人（≥{group_size}）",
            people=case.people_count,
            size=group_size,
        )
    for flag in g.get("major_flags", []):
        if getattr(case, f"flag_{flag}", False):
            raise_to("major", f"flag:{flag}", _FLAG_WORDS.get(flag, flag))
    major_categories = g.get("major_categories", [])
    if major_categories and case.category_id:
        path = case.category.path
        hit = next((c for c in major_categories if f"/{c}/" in path), None)
        if hit:
            raise_to("major", "category", f"分类：{case.category.name}", category=case.category_id)
    direct_level = g.get("direct_level")
    if direct_level and getattr(case, "flag_direct", False):
        raise_to(direct_level, "flag:direct", _FLAG_WORDS["direct"])
    if channel_is_crisis and g.get("crisis_on_crisis_channel", True):
        raise_to("crisis", "channel", f"渠道：{case.channel.name}", channel=case.channel_id)
    if not reasons:
        reasons.append({"rule": "default", "level": "normal", "detail": "首次投诉"})
    return level, reasons


def reason_text(reason: dict, case: Case | None = None, level_label: Any = None) -> str:
    """One grading reason in the reader's language. Reasons are kept with their parameters (`grade`);
    a reason without them (older cases, a manual regrading whose detail is the person's own words)
    shows its stored detail. `case` gives the category and channel names without a query when they
    are the case's own; `level_label` names a fault level as the policy does."""
    rule, params = str(reason.get("rule", "")), reason.get("params")
    if rule == "default":
        return gettext("首次投诉")
    if rule.startswith("flag:") and rule[5:] in _FLAG_WORDS:
        return gettext(_FLAG_WORDS[rule[5:]])
    if not isinstance(params, dict):
        return str(reason.get("detail", ""))
    if rule == "repeat" and "count" in params:
        return gettext("第%(count)s次投诉同一事项") % {"count": params["count"]}
    if rule == "group" and "people" in params:
        return gettext("群体投诉 %(people)s 人（≥%(size)s）") % {
            "people": params["people"],
            "size": params.get("size"),
        }
    if rule == "fault" and params.get("fault"):
        label = level_label(params["fault"]) if level_label else params["fault"]
        return gettext("过错程度：%(level)s") % {"level": label}
    if rule == "category" and params.get("category"):
        row = case.category if case is not None and case.category_id == params["category"] else None
        row = row or Category.objects.filter(pk=params["category"]).first()
        if row is not None:
            return gettext("分类：%(name)s") % {"name": display_name(row)}
    if rule == "channel" and params.get("channel"):
        row = case.channel if case is not None and case.channel_id == params["channel"] else None
        row = row or Channel.objects.filter(pk=params["channel"]).first()
        if row is not None:
            return gettext("渠道：%(name)s") % {"name": display_name(row)}
    return str(reason.get("detail", ""))
