"""What the handlers share: reading departments, people and amounts from an action's data, and who
worked on a case.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from kesu.cases.models import (
    CaseEvent,
    PanelParticipant,
)
from kesu.errors import Invalid
from kesu.org.models import Department


def department_arg(code_or_id) -> Department:
    qs = Department.objects.filter(is_active=True)
    dept = qs.filter(code=str(code_or_id)).first()
    if dept is None and str(code_or_id).isdigit():
        dept = qs.filter(pk=int(code_or_id)).first()
    if dept is None:
        raise Invalid(
            _("未知部门：%(code_or_id)s") % {"code_or_id": code_or_id}, details={"department": _("未知部门")}
        )
    return dept


def user_arg(user_id, field: str = "user"):
    # With the person's staff row and department: handlers check where the person works.
    users = get_user_model().objects.select_related("staff__department")
    user = users.filter(pk=user_id, is_active=True).first() if str(user_id).isdigit() else None
    if user is None:
        user = users.filter(username=str(user_id), is_active=True).first()
    if user is None:
        raise Invalid(_("未知人员：%(user_id)s") % {"user_id": user_id}, details={field: _("未知人员")})
    return user


def amount_arg(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        raise Invalid(_("%(field)s 不是有效金额") % {"field": field}, details={field: _("不是有效金额")})
    if amount < 0 or amount > Decimal("999999999999"):
        raise Invalid(_("%(field)s 超出范围") % {"field": field}, details={field: _("超出范围")})
    return amount.quantize(Decimal("0.01"))


def user_id_of(user) -> int | None:
    return getattr(user, "pk", None)


def involved_user_ids(case) -> set[int]:
    """The handler and everybody who worked on the case (for the follow-up rule, 000 第7篇)."""
    ids = {case.handler_id} if case.handler_id else set()
    working_actions = {
        "start_investigation",
        "add_note",
        "request_collaboration",
        "decide_collaboration_request",
        "answer_collaboration",
        "convene_panel",
        "decide_panel_request",
        "record_preliminary_opinion",
        "decide_panel",
        "confirm_panel",
        "propose_remedy",
        "reply",
        "close",
        "request_special_closure",
        "approve",
        "reject",
    }
    ids |= set(
        CaseEvent.objects.filter(case=case, action__in=working_actions, actor__isnull=False).values_list(
            "actor_id", flat=True
        )
    )
    ids |= set(PanelParticipant.objects.filter(review__case=case).values_list("user_id", flat=True))
    return ids
