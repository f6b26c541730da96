"""The action forms of the case page: which fields each lifecycle action asks for.

`forms_for(case, user)` lists the actions legal now for this user (`allowed_actions`, then the finer
rules the handlers check, so that nothing is offered that would be refused), each with its fields.
`collect(action, post)` turns a posted form into the keyword data for `perform`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kesu.cases import regulator
from kesu.cases.actions.common import involved_user_ids
from kesu.cases.models import (
    OPEN_STATUSES,
    ROLE_BOUND_REMEDIES,
    Accountability,
    ArchiveMaterial,
    Case,
    CollaborationRequest,
    Kind,
    Level,
    PanelReview,
    Proposal,
    RemedyType,
)
from kesu.cases.services import allowed_actions
from kesu.cases.transitions import TRANSITIONS
from kesu.org import roles
from kesu.org.i18n import display_name, localized, wants_english
from kesu.org.models import Department
from kesu.org.selectors import department_of, user_roles
from kesu.policy.models import Category
from kesu.policy.selectors import rules_for, stamps, taxonomy
from kesu.sla.messages import accountability_reason_label
from kesu.sla.models import StageDeadline
from kesu.sla.stages import stage_label
from kesu.web.labels import action_label
from kesu.web.models import ReplyTemplate
from kesu.web.selectors import CaseReads


@dataclass
class Field:
    name: str
    label: Any
    kind: str = "text"  # text | textarea | select | multiselect | members | datetime | number | checkbox | file | hidden
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: Any = ""
    help: Any = ""
    # kind "members": (code, name) of the departments to filter the people by
    groups: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ActionForm:
    action: str
    label: str
    fields: list[Field]
    hint: str = ""
    danger: bool = False
    primary: bool = False
    # One-click variants of the form for its common outcome: (label, {field: value}, danger), each posted
    # as its own small form (a satisfied follow-up, granting or refusing the one pending access request).
    quick: list[tuple[Any, dict[str, str], bool]] = field(default_factory=list)


REPLY_METHODS = [
    ("phone", _("电话")),
    ("letter", _("书面")),
    ("email", _("电子邮件")),
    ("sms", _("短信")),
    ("visit", _("面谈")),
]

# Actions that the case page shows first (the usual next step).
PRIMARY = {
    "accept",
    "assign",
    "start_investigation",
    "propose_remedy",
    "approve",
    "reply",
    "close",
    "follow_up",
}
DANGER = {"mark_invalid", "reject", "reopen", "suspend", "waive_accountability"}
HIDDEN_ACTIONS = {"escalate", "recompute_deadlines", "expire_suspension"}


# The pickers several forms of one page share (departments in five forms, people in three), read once
# per `forms_for` call: the same lists were read up to five times per case page (issue 19, profiled).
_page_reads: ContextVar[dict | None] = ContextVar("kesu_action_form_reads", default=None)


def _once(key: tuple, read: Callable[[], list]) -> list:
    """`read()`, or within `forms_for` the list already read under `key` (callers copy before changing)."""
    memo = _page_reads.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


# The organisation's pickers (departments, handlers) per process, under the organisation's stamp
# (kesu.org.models.OrgStamp, changed by every write of a department, staff row, user or role group): a
# page reads one integer instead of the lists (issue 19: ~9% of the queue page, part of the case page).
# {"token": int, (kind, args…, english): list}; shared lists: callers copy before changing.
_org_lists: dict = {}
_org_lock = threading.Lock()


def clear_org_cache() -> None:
    with _org_lock:
        _org_lists.clear()


def _stamps() -> tuple[int | None, int | None]:
    """The taxonomy's and the organisation's tokens in one read, once per `forms_for` call."""
    memo = _page_reads.get()
    if memo is None:
        return stamps()
    if "stamps" not in memo:
        memo["stamps"] = stamps()
    return memo["stamps"]


def _org_list(key: tuple, read: Callable[[], list], token: int | None = -1) -> list:
    """`read()` cached per process under the organisation's token (`token`: the caller's read of it;
    None: no stamp row, nothing to key a cache on) and the UI language (the labels are localized)."""
    token = _stamps()[1] if token == -1 else token
    if token is None:
        return _once(key, read)
    key = (*key, wants_english())
    with _org_lock:
        if _org_lists.get("token") == token and key in _org_lists:
            return _org_lists[key]
    fresh = read()
    with _org_lock:
        if _org_lists.get("token") != token:
            _org_lists.clear()
            _org_lists["token"] = token
        _org_lists[key] = fresh
    return fresh


def _departments(token: int | None = -1) -> list[tuple[str, str]]:
    return _org_list(("departments",), _read_departments, token)


def _read_departments() -> list[tuple[str, str]]:
    return [
        (code, localized(name, name_en))
        for code, name, name_en in Department.objects.filter(is_active=True)
        .order_by("path")
        .values_list("code", "name", "name_en")
    ]


def _categories() -> list[tuple[str, str]]:
    """The active categories in tree order, indented, from the per-process taxonomy (its token read with
    the organisation's, `_stamps`), not a query of the table on every page."""
    tax = taxonomy(_stamps()[0])
    return [(c.code, ("　" * c.depth) + display_name(c)) for c in sorted(tax.categories.values(), key=_path)]


def _path(category: Category) -> str:
    return category.path


# The people pickers read these columns, not whole users with their staff and department rows: up to
# 300 model instances per list were a tenth of the queue page's CPU time (issue 19).
_PERSON = (
    "pk",
    "first_name",
    "last_name",
    "username",
    "staff__department__name",
    "staff__department__name_en",
)


def _person_label(row: tuple, english: bool) -> str:
    """ "Name（department）" as User.get_full_name() would give the name, the username without one; the
    department as `localized` names it (`english`: wants_english(), asked once per list)."""
    full_name = f"{row[1]} {row[2]}".strip()
    dept = row[5] if (row[5] and english) else (row[4] or "")
    return f"{full_name or row[3]}（{dept}）"


def _handlers(dept_id: int | None, token: int | None = -1) -> list[tuple[str, str]]:
    return _org_list(("handlers", dept_id), lambda: _read_handlers(dept_id), token)


def _read_handlers(dept_id: int | None) -> list[tuple[str, str]]:
    User = get_user_model()
    qs = User.objects.filter(
        is_active=True, groups__name__in=[roles.HANDLER, roles.DEPT_HEAD], staff__isnull=False
    )
    if dept_id:
        qs = qs.filter(staff__department_id=dept_id)
    qs = qs.distinct().order_by("staff__department__path", "username").values_list(*_PERSON)[:300]
    english = wants_english()
    return [(str(row[0]), _person_label(row, english)) for row in qs]


def _least_loaded(dept_id: int | None) -> int | None:
    """The suggested handler of a department's new case: the handler with the fewest open cases (the
    head may pick another; nobody is suggested for a case without a department).

    Two reads rather than one join: the department's handlers, then their open cases counted through
    the (handler, status) index. The join counted every case the handlers ever had (closed ones
    included, filtered inside the aggregate), which grows with the history: ~40 ms of database time
    on the case page at 1M cases."""
    if not dept_id:
        return None
    handlers = list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=roles.HANDLER, staff__department_id=dept_id)
        .order_by("username")
        .values_list("pk", "username")
        .distinct()
    )
    if not handlers:
        return None
    load = dict(
        Case.objects.filter(handler_id__in=[pk for pk, _name in handlers], status__in=OPEN_STATUSES)
        .values("handler_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("handler_id", "n")
    )
    return min(handlers, key=lambda row: (load.get(row[0], 0), row[1]))[0]


def _colleagues(user) -> list[tuple[str, str]]:
    return _once(("colleagues", user.pk), lambda: [(pk, name) for pk, name, _dept in _others(user, 300)])


def _members(user) -> list[tuple[str, str, str]]:
    """(user id, name, department code) of every active colleague, for the panel member picker (filtered
    in the page by department and by a search text)."""
    return _once(("members", user.pk), lambda: _others(user, 2000))


def _others(user, limit: int) -> list[tuple[str, str, str]]:
    """The first `limit` people of `_everyone` but `user` (what `.exclude(pk=user.pk)[:limit]` read)."""
    me = str(user.pk)
    return list(islice((p for p in _everyone() if p[0] != me), limit))


def _everyone() -> list[tuple[str, str, str]]:
    """(user id, name, department code) of the active staff in picker order, per process under the
    organisation's stamp: one more than the longest list, which leaves out its viewer."""
    return _org_list(("everyone",), _read_everyone)


def _read_everyone() -> list[tuple[str, str, str]]:
    User = get_user_model()
    qs = (
        User.objects.filter(is_active=True, staff__isnull=False)
        .order_by("staff__department__path", "username")
        .values_list(*_PERSON, "staff__department__code")[:2001]
    )
    english = wants_english()
    return [(str(row[0]), _person_label(row, english), row[6]) for row in qs]


def _closing_criteria(case: Case, rules) -> list[tuple[str, str]]:
    return [
        (c, rules.closing_criteria[c].get("name", c))
        for c in rules.manual_closing_criteria(case.kind)
        if c != "invalid"
    ]


def _reply_method(case: Case) -> str:
    """The reply goes back the way the complaint came when that is a way of replying, else by phone."""
    code = case.channel.code if case.channel_id else ""
    return code if code in dict(REPLY_METHODS) else "phone"


def _reply_draft(user, reads: CaseReads) -> str:
    """The best-fitting reply template, filled in for this case, as a draft the handler edits."""
    choices = reads.reply_choices(user, ReplyTemplate.Purpose.REPLY)
    return choices[0][1] if choices else ""


_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*元")


def _remedy_from_panel(reads: CaseReads, remedies: list[tuple[str, str]]) -> dict[str, str]:
    """The proposal that carries out the panel's decision: its text, the one amount it names and the
    remedy it names — when a panel has decided and no proposal has been made since."""
    decided = [r for r in reads.reviews if r.state in _DECIDED and r.decided_at is not None]
    review = max(decided, key=lambda r: r.decided_at, default=None)
    if review is None or not review.decision:
        return {}
    if any(
        p.proposed_at >= review.decided_at and p.state != Proposal.State.REJECTED for p in reads.proposals
    ):
        return {}
    out = {"description": review.decision}
    amounts = set(_AMOUNT.findall(review.decision))
    if len(amounts) == 1:
        out["amount"] = amounts.pop()
    named = [value for value, lbl in remedies if lbl and lbl in review.decision]
    if len(named) == 1:
        out["remedy_type"] = named[0]
    return out


def _involved_field(case: Case, user, reads: CaseReads) -> Field:
    """涉事人员 (recusal under NFRA): the recorded ones preselected, the user among the choices if recorded."""
    current = reads.involved_staff
    choices = list(_members(user))  # a copy: the list is shared by the page's forms
    listed = {pk for pk, _name, _dept in choices}
    choices += [
        (str(u.pk), u.get_full_name() or u.username, u.staff.department.code if hasattr(u, "staff") else "")
        for u in current
        if str(u.pk) not in listed
    ]
    return Field(
        "involved_staff",
        _("涉事人员（须回避）"),
        "members",
        False,
        choices,
        [str(u.pk) for u in current],
        groups=_departments(),
    )


def _involved(case: Case) -> set[int]:

    return involved_user_ids(case)


_DECIDED = (PanelReview.State.DECIDED, PanelReview.State.CONFIRMED)


def forms_for(case: Case, user, reads: CaseReads | None = None) -> list[ActionForm]:
    """The action forms this user may use on this case now, the usual next step first. `reads`: the
    case's rows already read for its page (kesu.web.selectors.CaseReads), else read here."""
    names = [a for a in allowed_actions(case, user) if a not in HIDDEN_ACTIONS]
    if not names:
        return []
    rules = rules_for(case.policy_id)
    my_roles = user_roles(user)
    my_dept = department_of(user)
    reads = reads if reads is not None else CaseReads(case)
    out: list[ActionForm] = []
    token = _page_reads.set({})
    try:
        for name in names:
            form = _build(name, case, user, rules, my_roles, my_dept, reads)
            if form is not None:
                form.primary = name in PRIMARY
                form.danger = name in DANGER
                out.append(form)
    finally:
        _page_reads.reset(token)
    out.sort(key=lambda f: (not f.primary, f.danger))
    return out


def _build(name, case, user, rules, my_roles, my_dept, reads: CaseReads) -> ActionForm | None:  # noqa: C901 - one branch per action
    label = action_label(name)
    F = Field
    if name == "accept":
        kinds = [(k, str(Kind(k).label)) for k in (rules.enabled_kinds or Kind.values)]
        fields = [
            F("kind", _("类型"), "select", True, kinds, case.kind),
            F(
                "category",
                _("分类"),
                "select",
                False,
                _categories(),
                case.category.code if case.category else "",
            ),
        ]
        if rules.business_types:
            fields.append(
                F(
                    "business_type",
                    _("业务类型"),
                    "select",
                    False,
                    list(rules.business_types.items()),
                    case.business_type,
                )
            )
        if case.kind == Kind.REPORT:
            fields.append(F("senior_management", _("涉及高级管理人员（报送董事长）"), "checkbox"))
        if rules.grading.get("by") == "fault":
            levels = [(lv, rules.level_label(lv) or lv) for lv in ("normal", "urgent", "major")]
            fields.append(F("fault_level", _("过错程度"), "select", False, levels, case.fault_level))
        if my_roles & TRANSITIONS["assign"].roles:
            # Accepting and assigning are one sitting for a supervisor: the handler may be chosen here
            # (kesu.web.services.accept_and_assign); left empty, the case is routed by its category.
            fields.append(
                F(
                    "assign_handler",
                    _("同时分派给经办人"),
                    "select",
                    False,
                    [("", _("（按分类分派）"))] + _handlers(case.department_id),
                )
            )
        return ActionForm(name, label, fields)
    if name == "mark_invalid":
        return ActionForm(
            name,
            label,
            [
                F("reason", _("无效原因"), "select", True, list(rules.invalidity_reasons.items())),
                F("note", _("说明"), "textarea"),
            ],
        )
    if name == "answer_first_contact":
        if case.kind not in (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION):
            return None
        return ActionForm(name, label, [F("answer", _("答复内容"), "textarea", True)])
    if name == "regrade":
        return ActionForm(
            name,
            label,
            [
                F("level", _("新等级"), "select", True, list(Level.choices), case.level),
                F("reason", _("调整原因"), "textarea", True),
            ],
        )
    if name == "assign":
        dept_id = case.department_id
        if my_dept is not None and roles.DEPT_HEAD in my_roles and not (my_roles & roles.COMPANY_WIDE_ROLES):
            dept_id = case.department_id or my_dept.pk
        return ActionForm(
            name,
            label,
            [
                F(
                    "department",
                    _("责任部门"),
                    "select",
                    False,
                    [("", _("按分类自动路由"))] + _departments(),
                    case.department.code if case.department else "",
                ),
                F(
                    "handler",
                    _("经办人"),
                    "select",
                    False,
                    [("", _("暂不指定"))] + _handlers(dept_id),
                    str(case.handler_id or _least_loaded(case.department_id) or ""),
                ),
                F("note", _("备注"), "text"),
            ],
        )
    if name == "start_investigation":
        # Starting and asking another department to check something are often one sitting: the
        # collaboration request may go with the start (kesu.web.services.start_and_request_collaboration).
        depts = [(c, n) for c, n in _departments() if not case.department or c != case.department.code]
        return ActionForm(
            name,
            label,
            [
                F("note", _("备注"), "textarea"),
                F("contacted_customer", _("已联系客户"), "checkbox"),
                F(
                    "collab_department",
                    _("同时请求协办"),
                    "select",
                    False,
                    [("", _("（不请求协办）"))] + depts,
                ),
                F("collab_question", _("协办事项"), "textarea"),
            ],
        )
    if name == "add_note":
        return ActionForm(
            name,
            label,
            [
                F("text", _("处理记录"), "textarea", True),
                F("contacted_customer", _("已联系客户"), "checkbox"),
            ],
        )
    if name == "set_respondent":
        return ActionForm(
            name,
            label,
            [
                F("respondent_name", _("被投诉人"), "text", False, [], case.respondent_name),
                F(
                    "respondent_staff",
                    _("被投诉员工"),
                    "select",
                    False,
                    [("", _("（未确定）"))] + _colleagues(user),
                    str(case.respondent_staff_id or ""),
                ),
                F(
                    "respondent_department",
                    _("被投诉部门"),
                    "select",
                    False,
                    [("", _("（未确定）"))] + _departments(),
                    case.respondent_department.code if case.respondent_department_id else "",
                ),
                _involved_field(case, user, reads),
                F("note", _("说明"), "text"),
            ],
        )
    if name == "request_collaboration":
        depts = [(c, n) for c, n in _departments() if not case.department or c != case.department.code]
        return ActionForm(
            name,
            label,
            [
                F("department", _("协办部门"), "select", True, depts),
                F("question", _("协办事项"), "textarea", True),
            ],
        )
    if name == "decide_collaboration_request":
        reqs = [r for r in reads.collaborations if r.state == CollaborationRequest.State.PROPOSED]
        if not reqs:
            return None
        choices = [(str(r.pk), f"#{r.pk} {display_name(r.to_department)}：{r.question[:30]}") for r in reqs]
        return ActionForm(
            name,
            label,
            [
                F("request_id", _("协办申请"), "select", True, choices),
                F("approve", _("决定"), "select", True, [("1", _("批准")), ("", _("不批准"))]),
                F("note", _("审批意见（不批准时必填）"), "textarea"),
            ],
        )
    if name == "decide_panel_request":
        reviews = [r for r in reads.reviews if r.state == PanelReview.State.PROPOSED]
        if not reviews:
            return None
        choices = [(str(r.pk), f"#{r.pk} {r.topic}") for r in reviews]
        return ActionForm(
            name,
            label,
            [
                F("review_id", _("合议申请"), "select", True, choices),
                F("approve", _("决定"), "select", True, [("1", _("批准并召集")), ("", _("不批准"))]),
                F("note", _("审批意见（不批准时必填）"), "textarea"),
            ],
            hint=str(_("批准后由您主持合议")),
        )
    if name == "answer_collaboration":
        if my_dept is None:
            return None
        reqs = [
            r
            for r in reads.collaborations
            if r.to_department_id == my_dept.pk and r.state == CollaborationRequest.State.OPEN
        ]
        if not reqs:
            return None
        choices = [(str(r.pk), f"#{r.pk} {r.question[:40]}") for r in reqs]
        return ActionForm(
            name,
            label,
            [
                F("request_id", _("协办请求"), "select", True, choices),
                F("answer", _("协办意见"), "textarea", True),
            ],
        )
    if name == "convene_panel":
        return ActionForm(
            name,
            label,
            [
                F("topic", _("合议议题"), "text", True),
                F(
                    "participants",
                    _("参加人（至少两人）"),
                    "members",
                    True,
                    _members(user),
                    groups=_departments(),
                ),
            ],
            hint=str(_("可按部门筛选、按姓名搜索；按住 Ctrl 可多选")),
        )
    if name in ("decide_panel", "record_preliminary_opinion"):
        reviews = [
            r
            for r in reads.reviews
            if r.state == PanelReview.State.CONVENED
            and (
                user.pk in (r.convened_by_id, r.chair_id)
                or any(p.user_id == user.pk for p in r.participants.all())
            )
        ]
        if not reviews:
            return None
        choices = [(str(r.pk), f"#{r.pk} {r.topic}") for r in reviews]
        if name == "record_preliminary_opinion":
            return ActionForm(
                name,
                label,
                [
                    F("review_id", _("合议"), "select", True, choices),
                    F("opinion", _("初步意见"), "textarea", True),
                ],
                hint=str(_("合议当日未能决定的，先给出初步的、具有倾向性的意见，最终意见仍须在时限内作出")),
            )
        return ActionForm(
            name,
            label,
            [
                F("review_id", _("合议"), "select", True, choices),
                F("meeting_at", _("会议时间"), "datetime"),
                F("minutes", _("会议纪要"), "textarea", True),
                F("decision", _("合议决议"), "textarea", True),
            ],
        )
    if name == "confirm_panel":
        reviews = [
            r
            for r in reads.reviews
            if r.state == PanelReview.State.DECIDED
            and any(p.user_id == user.pk and p.confirmed_at is None for p in r.participants.all())
        ]
        if not reviews:
            return None
        choices = [(str(r.pk), f"#{r.pk} {r.topic}") for r in reviews]
        return ActionForm(
            name,
            label,
            [F("review_id", _("合议"), "select", True, choices), F("opinion", _("意见"), "textarea")],
        )
    pending = [p for p in reads.proposals if p.state == Proposal.State.PENDING]
    if name == "propose_remedy":
        if pending:
            return None
        offered = rules.remedy_types(list(RemedyType.values), ROLE_BOUND_REMEDIES)
        remedies = [
            (v, str(lbl)) for v, lbl in RemedyType.choices if v in offered and v != RemedyType.SPECIAL_CLOSURE
        ]
        hint = ""
        if case.level in rules.panel_required_levels and not any(r.state in _DECIDED for r in reads.reviews):
            hint = str(_("重大/危机投诉须先经合议决议"))
        draft = _remedy_from_panel(reads, remedies)
        return ActionForm(
            name,
            label,
            [
                F("remedy_type", _("处理方式"), "select", True, remedies, draft.get("remedy_type", "")),
                F("amount", _("金额（元）"), "number", False, value=draft.get("amount", "0")),
                F("premium", _("保费（元，可选）"), "number"),
                *(
                    [F("cash_value", _("现金价值（元，协议解约时填写）"), "number")]
                    if rules.section("approval").get("above_cash_value_remedies")
                    else []
                ),
                F("description", _("方案说明"), "textarea", True, value=draft.get("description", "")),
            ],
            hint=hint,
        )
    if name == "request_special_closure":
        if pending:
            return None
        return ActionForm(name, label, [F("reason", _("申请理由"), "textarea", True)])
    if name in ("approve", "reject"):
        proposal = max(pending, key=lambda p: p.pk, default=None)
        if proposal is None or proposal.proposed_by_id == user.pk:
            return None
        nxt = proposal.next_role
        if nxt is None or nxt not in my_roles:
            return None
        return ActionForm(
            name,
            label,
            [
                F("proposal_id", "", "hidden", value=str(proposal.pk)),
                # The usual opinion of an approval is "同意"; a rejection must say why (no default).
                F(
                    "comment",
                    _("审批意见"),
                    "textarea",
                    name == "reject",
                    value=_("同意") if name == "approve" else "",
                ),
            ],
            hint=str(_("本步审批角色：%(r)s") % {"r": roles.ROLE_LABELS.get(nxt, nxt)}),
        )
    if name == "reply":
        # Replying and closing are usually one sitting: the closing criterion may be chosen here (the
        # close runs after the reply, in the same transaction: kesu.web.services.reply_and_close).
        return ActionForm(
            name,
            label,
            [
                F("method", _("答复方式"), "select", True, REPLY_METHODS, _reply_method(case)),
                F("text", _("答复内容"), "textarea", True, value=_reply_draft(user, reads)),
                F(
                    "close_criterion",
                    _("答复后结案"),
                    "select",
                    False,
                    [("", _("（暂不结案）"))] + _closing_criteria(case, rules),
                ),
            ],
        )
    if name == "close":
        if case.replied_at is None:
            return None
        crit = _closing_criteria(case, rules)
        return ActionForm(
            name,
            label,
            [F("criterion", _("结案依据"), "select", True, crit), F("note", _("备注"), "textarea")],
        )
    if name == "suspend":
        return ActionForm(name, label, [F("reason", _("暂结案原因"), "textarea", True)])
    if name == "resume":
        return ActionForm(name, label, [F("note", _("备注"), "textarea")])
    if name == "follow_up":
        if user.pk in _involved(case):
            return None
        # The visit of this closing is done: no second form (an unsatisfied one has reopened the case).
        if case.closed_at and any(f.contacted_at >= case.closed_at for f in reads.follow_ups):
            return None
        # No preselected score: a visit is recorded as satisfied only by choosing so (the one-click
        # button, or a score picked in the form).
        scores = [("", _("（请选择）"))] + [(str(i), f"{i}") for i in range(5, 0, -1)]
        return ActionForm(
            name,
            label,
            [
                F("score", _("满意度（1–5 分）"), "select", True, scores),
                F("comment", _("回访记录"), "textarea"),
            ],
            hint=str(_("低于 %(n)s 分视为不满意，案件将重新处理") % {"n": rules.satisfied_min_score}),
            quick=[(_("客户满意（5 分）"), {"score": "5", "comment": str(_("客户表示满意"))}, False)],
        )
    if name == "reopen":
        return ActionForm(name, label, [F("reason", _("重新处理原因"), "textarea", True)])
    if name == "archive":
        return ActionForm(name, label, [])
    if name == "request_archive_access":
        return ActionForm(name, label, [F("reason", _("调阅理由"), "textarea", True)])
    if name == "decide_archive_access":
        reqs = reads.pending_archive_requests
        if not reqs:
            return None
        choices = [
            (str(r.pk), f"#{r.pk} {r.requester.get_full_name() or r.requester.username}：{r.reason[:30]}")
            for r in reqs
        ]
        quick = []
        if len(reqs) == 1:
            # The one pending request: grant (for the default period) or refuse with one click; the
            # archivist still chooses, nothing is decided by default.
            rid = str(reqs[0].pk)
            quick = [
                (_("批准（7 天）"), {"request_id": rid, "approve": "1", "days": "7"}, False),
                (_("拒绝"), {"request_id": rid, "approve": ""}, True),
            ]
        return ActionForm(
            name,
            label,
            [
                F("request_id", _("调阅申请"), "select", True, choices),
                F("approve", _("决定"), "select", True, [("1", _("批准")), ("", _("拒绝"))]),
                F("days", _("有效天数"), "number", value="7"),
            ],
            quick=quick,
        )
    if name in ("confirm_accountability", "waive_accountability"):
        records = [a for a in reads.accountabilities if a.state == Accountability.State.PROPOSED]
        if not records:
            return None
        choices = [
            (
                str(r.pk),
                f"#{r.pk} {r.person.get_full_name() or r.person.username}（{accountability_reason_label(r.reason)}）",
            )
            for r in records
        ]
        return ActionForm(
            name,
            label,
            [
                F("accountability_id", _("责任追究记录"), "select", True, choices),
                *(
                    [F("pr_cost", _("公关费用（元，按比例计罚时填写）"), "number", False)]
                    if name == "confirm_accountability"
                    else []
                ),
                F("reason", _("理由"), "textarea", name == "waive_accountability"),
            ],
        )
    if name == "attach":
        return ActionForm(name, label, [F("file", _("文件"), "file", True), F("note", _("说明"), "text")])
    if name == "file_regulator_submission":
        return ActionForm(
            name,
            label,
            [
                F("regulator", _("报送单位"), "text", True),
                F("sent_at", _("报送时间（不填为现在）"), "datetime"),
                F("contents", _("报送内容（报送了哪些材料）"), "textarea", True),
            ],
            hint=str(_("报送记录由风险合规部门备案，并记入案件处理记录")),
        )
    if name == "add_archive_material":
        return ActionForm(
            name,
            label,
            [
                F("file", _("文件"), "file", True),
                F("material", _("材料类别"), "select", True, list(ArchiveMaterial.choices)),
                F("note", _("说明"), "text"),
            ],
            hint=str(_("补充材料记入案件处理记录，案件仍为已归档")),
        )
    if name == "mark_typical":
        if case.kind == Kind.REPORT:
            return None
        current = reads.typical.lesson if reads.typical is not None else None
        return ActionForm(name, label, [F("lesson", _("经验教训"), "textarea", True, value=current or "")])
    if name == "record_emergency_plan":
        required = rules.section("emergency_plan").get("required_levels", [])
        plan = reads.emergency_plan
        if case.level not in required and plan is None:
            return None
        return ActionForm(
            name,
            label,
            [
                F(
                    "leader",
                    _("负责人"),
                    "select",
                    True,
                    [(str(user.pk), user.get_full_name() or user.username)] + _colleagues(user),
                    str(plan.leader_id if plan else user.pk),
                ),
                F("measures", _("应急措施"), "textarea", True, value=plan.measures if plan else ""),
                F("contacts", _("联络人及联系方式"), "textarea", True, value=plan.contacts if plan else ""),
            ],
        )
    if name == "extend_deadline":
        # `kesu.sla.services.apply_extension` reads days, reason and stage (the open stage deadline to
        # move; the answer deadline unless another one is chosen).

        open_stages = sorted(
            ((s.stage, s.due_at) for s in reads.stage_deadlines if s.state == StageDeadline.State.OPEN),
            key=lambda row: row[1],
        )
        if not open_stages:
            return None
        seen: dict[str, str] = {}
        for stage, due in open_stages:
            if stage not in seen:
                local = timezone.localtime(due)
                seen[stage] = f"{stage_label(stage)}（{local:%Y-%m-%d %H:%M}）"
        choices = list(seen.items())
        default = "answer" if "answer" in seen else choices[0][0]
        return ActionForm(
            name,
            label,
            [
                F("stage", _("延长的环节时限"), "select", True, choices, default),
                F("days", _("延长工作日数"), "number", True),
                F("reason", _("延长原因"), "textarea", True),
            ],
        )
    # Regulator layers: offered only where the case's policy has the rule (the actions refuse otherwise).
    if name in ("start_appraisal", "end_appraisal"):
        if not regulator.appraisal_allowed(rules):
            return None
        field = (
            F("reason", _("鉴定、检测或评估事项"), "textarea", True)
            if name == "start_appraisal"
            else F("result", _("结果"), "textarea", False)
        )
        return ActionForm(name, label, [field])
    if name in ("request_review", "conclude_review"):
        if not regulator.review_rules(rules):
            return None
        field = (
            F("reason", _("申请理由"), "textarea", True)
            if name == "request_review"
            else F("conclusion", _("结论"), "textarea", True)
        )
        return ActionForm(name, label, [field])
    return ActionForm(name, label, [])


FIELD_KINDS = {
    # action -> {field: kind} for fields that are not plain text
    "accept": {"senior_management": "checkbox"},
    "start_investigation": {"contacted_customer": "checkbox"},
    "add_note": {"contacted_customer": "checkbox"},
    "convene_panel": {"participants": "multiselect"},
    "set_respondent": {"involved_staff": "multiselect"},
    "decide_archive_access": {"approve": "checkbox"},
    "decide_collaboration_request": {"approve": "checkbox"},
    "decide_panel_request": {"approve": "checkbox"},
}
FIELD_NAMES = {
    "accept": ["kind", "category", "business_type", "senior_management", "fault_level"],
    "mark_invalid": ["reason", "note"],
    "answer_first_contact": ["answer"],
    "regrade": ["level", "reason"],
    "assign": ["department", "handler", "note"],
    "start_investigation": ["note", "contacted_customer"],
    "add_note": ["text", "contacted_customer"],
    "set_respondent": [
        "respondent_name",
        "respondent_staff",
        "respondent_department",
        "involved_staff",
        "note",
    ],
    "request_collaboration": ["department", "question"],
    "decide_collaboration_request": ["request_id", "approve", "note"],
    "answer_collaboration": ["request_id", "answer"],
    "convene_panel": ["topic", "participants"],
    "decide_panel_request": ["review_id", "approve", "note"],
    "record_preliminary_opinion": ["review_id", "opinion"],
    "decide_panel": ["review_id", "meeting_at", "minutes", "decision"],
    "confirm_panel": ["review_id", "opinion"],
    "propose_remedy": ["remedy_type", "amount", "premium", "cash_value", "description"],
    "request_special_closure": ["reason"],
    "approve": ["proposal_id", "comment"],
    "reject": ["proposal_id", "comment"],
    "reply": ["method", "text"],
    "close": ["criterion", "note"],
    "suspend": ["reason"],
    "resume": ["note"],
    "follow_up": ["score", "comment"],
    "reopen": ["reason"],
    "archive": [],
    "request_archive_access": ["reason"],
    "decide_archive_access": ["request_id", "approve", "days"],
    "confirm_accountability": ["accountability_id", "pr_cost", "reason"],
    "waive_accountability": ["accountability_id", "reason"],
    "attach": ["note"],
    "file_regulator_submission": ["regulator", "sent_at", "contents"],
    "add_archive_material": ["material", "note"],
    "mark_typical": ["lesson"],
    "record_emergency_plan": ["leader", "measures", "contacts"],
    "extend_deadline": ["stage", "days", "reason"],
    "start_appraisal": ["reason"],
    "end_appraisal": ["result"],
    "request_review": ["reason"],
    "conclude_review": ["conclusion"],
}


def collect(action: str, post) -> dict[str, Any]:
    """The posted values of one action form as `perform` keyword data (empty optional values dropped)."""
    kinds = FIELD_KINDS.get(action, {})
    data: dict[str, Any] = {}
    for name in FIELD_NAMES.get(action, []):
        kind = kinds.get(name, "text")
        if kind == "checkbox":
            data[name] = bool(post.get(name))
        elif kind == "multiselect":
            data[name] = [v for v in post.getlist(name) if v]
        else:
            value = post.get(name, "")
            if value in ("", None) and name not in (
                "text",
                "answer",
                "reason",
                "question",
                "description",
                "comment",
                "topic",
                "minutes",
                "decision",
                "conclusion",
            ):
                continue
            data[name] = value
    return data
