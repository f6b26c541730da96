"""Chinese labels for timeline events and payload keys."""

from __future__ import annotations

import re

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kesu.calendar.workcalendar import duration_text  # noqa: F401  (re-exported: the web's labels in one place)
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
    "opinion": _("初步意见"),
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
