"""What the regulator layers (kesu/policy/presets/nfra.toml, miit_telecom.toml, samr_12315.toml) add to
the lifecycle: time bars at registration, recusal of whoever is involved in the complaint, appraisal pauses, the
further remedies named in the decision, and the review / appeal the complainant may take after it.

Every rule here is read from the case's policy document and does nothing when the layer is not loaded,
so a company preset alone behaves as before. The deadlines these rules move are kept by kesu.sla (the
`review` stage, the appraisal pause, the regulator's extension tiers).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kesu.calendar.workcalendar import SHANGHAI, Duration, get_calendar
from kesu.cases.actions.common import involved_user_ids
from kesu.cases.models import Case, CaseEvent
from kesu.errors import Forbidden, Invalid
from kesu.policy.rules import Rules

# --- time bars (intake.time_bar) --------------------------------------------------------------------


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    while True:
        try:
            return day.replace(year=year, month=month)
        except ValueError:
            day = day - dt.timedelta(days=1)


def time_bar_refusal(
    rules: Rules,
    *,
    kind: str,
    category_code: str,
    occurred_on: dt.date | None,
    known_on: dt.date | None,
    received_at: dt.datetime,
) -> dict[str, str] | None:
    """The reason a complaint is out of time under the policy's `intake.time_bar`, or None.

    MIIT (信息产业部令第7号 第十条（一）): counted from when the matter happened — fee disputes after 5
    months, others after 2 years. SAMR 12315: 3 years from when the consumer knew of the harm. Both say
    不予受理, so registration refuses the complaint with the reason (kesu.cases.services.register_case).
    A date not given is not guessed: the bar then cannot apply.
    """
    bar = rules.section("intake").get("time_bar") or {}
    if not bar or kind not in bar.get("kinds", ["complaint"]):
        return None
    basis = bar.get("basis", "occurred")
    day = occurred_on if basis == "occurred" else known_on
    if day is None:
        return None
    received = received_at.astimezone(SHANGHAI).date()
    fee_codes = bar.get("fee_categories", [])
    is_fee = any(category_code == c or category_code.startswith(c + ".") for c in fee_codes)
    if is_fee and bar.get("months_fee"):
        limit, reason = _months_before(received, int(bar["months_fee"])), "fee_time_barred"
    elif bar.get("years"):
        limit, reason = _years_before(received, int(bar["years"])), "time_barred"
    else:
        return None
    if day >= limit:
        return None
    field = "occurred_on" if basis == "occurred" else "known_on"
    return {"reason": reason, "field": field, "limit": limit.isoformat()}


# --- recusal (handling.recusal) ---------------------------------------------------------------------


RECUSAL_ROLES = {
    "handler": gettext_lazy("经办人"),
    "approver": gettext_lazy("审批人"),
    "panel_member": gettext_lazy("合议参加人"),
    "chair": gettext_lazy("合议主持人"),
    "reviewer": gettext_lazy("核查人"),
}


def involved_staff_ids(case: Case) -> set[int]:
    """被投诉人 and 涉事人员: whom the complaint is about, and who took part in the matter complained about
    (who sold the policy, who handled the claim) as recorded at registration or by `set_respondent`."""
    ids = {case.respondent_staff_id} if case.respondent_staff_id else set()
    if case.pk:
        ids |= set(case.involved_staff.values_list("pk", flat=True))
    return ids


def check_recusal(case: Case, rules: Rules, person, *, as_what: str) -> None:
    """Nobody involved in the complaint handles, approves, reviews or sits on the panel of the case (NFRA
    回避: 与投诉有利害关系的人员应当回避): the person complained about, the staff recorded as involved,
    and — for the review of the decision (核查) — whoever worked on the case itself.

    `as_what`: handler, approver, panel_member, chair or reviewer (the field named in the refusal).
    """
    handling = rules.section("handling")
    if not handling.get("recusal") or person is None or getattr(person, "pk", None) is None:
        return
    if person.pk == case.respondent_staff_id:
        who = _("被投诉人")
    elif person.pk in involved_staff_ids(case):
        who = _("涉事人员")
    elif as_what == "reviewer" and person.pk in involved_user_ids(case):
        who = _("办理过本案的人员")
    else:
        return
    role = RECUSAL_ROLES.get(as_what, as_what)
    rule = handling.get("seed") or "handling.recusal"
    raise Forbidden(
        _("%(who)s须回避，不得担任本案的%(role)s（%(rule)s）") % {"who": who, "role": role, "rule": rule},
        code="recusal",
        details={as_what: _("%(who)s须回避") % {"who": who}, "rule": rule},
    )


# --- appraisal (sla.pauses.appraisal) ---------------------------------------------------------------


def appraisal_allowed(rules: Rules) -> bool:
    return bool(rules.section("sla").get("pauses", {}).get("appraisal"))


def last_of(case: Case, *actions: str) -> str | None:
    """Which of `actions` the case's timeline recorded last (None: none of them)."""
    return (
        CaseEvent.objects.filter(case=case, action__in=actions)
        .order_by("-seq")
        .values_list("action", flat=True)
        .first()
    )


def under_appraisal(case: Case) -> bool:
    """True between a `start_appraisal` and its `end_appraisal`."""
    return last_of(case, "start_appraisal", "end_appraisal") == "start_appraisal"


# --- the decision and what may follow it (reply.further_remedies, [review]) -------------------------


def further_remedies(rules: Rules) -> list[str]:
    return [str(r) for r in rules.section("reply").get("further_remedies", [])]


def review_rules(rules: Rules) -> dict[str, Any]:
    return rules.section("review")


def review_opens_at(case: Case, rules: Rules) -> dt.datetime | None:
    """When the complainant may take the matter further: after the reply, or (MIIT) once the operator's
    `wait_amount` `wait_unit` from receipt have passed without one. None: no review under this policy."""
    review = review_rules(rules)
    if not review:
        return None
    if case.replied_at is not None:
        return case.replied_at
    if review.get("wait_amount"):
        duration = Duration(int(review["wait_amount"]), review.get("wait_unit", "calendar_days"))
        return get_calendar(case.branch_id, rules).deadline(case.received_at, duration).due
    return None


def require_review_open(case: Case, rules: Rules, now: dt.datetime) -> None:
    if not review_rules(rules):
        raise Invalid(_("本规则未规定核查或申诉程序"), code="no_review")
    opens = review_opens_at(case, rules)
    if opens is None:
        raise Invalid(_("须先作出处理决定并告知投诉人"), code="reply_required")
    if now < opens:
        raise Invalid(
            _("答复前须等待答复期限届满方可申诉"),
            code="review_too_early",
            details={"requested_at": opens.isoformat()},
        )
