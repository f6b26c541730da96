"""The transition table: for every action, the statuses it may start from, who may do it, and its handler.

This table is the lifecycle. `perform` refuses any action not listed here for the
case's current status (409) or for the actor's roles (403).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kesu.cases.actions import (
    accountability,
    after_closing,
    archiving,
    closing,
    collaboration,
    evidence,
    judging,
    lessons,
    regulator,
    remedy,
    routing,
    system,
)
from kesu.cases.models import OPEN_STATUSES, Status
from kesu.org import roles as r

S = Status
WORKING = (S.ASSIGNED, S.INVESTIGATING, S.PENDING_APPROVAL, S.RESPONDING)
ANY_STATUS = tuple(Status.values)


@dataclass(frozen=True)
class Transition:
    # A lazy translation: call str() when rendering, so it follows the request's language.
    label: str | Promise
    from_statuses: tuple[str, ...]
    roles: frozenset[str]
    handler: Callable
    # "department": a role that is not company-wide must work in the responsible department.
    # "visible": seeing the case is enough (the handler checks finer rules itself).
    # "system": only the system (actor None) or an administrator.
    scope: str = "department"


def t(label: str | Promise, from_statuses, roles, handler, scope="department") -> Transition:
    return Transition(label, tuple(from_statuses), frozenset(roles), handler, scope)


MANAGERS = {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER, r.ADMIN}
WORKERS = {r.HANDLER, r.DEPT_HEAD, r.RISK} | MANAGERS

TRANSITIONS: dict[str, Transition] = {
    "accept": t(_("受理"), [S.REGISTERED], {r.INTAKE, *WORKERS}, judging.accept, "visible"),
    "mark_invalid": t(
        _("判定无效"),
        [S.REGISTERED, S.ACCEPTED, S.ASSIGNED, S.INVESTIGATING],
        {r.INTAKE, *WORKERS},
        judging.mark_invalid,
        "visible",
    ),
    "answer_first_contact": t(
        _("当场答复"), [S.REGISTERED], {r.INTAKE, *WORKERS}, judging.answer_first_contact, "visible"
    ),
    "regrade": t(_("调整等级"), OPEN_STATUSES, {r.DEPT_HEAD, *MANAGERS}, judging.regrade),
    "assign": t(
        _("分派"),
        [S.ACCEPTED, S.ASSIGNED, S.INVESTIGATING],
        {r.INTAKE, r.DEPT_HEAD, r.RISK, *MANAGERS},
        routing.assign,
        "visible",
    ),
    "set_respondent": t(_("记录被投诉人"), [*OPEN_STATUSES, S.SUSPENDED], WORKERS, routing.set_respondent),
    "start_investigation": t(_("开始处理"), [S.ASSIGNED], WORKERS, routing.start_investigation),
    "add_note": t(_("处理记录"), [*OPEN_STATUSES, S.SUSPENDED], WORKERS, routing.add_note),
    "request_collaboration": t(
        _("发起协办"), [S.INVESTIGATING], WORKERS, collaboration.request_collaboration
    ),
    # Where the policy needs the supervisor's approval (003 恒康天安 第四条(七), 第七条(一)): the handler's
    # request is a proposal the supervisor (or a rank above, checked by the handler) approves or refuses.
    "decide_collaboration_request": t(
        _("审批协办申请"),
        [S.INVESTIGATING, S.PENDING_APPROVAL, S.RESPONDING],
        MANAGERS,
        collaboration.decide_collaboration_request,
        "visible",
    ),
    "answer_collaboration": t(
        _("回复协办"),
        [S.INVESTIGATING, S.PENDING_APPROVAL, S.RESPONDING, S.SUSPENDED],
        WORKERS,
        collaboration.answer_collaboration,
        "visible",
    ),
    "convene_panel": t(_("召集合议"), [S.INVESTIGATING], WORKERS, collaboration.convene_panel),
    "decide_panel_request": t(
        _("审批合议申请"),
        [S.INVESTIGATING, S.PENDING_APPROVAL, S.RESPONDING],
        MANAGERS,
        collaboration.decide_panel_request,
        "visible",
    ),
    "record_preliminary_opinion": t(
        _("记录合议初步意见"),
        [S.INVESTIGATING],
        WORKERS,
        collaboration.record_preliminary_opinion,
        "visible",
    ),
    "decide_panel": t(_("记录合议决议"), [S.INVESTIGATING], WORKERS, collaboration.decide_panel, "visible"),
    "confirm_panel": t(
        _("确认合议纪要"),
        [S.INVESTIGATING, S.PENDING_APPROVAL, S.RESPONDING],
        WORKERS,
        collaboration.confirm_panel,
        "visible",
    ),
    "propose_remedy": t(_("提出处理方案"), [S.INVESTIGATING], WORKERS, remedy.propose_remedy),
    "request_special_closure": t(
        _("申请特殊结案"), [S.INVESTIGATING, S.RESPONDING], WORKERS, remedy.request_special_closure
    ),
    "approve": t(_("审批同意"), [S.PENDING_APPROVAL], {r.DEPT_HEAD, *MANAGERS}, remedy.approve, "visible"),
    "reject": t(_("审批驳回"), [S.PENDING_APPROVAL], {r.DEPT_HEAD, *MANAGERS}, remedy.reject, "visible"),
    "reply": t(_("答复客户"), [S.RESPONDING], WORKERS, closing.reply),
    "close": t(_("结案"), [S.RESPONDING], WORKERS, closing.close),
    "suspend": t(_("暂结案"), [S.ASSIGNED, S.INVESTIGATING, S.RESPONDING], WORKERS, closing.suspend),
    "resume": t(_("恢复处理"), [S.SUSPENDED], WORKERS, closing.resume),
    "expire_suspension": t(
        _("暂结案期满结案"), [S.SUSPENDED], {r.SUPERVISOR, r.ADMIN}, closing.expire_suspension, "system"
    ),
    "follow_up": t(
        _("回访"), [S.CLOSED], {r.FOLLOWUP, r.SUPERVISOR, r.CS_MANAGER}, after_closing.follow_up, "visible"
    ),
    "reopen": t(
        _("重新处理"),
        [S.CLOSED],
        {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER},
        after_closing.reopen,
        "visible",
    ),
    "archive": t(
        _("归档"),
        [S.CLOSED, S.INVALID, S.ANSWERED],
        {r.ARCHIVIST, r.SUPERVISOR, r.ADMIN, r.RISK},
        archiving.archive,
        "visible",
    ),
    "request_archive_access": t(
        _("申请调阅档案"), [S.ARCHIVED], set(r.ALL_ROLES), archiving.request_archive_access, "visible"
    ),
    "decide_archive_access": t(
        _("审批档案调阅"), [S.ARCHIVED], {r.ARCHIVIST}, archiving.decide_archive_access, "visible"
    ),
    # 报送 of an archived file to a regulator, and later lawsuit/media material: the archive keeper and
    # risk/compliance only; the case stays archived.
    "file_regulator_submission": t(
        _("登记监管报送"),
        [S.ARCHIVED],
        {r.ARCHIVIST, r.RISK},
        archiving.file_regulator_submission,
        "visible",
    ),
    "add_archive_material": t(
        _("归档后补充材料"), [S.ARCHIVED], {r.ARCHIVIST, r.RISK}, archiving.add_archive_material, "visible"
    ),
    "mark_typical": t(
        _("录入典型案例"),
        [S.CLOSED, S.ANSWERED, S.ARCHIVED],
        {r.SUPERVISOR, r.ANALYST},
        lessons.mark_typical,
        "visible",
    ),
    "record_emergency_plan": t(
        _("记录应急预案"), [*OPEN_STATUSES, S.SUSPENDED], WORKERS, lessons.record_emergency_plan
    ),
    "propose_accountability": t(
        _("提出责任追究"),
        [*WORKING, S.SUSPENDED, S.CLOSED, S.INVALID, S.ARCHIVED],
        {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER},
        accountability.propose_accountability,
        "visible",
    ),
    "link_continuation": t(
        _("关联续案"),
        [S.CLOSED, S.INVALID, S.ANSWERED, S.ARCHIVED],
        {r.ADMIN},
        accountability.link_continuation,
        "system",
    ),
    "confirm_accountability": t(
        _("确认责任追究"),
        ANY_STATUS,
        {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER},
        accountability.confirm_accountability,
        "visible",
    ),
    "waive_accountability": t(
        _("免除责任追究"),
        ANY_STATUS,
        {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER},
        accountability.waive_accountability,
        "visible",
    ),
    "attach": t(
        _("上传附件"),
        [*OPEN_STATUSES, S.SUSPENDED, S.CLOSED],
        {r.INTAKE, *WORKERS},
        evidence.attach,
        "visible",
    ),
    "extend_deadline": t(
        _("延长时限"),
        [*WORKING],
        {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER},
        system.extend_deadline,
        "visible",
    ),
    # A repeat registered while the case is open (kesu.cases.services._chase_open_case).
    "chase": t(_("催办"), [*OPEN_STATUSES, S.SUSPENDED], {r.ADMIN}, routing.chase, "system"),
    # Regulator layers (kesu.cases.regulator): each refuses itself when the policy has no such rule.
    "start_appraisal": t(_("开始鉴定/检测/评估"), WORKING, WORKERS, regulator.start_appraisal),
    "end_appraisal": t(_("结束鉴定/检测/评估"), WORKING, WORKERS, regulator.end_appraisal),
    "request_review": t(
        _("申请核查/申诉"),
        [*OPEN_STATUSES, S.SUSPENDED, S.CLOSED],
        {r.INTAKE, *WORKERS},
        regulator.request_review,
        "visible",
    ),
    "conclude_review": t(
        _("记录核查/申诉结论"),
        [*OPEN_STATUSES, S.SUSPENDED, S.CLOSED],
        MANAGERS,
        regulator.conclude_review,
        "visible",
    ),
    "merge_repeat": t(
        _("同一事项再次投诉"), [*OPEN_STATUSES, S.SUSPENDED], {r.ADMIN}, regulator.merge_repeat, "system"
    ),
    "escalate": t(_("超时升级"), ANY_STATUS, {r.ADMIN}, system.escalate, "system"),
    "recompute_deadlines": t(_("重算时限"), ANY_STATUS, {r.ADMIN}, system.recompute_deadlines, "system"),
    "customer_mail": t(_("客户来信"), ANY_STATUS, {r.ADMIN}, system.customer_mail, "system"),
}

# Actions that record their own event when the case is created, not through perform.
CREATION_ACTION = "register"
