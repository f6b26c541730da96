"""Action handlers: what each lifecycle action does to a locked case.

Called only by `kesu.cases.services.perform`, inside its transaction, after the
transition table and permissions were checked. A handler validates its input,
writes the action's own records (proposal, follow-up ...), sets case fields, and
returns the target status and the event payload. Raising rolls everything back.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from kesu.calendar.workcalendar import add_calendar_days, add_months
from kesu.cases import grading
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Accountability,
    ApprovalStep,
    ArchiveAccessRequest,
    CaseEvent,
    CollaborationRequest,
    FollowUp,
    Kind,
    Level,
    PanelParticipant,
    PanelReview,
    Proposal,
    RemedyType,
    Status,
)
from kesu.errors import Conflict, Forbidden, IllegalTransition, Invalid, NotFound
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import department_of, direct_supervisor, has_role, user_roles
from kesu.policy.models import Category
from kesu.policy.rules import LEVELS

# --- helpers ------------------------------------------------------------------------


def _department(code_or_id) -> Department:
    qs = Department.objects.filter(is_active=True)
    dept = qs.filter(code=str(code_or_id)).first()
    if dept is None and str(code_or_id).isdigit():
        dept = qs.filter(pk=int(code_or_id)).first()
    if dept is None:
        raise Invalid(
            _("未知部门：%(code_or_id)s") % {"code_or_id": code_or_id}, details={"department": _("未知部门")}
        )
    return dept


def _user(user_id, field: str = "user"):
    User = get_user_model()
    user = User.objects.filter(pk=user_id, is_active=True).first() if str(user_id).isdigit() else None
    if user is None:
        user = User.objects.filter(username=str(user_id), is_active=True).first()
    if user is None:
        raise Invalid(_("未知人员：%(user_id)s") % {"user_id": user_id}, details={field: _("未知人员")})
    return user


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        raise Invalid(_("%(field)s 不是有效金额") % {"field": field}, details={field: _("不是有效金额")})
    if amount < 0 or amount > Decimal("999999999999"):
        raise Invalid(_("%(field)s 超出范围") % {"field": field}, details={field: _("超出范围")})
    return amount.quantize(Decimal("0.01"))


def _uid(user) -> int | None:
    return getattr(user, "pk", None)


def involved_user_ids(case) -> set[int]:
    """The handler and everybody who worked on the case (for the follow-up rule, 000 第7篇)."""
    ids = {case.handler_id} if case.handler_id else set()
    working_actions = {
        "start_investigation",
        "add_note",
        "request_collaboration",
        "answer_collaboration",
        "convene_panel",
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


def apply_grading(ctx: ActionContext) -> dict:
    """Grade the case from the rules unless a person overrode the level; returns the payload part."""
    case = ctx.case
    level, reasons = grading.grade(case, ctx.rules, channel_is_crisis=case.channel.is_crisis)
    if case.level_overridden:
        return {"level": case.level, "level_overridden": True}
    case.level, case.level_reasons = level, reasons
    return {"level": level, "level_reasons": reasons}


# --- judging ------------------------------------------------------------------------


def accept(ctx: ActionContext) -> Outcome:
    case = ctx.case
    payload: dict = {}
    kind = ctx.data.get("kind") or case.kind
    if kind not in Kind.values or (ctx.rules.enabled_kinds and kind not in ctx.rules.enabled_kinds):
        raise Invalid(_("未知类型：%(kind)s") % {"kind": kind}, details={"kind": _("未知类型")})
    case.kind = kind
    category_code = ctx.data.get("category")
    if category_code:
        category = Category.objects.filter(code=category_code, is_active=True).first()
        if category is None:
            raise Invalid(
                _("未知分类：%(category_code)s") % {"category_code": category_code},
                details={"category": _("未知分类")},
            )
        case.category = category
    # Whistle-blowing reports are routed to risk management, not by the complaint taxonomy.
    if case.category is None and kind not in (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION, Kind.REPORT):
        raise Invalid(_("受理投诉须选择分类"), details={"category": _("必填")})
    business_type = ctx.data.get("business_type")
    if business_type:
        if business_type not in ctx.rules.business_types:
            raise Invalid(
                _("未知业务类型：%(business_type)s") % {"business_type": business_type},
                details={"business_type": _("未知业务类型")},
            )
        case.business_type = business_type
    case.is_valid = True
    payload.update({"kind": kind, "category": case.category.code if case.category else None})
    payload.update(apply_grading(ctx))
    return Outcome(Status.ACCEPTED, payload, public=True)


def mark_invalid(ctx: ActionContext) -> Outcome:
    reason = ctx.text("reason")
    if reason not in ctx.rules.invalidity_reasons:
        raise Invalid(
            _("未知的无效原因：%(reason)s") % {"reason": reason},
            details={"reason": _("可选：") + "、".join(ctx.rules.invalidity_reasons)},
        )
    ctx.case.is_valid = False
    ctx.case.invalid_reason = reason
    ctx.case.closing_criterion = "invalid"
    ctx.case.closed_at = ctx.now
    return Outcome(Status.INVALID, {"reason": reason, "note": ctx.text("note", required=False)}, public=True)


def answer_first_contact(ctx: ActionContext) -> Outcome:
    case = ctx.case
    kind = ctx.data.get("kind") or case.kind
    if kind not in (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION):
        raise IllegalTransition(_("只有咨询、查询、建议可以当场答复"), code="not_answerable")
    case.kind = kind
    case.is_valid = True
    answer = ctx.text("answer")
    case.replied_at = case.closed_at = case.last_contact_at = ctx.now
    case.closing_criterion = "answered"
    return Outcome(Status.ANSWERED, {"answer": answer}, public=True)


def regrade(ctx: ActionContext) -> Outcome:
    level = ctx.data.get("level")
    if level not in LEVELS:
        raise Invalid(
            _("未知等级：%(level)s") % {"level": level}, details={"level": _("可选：") + "、".join(LEVELS)}
        )
    reason = ctx.text("reason")
    old = ctx.case.level
    ctx.case.level = level
    ctx.case.level_overridden = True
    ctx.case.level_reasons = [*ctx.case.level_reasons, {"rule": "manual", "level": level, "detail": reason}]
    return Outcome(None, {"from_level": old, "to_level": level, "reason": reason})


# --- routing ------------------------------------------------------------------------


def route_department(ctx: ActionContext) -> Department:
    """谁主管谁负责: the category's department, else the policy's default."""
    case = ctx.case
    if case.kind == Kind.REPORT:
        code = ctx.rules.whistleblowing_department_code()
    else:
        code = (case.category.department_code if case.category else "") or ctx.rules.default_department_code()
    return _department(code)


def assign(ctx: ActionContext) -> Outcome:
    case = ctx.case
    dept = _department(ctx.data["department"]) if ctx.data.get("department") else route_department(ctx)
    handler = None
    if ctx.data.get("handler"):
        handler = _user(ctx.data["handler"], "handler")
        staff_dept = department_of(handler)
        if (
            staff_dept is None
            or staff_dept.pk != dept.pk
            or not has_role(handler, roles.HANDLER, roles.DEPT_HEAD)
        ):
            raise Invalid(_("经办人必须是责任部门的经办人员"), details={"handler": _("不属于责任部门")})
        if case.kind == Kind.REPORT and not has_role(handler, roles.RISK):
            raise Invalid(_("举报只能由风险合规人员办理"), details={"handler": _("须为风险合规人员")})
    previous = {"department": case.department.code if case.department else None, "handler": case.handler_id}
    case.department = dept
    case.handler = handler
    to = Status.INVESTIGATING if case.status == Status.INVESTIGATING else Status.ASSIGNED
    return Outcome(
        to,
        {
            "department": dept.code,
            "handler": _uid(handler),
            "previous": previous,
            "note": ctx.text("note", required=False),
        },
        public=case.status == Status.ACCEPTED,
    )


def start_investigation(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if case.handler_id is None:
        case.handler = ctx.actor
    contacted = bool(ctx.data.get("contacted_customer"))
    if contacted:
        case.last_contact_at = ctx.now
    return Outcome(
        Status.INVESTIGATING,
        {"note": ctx.text("note", required=False), "contacted_customer": contacted},
        public=True,
    )


def add_note(ctx: ActionContext) -> Outcome:
    text = ctx.text("text")
    contacted = bool(ctx.data.get("contacted_customer"))
    if contacted:
        ctx.case.last_contact_at = ctx.now
    return Outcome(None, {"text": text, "contacted_customer": contacted})


# --- collaboration (协办) -----------------------------------------------------------


def request_collaboration(ctx: ActionContext) -> Outcome:
    case = ctx.case
    ctx.require("department")
    dept = _department(ctx.data["department"])
    if dept.pk == case.department_id:
        raise Invalid(_("协办部门不能是责任部门本身"), details={"department": _("不能是责任部门")})
    question = ctx.text("question")
    req = CollaborationRequest.objects.create(
        case=case,
        from_department=case.department,
        to_department=dept,
        question=question,
        requested_by=ctx.actor,
        requested_at=ctx.now,
    )
    return Outcome(None, {"request_id": req.pk, "department": dept.code, "question": question})


def answer_collaboration(ctx: ActionContext) -> Outcome:
    ctx.require("request_id")
    req = CollaborationRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("协办请求不存在"))
    if req.state != CollaborationRequest.State.OPEN:
        raise Conflict(_("该协办请求已回复"), code="already_answered")
    dept = department_of(ctx.actor)
    if dept is None or dept.pk != req.to_department_id:
        raise Forbidden(_("只有被请求协办的部门可以回复"))
    req.answer = ctx.text("answer")
    req.answered_by, req.answered_at, req.state = ctx.actor, ctx.now, CollaborationRequest.State.ANSWERED
    req.save()
    return Outcome(None, {"request_id": req.pk, "answer": req.answer})


# --- panel review (合议) ------------------------------------------------------------


def convene_panel(ctx: ActionContext) -> Outcome:
    participants = ctx.data.get("participants") or []
    if not isinstance(participants, list) or len(set(map(str, participants))) < 2:
        raise Invalid(_("合议至少需要两名参加人"), details={"participants": _("至少两人")})
    users = [_user(p, "participants") for p in dict.fromkeys(map(str, participants))]
    review = PanelReview.objects.create(
        case=ctx.case, topic=ctx.text("topic", max_length=200), convened_by=ctx.actor, convened_at=ctx.now
    )
    PanelParticipant.objects.bulk_create([PanelParticipant(review=review, user=u) for u in users])
    return Outcome(
        None, {"review_id": review.pk, "topic": review.topic, "participants": [u.pk for u in users]}
    )


def _review(ctx: ActionContext) -> PanelReview:
    ctx.require("review_id")
    review = PanelReview.objects.filter(pk=ctx.data["review_id"], case=ctx.case).first()
    if review is None:
        raise NotFound(_("合议记录不存在"))
    return review


def decide_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    if review.state != PanelReview.State.CONVENED:
        raise Conflict(_("该合议已有决议"), code="already_decided")
    is_member = review.participants.filter(user=ctx.actor).exists() or review.convened_by_id == _uid(
        ctx.actor
    )
    if not is_member:
        raise Forbidden(_("只有召集人或参加人可以记录合议决议"))
    review.minutes, review.decision = ctx.text("minutes"), ctx.text("decision")
    review.state, review.decided_at = PanelReview.State.DECIDED, ctx.now
    review.save()
    return Outcome(None, {"review_id": review.pk, "decision": review.decision})


def confirm_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    if review.state == PanelReview.State.CONVENED:
        raise Conflict(_("合议尚无决议，无法确认纪要"), code="not_decided")
    participant = review.participants.filter(user=ctx.actor).first()
    if participant is None:
        raise Forbidden(_("只有合议参加人可以确认纪要"))
    if participant.confirmed_at:
        raise Conflict(_("您已确认过该纪要"), code="already_confirmed")
    participant.confirmed_at, participant.opinion = ctx.now, ctx.text("opinion", required=False)
    participant.save()
    if not review.participants.filter(confirmed_at__isnull=True).exists():
        review.state = PanelReview.State.CONFIRMED
        review.save(update_fields=["state"])
    return Outcome(
        None, {"review_id": review.pk, "all_confirmed": review.state == PanelReview.State.CONFIRMED}
    )


# --- remedy and approval -------------------------------------------------------------


def _check_no_pending_proposal(case) -> None:
    if case.proposals.filter(state=Proposal.State.PENDING).exists():
        raise Conflict(_("已有待审批的方案"), code="proposal_pending")


def propose_remedy(ctx: ActionContext) -> Outcome:
    case = ctx.case
    remedy = ctx.data.get("remedy_type")
    if remedy not in RemedyType.values or remedy == RemedyType.SPECIAL_CLOSURE:
        raise Invalid(
            _("未知处理方式：%(remedy)s") % {"remedy": remedy}, details={"remedy_type": _("未知处理方式")}
        )
    if (
        case.level in ctx.rules.panel_required_levels
        and not case.panel_reviews.filter(state=PanelReview.State.CONFIRMED).exists()
    ):
        raise Conflict(_("重大/危机投诉须先经合议决议，并由全体参加人确认纪要"), code="panel_required")
    _check_no_pending_proposal(case)
    amount = _amount(ctx.data.get("amount"), "amount")
    premium = _amount(ctx.data["premium"], "premium") if ctx.data.get("premium") not in (None, "") else None
    chain = ctx.rules.approval_chain(amount=amount, premium=premium, remedy=remedy, level=case.level)
    proposal = Proposal.objects.create(
        case=case,
        remedy_type=remedy,
        amount=amount,
        premium=premium,
        description=ctx.text("description"),
        proposed_by=ctx.actor,
        proposed_at=ctx.now,
        required_roles=chain,
        state=Proposal.State.PENDING if chain else Proposal.State.APPROVED,
    )
    to = Status.PENDING_APPROVAL if chain else Status.RESPONDING
    return Outcome(
        to,
        {"proposal_id": proposal.pk, "remedy_type": remedy, "amount": str(amount), "required_roles": chain},
    )


def request_special_closure(ctx: ActionContext) -> Outcome:
    """001 篇10: demands far beyond the loss or repeated complaints for gain → special closure, approved."""
    case = ctx.case
    _check_no_pending_proposal(case)
    chain = ctx.rules.approval_chain(
        amount=Decimal(0), premium=None, remedy="special_closure", level=case.level
    )
    proposal = Proposal.objects.create(
        case=case,
        remedy_type=RemedyType.SPECIAL_CLOSURE,
        description=ctx.text("reason"),
        proposed_by=ctx.actor,
        proposed_at=ctx.now,
        required_roles=chain,
    )
    return Outcome(
        Status.PENDING_APPROVAL,
        {"proposal_id": proposal.pk, "required_roles": chain, "reason": proposal.description},
    )


def _pending_proposal(ctx: ActionContext) -> Proposal:
    proposal = ctx.case.proposals.filter(state=Proposal.State.PENDING).order_by("-pk").first()
    if proposal is None:
        raise Conflict(_("没有待审批的方案"), code="no_pending_proposal")
    if ctx.data.get("proposal_id") and int(ctx.data["proposal_id"]) != proposal.pk:
        raise Conflict(_("该方案已不在审批中"), code="stale_proposal")
    return proposal


def _check_approver(ctx: ActionContext, proposal: Proposal) -> str:
    role = proposal.next_role
    if role is None:
        raise Conflict(_("该方案已审批完毕"), code="already_approved")
    if role not in user_roles(ctx.actor):
        raise Forbidden(
            _("本步审批需要「%(role)s」权限，超出您的审批权限") % {"role": roles.ROLE_LABELS.get(role, role)},
            code="above_authority",
            details={"required_role": role},
        )
    if proposal.proposed_by_id == _uid(ctx.actor):
        raise Forbidden(_("不能审批自己提出的方案"), code="own_proposal")
    if proposal.steps.filter(approver=ctx.actor).exists():
        raise Forbidden(_("同一人不能审批同一方案的两个步骤"), code="already_approved_step")
    return role


def approve(ctx: ActionContext) -> Outcome:
    case = ctx.case
    proposal = _pending_proposal(ctx)
    role = _check_approver(ctx, proposal)
    step_no = proposal.steps.count() + 1
    ApprovalStep.objects.create(
        proposal=proposal,
        step=step_no,
        role=role,
        approver=ctx.actor,
        decision=ApprovalStep.Decision.APPROVED,
        comment=ctx.text("comment", required=False),
        decided_at=ctx.now,
    )
    payload = {"proposal_id": proposal.pk, "step": step_no, "role": role}
    if proposal.next_role is not None:
        return Outcome(Status.PENDING_APPROVAL, {**payload, "next_role": proposal.next_role})
    proposal.state = Proposal.State.APPROVED
    proposal.save(update_fields=["state"])
    if proposal.remedy_type == RemedyType.SPECIAL_CLOSURE:
        case.closing_criterion, case.is_special_closure, case.closed_at = "special", True, ctx.now
        return Outcome(Status.CLOSED, {**payload, "final": True, "criterion": "special"}, public=True)
    return Outcome(Status.RESPONDING, {**payload, "final": True})


def reject(ctx: ActionContext) -> Outcome:
    proposal = _pending_proposal(ctx)
    role = _check_approver(ctx, proposal)
    comment = ctx.text("comment")
    ApprovalStep.objects.create(
        proposal=proposal,
        step=proposal.steps.count() + 1,
        role=role,
        approver=ctx.actor,
        decision=ApprovalStep.Decision.REJECTED,
        comment=comment,
        decided_at=ctx.now,
    )
    proposal.state = Proposal.State.REJECTED
    proposal.save(update_fields=["state"])
    return Outcome(Status.INVESTIGATING, {"proposal_id": proposal.pk, "role": role, "comment": comment})


# --- reply and closing ----------------------------------------------------------------


def reply(ctx: ActionContext) -> Outcome:
    text = ctx.text("text")
    method = ctx.data.get("method") or "phone"
    ctx.case.replied_at = ctx.case.last_contact_at = ctx.now
    return Outcome(None, {"text": text, "method": method}, public=True)


def close(ctx: ActionContext) -> Outcome:
    case = ctx.case
    criterion = ctx.data.get("criterion")
    manual = [c for c in ctx.rules.manual_closing_criteria() if c != "invalid"]
    if criterion not in manual:
        raise Invalid(
            _("结案依据无效：%(criterion)s") % {"criterion": criterion},
            details={"criterion": _("可选：") + "、".join(manual)},
        )
    if case.replied_at is None:
        raise Conflict(_("结案前须先答复客户"), code="reply_required")
    case.closing_criterion, case.closed_at = criterion, ctx.now
    return Outcome(
        Status.CLOSED, {"criterion": criterion, "note": ctx.text("note", required=False)}, public=True
    )


def suspend(ctx: ActionContext) -> Outcome:
    case = ctx.case
    case.status_before_suspension = case.status
    case.suspended_at = ctx.now
    if case.last_contact_at is None:
        case.last_contact_at = ctx.now
    return Outcome(Status.SUSPENDED, {"reason": ctx.text("reason"), "from": case.status}, public=True)


def resume(ctx: ActionContext) -> Outcome:
    case = ctx.case
    to = case.status_before_suspension or Status.INVESTIGATING
    case.status_before_suspension = ""
    case.suspended_at = None
    case.last_contact_at = ctx.now
    return Outcome(to, {"note": ctx.text("note", required=False)}, public=True)


def expire_suspension(ctx: ActionContext) -> Outcome:
    """003: a suspension ends after at most N months from the last contact; the case is then closed."""
    case = ctx.case
    limit = add_months(case.last_contact_at or case.suspended_at, ctx.rules.suspension_max_months)
    if ctx.now < limit:
        raise Conflict(
            _("暂结案期限未满（至 %(date)s）") % {"date": limit.isoformat()}, code="suspension_not_expired"
        )
    case.closing_criterion, case.closed_at = "suspension_expired", ctx.now
    case.status_before_suspension = ""
    return Outcome(
        Status.CLOSED, {"criterion": "suspension_expired", "limit": limit.isoformat()}, public=True
    )


# --- after closing -------------------------------------------------------------------------


def follow_up(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if _uid(ctx.actor) in involved_user_ids(case):
        raise Forbidden(_("回访须由未参与处理的人员进行"), code="involved_in_case")
    try:
        score = int(ctx.data.get("score"))
    except (TypeError, ValueError):
        raise Invalid(_("满意度须为 1–5 分"), details={"score": "1–5"})
    if not 1 <= score <= 5:
        raise Invalid(_("满意度须为 1–5 分"), details={"score": "1–5"})
    satisfied = score >= ctx.rules.satisfied_min_score
    comment = ctx.text("comment", required=False)
    FollowUp.objects.create(
        case=case, agent=ctx.actor, contacted_at=ctx.now, score=score, satisfied=satisfied, comment=comment
    )
    case.satisfaction = score
    case.last_contact_at = ctx.now
    payload = {"score": score, "satisfied": satisfied, "comment": comment}
    if satisfied:
        return Outcome(None, payload, public=True)
    if within_reopen_window(ctx):
        _reopen(ctx)
        return Outcome(Status.INVESTIGATING, {**payload, "reopened": True}, public=True)
    # Past the window the matter continues in a new case linked to this one.
    from kesu.cases.services import create_continuation

    continuation = create_continuation(case, actor=ctx.actor, now=ctx.now, reason=comment or "回访不满意")
    return Outcome(None, {**payload, "reopened": False, "continuation": continuation.number}, public=True)


def within_reopen_window(ctx: ActionContext) -> bool:
    """A closed case may be reopened within the policy's window; an expired suspension never (003)."""
    case = ctx.case
    if case.closing_criterion == "suspension_expired" or case.closed_at is None:
        return False
    return ctx.now <= add_calendar_days(case.closed_at, ctx.rules.reopen_window_days)


def _reopen(ctx: ActionContext) -> None:
    case = ctx.case
    case.reopen_count += 1
    case.closed_at = None
    case.closing_criterion = ""
    case.replied_at = None
    case.satisfaction = None


def reopen(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if case.closing_criterion == "suspension_expired":
        raise Conflict(
            _("暂结案期满结案后再次联系须以关联新案登记"),
            code="reopen_window_passed",
            details={"window_days": 0},
        )
    if not within_reopen_window(ctx):
        raise Conflict(
            _("已超过重新处理期限，请以关联新案登记"),
            code="reopen_window_passed",
            details={"window_days": ctx.rules.reopen_window_days},
        )
    reason = ctx.text("reason")
    _reopen(ctx)
    return Outcome(Status.INVESTIGATING, {"reason": reason}, public=True)


def archive(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if not has_role(ctx.actor, roles.ARCHIVIST, roles.SUPERVISOR, roles.ADMIN) and case.kind != Kind.REPORT:
        raise Forbidden(_("风险合规人员只能归档举报案件"), code="role_not_allowed")
    needs_follow_up = (
        case.status == Status.CLOSED
        and case.kind in ctx.rules.follow_up_required_kinds
        and not case.is_special_closure
        and case.closing_criterion != "suspension_expired"
    )
    if needs_follow_up:
        # The follow-up after the latest closing: satisfied, or unsatisfied with the matter continued in a
        # linked new case (an unsatisfied one within the window has reopened the case instead).
        latest = case.follow_ups.filter(contacted_at__gte=case.closed_at).order_by("-contacted_at").first()
        if latest is None or not (latest.satisfied or case.continuations.exists()):
            raise Conflict(_("归档前须完成回访"), code="follow_up_required")
    case.archived_at = ctx.now
    return Outcome(
        Status.ARCHIVED, {"retention_years": ctx.rules.section("archive").get("retention_years", 20)}
    )


def request_archive_access(ctx: ActionContext) -> Outcome:
    req = ArchiveAccessRequest.objects.create(
        case=ctx.case, requester=ctx.actor, reason=ctx.text("reason"), requested_at=ctx.now
    )
    return Outcome(None, {"request_id": req.pk, "reason": req.reason})


def decide_archive_access(ctx: ActionContext) -> Outcome:
    ctx.require("request_id")
    req = ArchiveAccessRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("调阅申请不存在"))
    if req.state != ArchiveAccessRequest.State.PENDING:
        raise Conflict(_("该调阅申请已处理"), code="already_decided")
    approved = bool(ctx.data.get("approve"))
    req.state = ArchiveAccessRequest.State.APPROVED if approved else ArchiveAccessRequest.State.REJECTED
    req.decided_by, req.decided_at = ctx.actor, ctx.now
    if approved:
        req.expires_at = add_calendar_days(ctx.now, int(ctx.data.get("days") or 7))
    req.save()
    return Outcome(None, {"request_id": req.pk, "approved": approved, "requester": req.requester_id})


# --- accountability (责任追究) ----------------------------------------------------------


def _accountability(ctx: ActionContext) -> Accountability:
    ctx.require("accountability_id")
    record = Accountability.objects.filter(pk=ctx.data["accountability_id"], case=ctx.case).first()
    if record is None:
        raise NotFound(_("责任追究记录不存在"))
    if record.state != Accountability.State.PROPOSED:
        raise Conflict(_("该记录已处理"), code="already_decided")
    return record


def propose_accountability(ctx: ActionContext) -> Outcome:
    """责任追究: the penalty for the responsible person and the direct supervisor comes from the policy."""

    case = ctx.case
    ctx.require("person")
    person = _user(ctx.data["person"], "person")
    reason = ctx.text("reason", required=False, max_length=40) or "graded"
    if Accountability.objects.filter(case=case, person=person, reason=reason).exists():
        raise Conflict(_("该人员已有同一原因的责任追究记录"), code="duplicate_accountability")
    penalty = ctx.rules.penalty_for(level=case.level, channel=case.channel.code)
    supervisor = direct_supervisor(person)
    record = Accountability.objects.create(
        case=case,
        person=person,
        supervisor=supervisor,
        reason=reason,
        basis=penalty["basis"],
        person_amount=penalty["person"],
        supervisor_amount=penalty["supervisor"] if supervisor else 0,
        reminder=penalty["reminder"],
        created_at=ctx.now,
    )
    return Outcome(
        None,
        {
            "accountability_id": record.pk,
            "person": person.pk,
            "supervisor": _uid(supervisor),
            "basis": record.basis,
            "person_amount": str(record.person_amount),
            "supervisor_amount": str(record.supervisor_amount),
        },
    )


def link_continuation(ctx: ActionContext) -> Outcome:
    """Records on the earlier case that the matter continues in a new linked case."""
    return Outcome(
        None, {"continuation": ctx.text("continuation"), "reason": ctx.text("reason", required=False)}
    )


def confirm_accountability(ctx: ActionContext) -> Outcome:
    record = _accountability(ctx)
    record.state, record.decided_by, record.decided_at = Accountability.State.CONFIRMED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason", required=False)
    record.save()
    return Outcome(
        None,
        {
            "accountability_id": record.pk,
            "person": record.person_id,
            "person_amount": str(record.person_amount),
        },
    )


def waive_accountability(ctx: ActionContext) -> Outcome:
    record = _accountability(ctx)
    record.state, record.decided_by, record.decided_at = Accountability.State.WAIVED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason")
    record.save()
    return Outcome(None, {"accountability_id": record.pk, "reason": record.decision_reason})


# --- system actions (deadline engine) -----------------------------------------------------


def escalate(ctx: ActionContext) -> Outcome:
    # The sweeper decides whom to notify; the event records it on the case's timeline.
    return Outcome(None, dict(ctx.data))


def extend_deadline(ctx: ActionContext) -> Outcome:
    """Ask for more time on a stage: checked here; how far the deadline moves, and whether the
    policy's maximum allows it, is decided by the deadline engine (kesu.sla.subscriber), which adds
    the old and new due dates to the event."""
    try:
        days = int(ctx.data.get("days") or ctx.data.get("working_days") or 0)
    except (TypeError, ValueError):
        days = 0
    if days <= 0 or days > 365:
        raise Invalid(_("延长天数须为正整数"), details={"days": _("须为正整数")})
    reason = ctx.text("reason")
    return Outcome(None, {"stage": ctx.data.get("stage") or "answer", "days": days, "reason": reason})


def recompute_deadlines(ctx: ActionContext) -> Outcome:
    return Outcome(None, {"reason": ctx.text("reason", required=False)})


def customer_mail(ctx: ActionContext) -> Outcome:
    """A message from the customer arrived by e-mail (kesu.intake.mail); the status does not change."""
    ctx.case.last_contact_at = ctx.now
    return Outcome(None, dict(ctx.data))


def level_for(level: str) -> str:
    return Level(level).label


# --- evidence files ---------------------------------------------------------------------------


def attach(ctx: ActionContext) -> Outcome:
    """Record an evidence file already checked and stored by `kesu.cases.attachments.attach_file`."""
    from kesu.cases.attachments import STORED_NAME_RE, stored_file_exists
    from kesu.cases.models import Attachment

    info = ctx.data.get("file")
    if not isinstance(info, dict) or not STORED_NAME_RE.match(str(info.get("stored_name", ""))):
        raise Invalid(_("缺少附件"), details={"file": _("必填")})
    if not stored_file_exists(info["stored_name"]):
        raise Invalid(_("附件文件不存在"), details={"file": _("文件不存在")})
    attachment = Attachment.objects.create(
        case=ctx.case,
        original_name=info["original_name"],
        stored_name=info["stored_name"],
        content_type=info["content_type"],
        size=info["size"],
        sha256=info["sha256"],
        uploaded_by=ctx.actor,
    )
    return Outcome(
        None,
        {
            "attachment_id": attachment.pk,
            "name": attachment.original_name,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "content_type": attachment.content_type,
            "note": ctx.text("note", required=False),
        },
    )
