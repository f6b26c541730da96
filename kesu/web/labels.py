"""Chinese labels for timeline events and payload keys."""

from __future__ import annotations

import re

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kesu.cases.transitions import TRANSITIONS

EXTRA_ACTIONS = {"register": _("登记")}


def action_label(action: str) -> str:
    spec = TRANSITIONS.get(action)
    if spec is not None:
        return str(spec.label)
    return str(EXTRA_ACTIONS.get(action, action))


# Payload keys shown on the staff timeline (in this order); everything else is left out.
PAYLOAD_LABELS = {
    "text": _("内容"),
    "note": _("备注"),
    "answer": _("答复"),
    "question": _("问题"),
    "reason": _("原因"),
    "comment": _("意见"),
    "topic": _("议题"),
    "decision": _("决议"),
    "department": _("部门"),
    "respondent_name": _("被投诉人"),
    "respondent_department": _("被投诉部门"),
    "remedy_type": _("处理方式"),
    "amount": _("金额"),
    "criterion": _("结案依据"),
    "score": _("满意度"),
    "method": _("方式"),
    "level": _("等级"),
    "from_level": _("原等级"),
    "to_level": _("新等级"),
    "role": _("审批角色"),
    "next_role": _("下一审批"),
    "name": _("文件"),
    "repeat_of": _("重复投诉于"),
    "cash_value": _("现金价值"),
    "regulator": _("报送单位"),
    "contents": _("报送内容"),
    "material": _("材料类别"),
    "lesson": _("经验教训"),
    "measures": _("应急措施"),
    "contacts": _("联络人及联系方式"),
}


def duration_text(amount, unit: str | None) -> str:
    """A policy duration in words, with the plural the language needs ("1 working day", "2 working days")."""
    try:
        n = int(amount)
    except (TypeError, ValueError):
        return f"{amount or ''} {unit or ''}".strip()
    forms = {
        "calendar_minutes": ngettext("%(n)d 分钟", "%(n)d 分钟", n),
        "calendar_hours": ngettext("%(n)d 小时", "%(n)d 小时", n),
        "calendar_days": ngettext("%(n)d 天", "%(n)d 天", n),
        "working_hours": ngettext("%(n)d 个工作小时", "%(n)d 个工作小时", n),
        "working_days": ngettext("%(n)d 个工作日", "%(n)d 个工作日", n),
        "months": ngettext("%(n)d 个月", "%(n)d 个月", n),
    }
    if unit == "same_day":
        # Until 24:00 of the day it starts (major and crisis cases: 当日处理).
        return gettext("当日") if n == 1 else gettext("第 %(n)d 日内") % {"n": n}
    return forms.get(unit or "", f"%(n)d {unit or ''}") % {"n": n}


_REOPEN_REF = re.compile(r"^reopen(\d+)$")


def stage_ref_text(ref: str) -> str:
    """Which occurrence of a stage a deadline row is about, in words (never the raw `reopen1` key)."""
    if not ref:
        return ""
    m = _REOPEN_REF.match(ref)
    if m:
        return gettext("第 %(n)s 次重新处理后") % {"n": m.group(1)}
    if ref.isdigit():
        return gettext("第 %(n)s 号") % {"n": ref}
    return ""
