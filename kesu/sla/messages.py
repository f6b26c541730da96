"""The words of every notification, by message id: stored as an id and parameters, said in the reader's language.

A notification is kept as `message_id` + `params` (kesu.sla.models.Notification) and rendered when it
is read: the inbox page in the request's language, the inbox API in the API request's, an e-mail in
the recipient's (users have no language of their own yet: settings.LANGUAGE_CODE). A parameter that
is itself a word of the product (a stage, a penalty reason, a surge dimension, a category, branch or
channel) is stored as its code and said through its label here, so a notification created while
Chinese was active reads in English for an English reader, and the other way round.

`title`/`body` stay on the row, rendered in settings.LANGUAGE_CODE when it was created: the record for
readers of the raw table, and the only words of rows written before message ids (their `message_id`
is empty) or of an id this version no longer knows.

Templates are gettext_lazy here so that `makemessages` finds them; nothing else builds the words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kesu.org.i18n import display_name
from kesu.org.models import Department
from kesu.policy.models import Category, Channel
from kesu.sla.stages import stage_label

Template = str | Promise | Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Message:
    title: Template
    body: Template = ""


# The body of every hand-off: the case it is about.
CASE_BODY = _("%(number)s %(subject)s")

MESSAGES: dict[str, Message] = {
    # hand-offs (kesu.sla.handoffs)
    "handoff.report": Message(_("新举报待处理：%(n)s"), CASE_BODY),
    "handoff.new_case": Message(_("新投诉待受理：%(n)s"), CASE_BODY),
    "handoff.crisis": Message(_("危机投诉，请立即关注：%(n)s"), CASE_BODY),
    "handoff.major": Message(_("重大投诉，请关注：%(n)s"), CASE_BODY),
    "handoff.assigned": Message(_("案件分派给您：%(n)s"), CASE_BODY),
    "handoff.assigned_department": Message(_("案件分派至本部门，请指定经办人：%(n)s"), CASE_BODY),
    "handoff.collaboration": Message(_("协办请求：%(n)s（%(q)s）"), CASE_BODY),
    "handoff.collaboration_answered": Message(_("协办已答复：%(n)s"), CASE_BODY),
    "handoff.collaboration_request": Message(_("协办申请待您审批：%(n)s"), CASE_BODY),
    "handoff.collaboration_approved": Message(_("协办申请已获批准：%(n)s"), CASE_BODY),
    "handoff.collaboration_refused": Message(_("协办申请未获批准：%(n)s（%(note)s）"), CASE_BODY),
    "handoff.panel_request": Message(_("合议申请待您审批：%(n)s"), CASE_BODY),
    "handoff.panel_request_approved": Message(_("合议申请已获批准：%(n)s"), CASE_BODY),
    "handoff.panel_request_refused": Message(_("合议申请未获批准：%(n)s（%(note)s）"), CASE_BODY),
    "handoff.panel_preliminary": Message(_("合议初步意见：%(n)s"), CASE_BODY),
    "handoff.regulator_submission": Message(_("监管报送备案：%(n)s 已报送%(r)s"), CASE_BODY),
    "handoff.panel": Message(_("合议邀请：%(n)s"), CASE_BODY),
    "handoff.panel_decided": Message(_("合议已有决议，请确认纪要：%(n)s"), CASE_BODY),
    "handoff.approval": Message(_("方案待您审批：%(n)s"), CASE_BODY),
    "handoff.approval_approved": Message(_("方案已获批准：%(n)s"), CASE_BODY),
    "handoff.approval_rejected": Message(_("方案被退回：%(n)s"), CASE_BODY),
    "handoff.reopened": Message(_("案件重新处理：%(n)s"), CASE_BODY),
    "handoff.chase": Message(_("催办：客户再次来电，案件仍在处理中：%(n)s（%(r)s）"), CASE_BODY),
    "handoff.archive_access": Message(_("档案调阅申请：%(n)s"), CASE_BODY),
    "handoff.archive_access_approved": Message(_("调阅申请已批准：%(n)s"), CASE_BODY),
    "handoff.archive_access_refused": Message(_("调阅申请未获批准：%(n)s"), CASE_BODY),
    # deadlines (kesu.sla.sweeper)
    "sla.warning": Message(
        _("时限预警：%(n)s %(stage)s"), _("案件 %(n)s 的「%(stage)s」将于 %(due_at)s 到期，请及时处理。")
    ),
    "sla.escalation": Message(
        _("超时升级（第%(step)s级）：%(n)s %(stage)s"),
        _("案件 %(n)s 的「%(stage)s」已于 %(due_at)s 超时，按升级规则通知您督办。"),
    ),
    # accountability and reports (kesu.sla.services)
    "accountability.proposed": Message(
        _("待确认责任追究：%(n)s"),
        _("案件 %(n)s（%(reason)s）拟追究 %(person)s：罚款 %(amount)s 元，直接上级 %(sup_amount)s 元。"),
    ),
    "report.senior_management": Message(
        _("涉及高级管理人员的举报：%(number)s"),
        _("举报 %(number)s 涉及公司高级管理人员，按规定报送您（003 举报 第十一条）。"),
    ),
    # improvement measures (kesu.analytics.services): the general manager approves before they take effect
    "measure.approval": Message(_("整改措施待您审批：%(t)s"), _("根本原因：%(c)s")),
    # insight warnings (kesu.insight.services)
    "insight.surge": Message(
        _("投诉激增预警：%(label)s"),
        _(
            "%(dimension)s「%(label)s」%(day)s 投诉 %(observed)s 件，预期约 %(expected)s 件（预警线 %(upper)s 件）"
        ),
    ),
    "insight.crisis_hour": Message(
        _("危机渠道激增：%(label)s"),
        _("危机渠道「%(label)s」%(hour)s 时 %(observed)s 件，同时段预期约 %(expected)s 件"),
    ),
    "insight.group": Message(_("群体投诉预警：%(title)s"), "%(title)s"),
}


def _digest_title(params: Mapping[str, Any]) -> str:
    n = int(params.get("count") or 0)
    return ngettext("每日汇总：%(n)d 条待处理", "每日汇总：%(n)d 条待处理", n) % {"n": n}


def _digest_body(params: Mapping[str, Any]) -> str:
    # Each listed notification as it would read in the inbox, in the reader's language.
    lines = []
    for item in params.get("items") or []:
        title, body = render(
            item.get("message_id", ""), item.get("params") or {}, item.get("title", ""), item.get("body", "")
        )
        lines.append(f"· {title}" + (f"\n  {body}" if body else ""))
    return "\n".join(lines)


MESSAGES["digest"] = Message(_digest_title, _digest_body)


# --- parameters that are words: stored as codes, said through their labels -----------------------

SURGE_DIMENSIONS = {
    "total": _("全部投诉"),
    "category": _("分类"),
    "branch": _("机构"),
    "region": _("地区"),
    "product": _("产品"),
    "channel": _("渠道"),
    "channel-hour": _("渠道"),
}
# The name of a surge series' key, by dimension: the model whose row the key names.
_SERIES_MODELS = {"category": Category, "branch": Department, "channel": Channel, "channel-hour": Channel}


def accountability_reason_label(reason: str) -> str:
    """`graded` / `breach:<stage>` in words (never the stored key)."""
    if reason == "graded":
        return gettext("案件等级")
    if reason.startswith("breach:"):
        return gettext("%(stage)s超时") % {"stage": stage_label(reason.split(":", 1)[1])}
    return reason


def _series_label(params: Mapping[str, Any]) -> str:
    dimension, key = params.get("dimension"), str(params.get("key", ""))
    if dimension == "total" or key == "all":
        return gettext("全部投诉") if dimension == "total" else gettext("危机渠道合计")
    model = _SERIES_MODELS.get(dimension)
    if model is not None and key.isdigit():
        row = model.objects.filter(pk=int(key)).first()
        if row is not None:
            return display_name(row)
    return str(params.get("label", key))


def _words(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as the templates use them: codes replaced by their labels in the active language."""
    out = dict(params)
    if "stage" in out:
        out["stage"] = stage_label(str(out["stage"]))
    if "reason" in out:
        out["reason"] = accountability_reason_label(str(out["reason"]))
    if "dimension" in out:
        out["label"] = _series_label(params)
        out["dimension"] = str(SURGE_DIMENSIONS.get(str(out["dimension"]), out["dimension"]))
    return out


def _say(template: Template, params: Mapping[str, Any], words: dict[str, Any]) -> str:
    if callable(template):
        return template(params)
    text = str(template)
    try:
        return text % words if "%(" in text else text
    except (KeyError, TypeError, ValueError):
        return ""


def render(
    message_id: str, params: Mapping[str, Any] | None, title: str = "", body: str = ""
) -> tuple[str, str]:
    """A notification's title and body in the active language; the stored `title`/`body` when the
    message id is empty (a row from before message ids) or unknown, or its parameters do not fit."""
    message = MESSAGES.get(message_id or "")
    if message is None:
        return title, body
    params = params or {}
    words = _words(params)
    said_title = _say(message.title, params, words)
    if not said_title:
        return title, body
    return said_title, _say(message.body, params, words)
