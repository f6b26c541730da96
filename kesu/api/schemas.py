"""API schemas of kesu.cases: request bodies (one per lifecycle action) and the case representations.

The `present_*` functions turn model objects into plain dicts for the API. PII masking lives in
`present_customer`, the single place where the API decides what of a complainant a reader may see.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field

from kesu.cases.models import Case, CaseEvent, Kind, Level, RemedyType
from kesu.cases.services import allowed_actions
from kesu.cases.transitions import TRANSITIONS
from kesu.org import roles
from kesu.sla.selectors import case_timeliness
from kesu.trust import pii

Text = str
UserRef = int | str  # a user id or a username

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def business_instant(value: dt.datetime) -> dt.datetime:
    """An instant a complaint system can mean: 1970–2200, naive read as Beijing time, normalised to UTC.

    Without this a request could carry year 1 (date arithmetic overflows) or an offset such as
    +16:12 that Python accepts and PostgreSQL refuses — a 500 instead of a 422.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    if not 1970 <= value.year <= 2200 or abs(value.utcoffset() or dt.timedelta()) > dt.timedelta(hours=14):
        raise ValueError("时间超出合理范围（1970–2200 年，时区偏移不超过 ±14 小时）")
    return value.astimezone(dt.UTC)


Instant = Annotated[dt.datetime, AfterValidator(business_instant)]


class In(Schema):
    """Base of request bodies: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --- create ---------------------------------------------------------------------------------------


class CustomerIn(In):
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    address: str | None = Field(None, max_length=300)
    id_number: str | None = Field(None, max_length=40)
    policy_no: str | None = Field(None, max_length=60, description="保单号/合同号")
    account_no: str | None = Field(None, max_length=60, description="账号/订单号")


class CaseCreateIn(In):
    channel: str = Field(..., description="渠道编码，见 GET /policy/channels")
    received_at: Instant | None = Field(None, description="接收时间（默认当前时间）")
    kind: Kind = Kind.COMPLAINT
    category: str | None = Field(None, description="分类编码，见 GET /policy/categories")
    business_type: str | None = None
    subject: str | None = None
    description: str = Field(..., description="投诉内容")
    demands: str | None = None
    claimed_amount: Decimal | None = Field(None, ge=0)
    people_count: int = Field(1, ge=1, le=100000)
    subject_no: str | None = None
    product: str | None = None
    region: str | None = None
    branch: str | None = Field(None, description="所属机构编码")
    customer: CustomerIn | None = None
    flags: list[Literal["injury", "safety", "media", "lawyer"]] = Field(default_factory=list)
    is_anonymous: bool = Field(False, description="匿名举报（仅举报可匿名）")
    external_source: str | None = None
    external_id: str | None = None
    client_key: str | None = Field(None, max_length=100)

    def to_data(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, mode="python")
        if "customer" in data:
            data["customer"] = {k: v for k, v in data["customer"].items() if v is not None}
        if "kind" in data:
            data["kind"] = str(data["kind"].value if isinstance(data["kind"], Kind) else data["kind"])
        return data


# --- lifecycle actions ----------------------------------------------------------------------------


class ActionIn(In):
    expected_version: int | None = Field(
        None, ge=1, description="乐观锁：案件当前版本号（也可用 If-Match 请求头）；版本不符返回 409"
    )


class AcceptIn(ActionIn):
    kind: Kind | None = None
    category: str | None = Field(None, description="分类编码")
    business_type: str | None = None


class MarkInvalidIn(ActionIn):
    reason: str = Field(..., description="无效原因编码（规则中的 invalidity_reasons）")
    note: Text | None = None


class AnswerFirstContactIn(ActionIn):
    answer: Text
    kind: Literal["consultation", "query", "suggestion"] | None = None


class RegradeIn(ActionIn):
    level: Level
    reason: Text


class AssignIn(ActionIn):
    department: str | None = Field(None, description="责任部门编码；省略时按分类规则路由")
    handler: UserRef | None = Field(None, description="经办人（用户 ID 或用户名）")
    note: Text | None = None


class StartInvestigationIn(ActionIn):
    note: Text | None = None
    contacted_customer: bool = False


class AddNoteIn(ActionIn):
    text: Text
    contacted_customer: bool = False


class RequestCollaborationIn(ActionIn):
    department: str = Field(..., description="协办部门编码")
    question: Text


class AnswerCollaborationIn(ActionIn):
    request_id: int
    answer: Text


class ConvenePanelIn(ActionIn):
    topic: Text
    participants: list[UserRef] = Field(..., min_length=2, description="参加人（至少两人）")


class DecidePanelIn(ActionIn):
    review_id: int
    minutes: Text
    decision: Text
    meeting_at: Instant | None = None  # when the panel met


class ConfirmPanelIn(ActionIn):
    review_id: int
    opinion: Text | None = None


class ProposeRemedyIn(ActionIn):
    remedy_type: Literal[
        "refund", "exchange", "repair", "discount", "compensation", "explanation", "termination"
    ]
    amount: Decimal = Field(Decimal(0), ge=0)
    premium: Decimal | None = Field(None, ge=0, description="保费（保险：用于 70% 比例判断）")
    description: Text


class RequestSpecialClosureIn(ActionIn):
    reason: Text


class ApproveIn(ActionIn):
    proposal_id: int | None = Field(None, description="待审批方案 ID（防止审批到已变更的方案）")
    comment: Text | None = None


class RejectIn(ActionIn):
    proposal_id: int | None = None
    comment: Text


class ReplyIn(ActionIn):
    text: Text
    method: Literal["phone", "sms", "email", "letter", "visit", "online"] = "phone"


class CloseIn(ActionIn):
    criterion: str = Field(..., description="结案依据编码（规则中的 closing_criteria）")
    note: Text | None = None


class SuspendIn(ActionIn):
    reason: Text


class ResumeIn(ActionIn):
    note: Text | None = None


class FollowUpIn(ActionIn):
    score: int = Field(..., ge=1, le=5, description="满意度 1–5")
    comment: Text | None = None


class ReopenIn(ActionIn):
    reason: Text


class ArchiveIn(ActionIn):
    force: bool = Field(False, description="回访未获满意仍归档（须已回访）")


class RequestArchiveAccessIn(ActionIn):
    reason: Text


class DecideArchiveAccessIn(ActionIn):
    request_id: int
    approve: bool
    days: int = Field(7, ge=1, le=90, description="批准后可调阅天数")


class ConfirmAccountabilityIn(ActionIn):
    accountability_id: int
    reason: Text | None = None


class WaiveAccountabilityIn(ActionIn):
    accountability_id: int
    reason: Text


class ProposeAccountabilityIn(ActionIn):
    person: UserRef = Field(..., description="责任人（用户 ID 或用户名）；处罚金额按规则自动计算")
    reason: str | None = Field(None, max_length=40, description="原因（默认 graded；超时为 breach:<阶段>）")


class ExtendDeadlineIn(ActionIn):
    days: int = Field(..., ge=1, le=60, description="延长的工作日数")
    reason: Text
    stage: str | None = Field(None, description="时限阶段（省略为答复时限）")


# action → (body schema, summary). One operation per action is generated from this table.
ACTION_SCHEMAS: dict[str, type[ActionIn]] = {
    "accept": AcceptIn,
    "mark_invalid": MarkInvalidIn,
    "answer_first_contact": AnswerFirstContactIn,
    "regrade": RegradeIn,
    "assign": AssignIn,
    "start_investigation": StartInvestigationIn,
    "add_note": AddNoteIn,
    "request_collaboration": RequestCollaborationIn,
    "answer_collaboration": AnswerCollaborationIn,
    "convene_panel": ConvenePanelIn,
    "decide_panel": DecidePanelIn,
    "confirm_panel": ConfirmPanelIn,
    "propose_remedy": ProposeRemedyIn,
    "request_special_closure": RequestSpecialClosureIn,
    "approve": ApproveIn,
    "reject": RejectIn,
    "reply": ReplyIn,
    "close": CloseIn,
    "suspend": SuspendIn,
    "resume": ResumeIn,
    "follow_up": FollowUpIn,
    "reopen": ReopenIn,
    "archive": ArchiveIn,
    "request_archive_access": RequestArchiveAccessIn,
    "decide_archive_access": DecideArchiveAccessIn,
    "propose_accountability": ProposeAccountabilityIn,
    "confirm_accountability": ConfirmAccountabilityIn,
    "waive_accountability": WaiveAccountabilityIn,
    "extend_deadline": ExtendDeadlineIn,
}


def _with_fallbacks(table: dict[str, type[ActionIn]]) -> dict[str, type[ActionIn]]:
    """Every person-facing action of the transition table gets an endpoint, even one added later
    without a typed schema here (its body then passes any fields through to the handler)."""

    out = dict(table)
    for name, spec in TRANSITIONS.items():
        if name in out or spec.scope == "system" or name in UNTYPED_EXCLUDED:
            continue
        camel = "".join(part.capitalize() for part in name.split("_"))
        out[name] = type(f"{camel}In", (ActionIn,), {"model_config": ConfigDict(extra="allow")})
    return out


# Actions with their own endpoint elsewhere (attachments are multipart uploads).
UNTYPED_EXCLUDED = frozenset({"attach"})
ACTION_SCHEMAS = _with_fallbacks(ACTION_SCHEMAS)


# --- output schemas (for the OpenAPI document) ----------------------------------------------------


class ErrorOut(Schema):
    code: str
    message: str
    details: Any = None


class UserOut(Schema):
    id: int
    username: str
    name: str


class CustomerOut(Schema):
    name: str
    phone: str
    email: str
    address: str
    id_number: str
    policy_no: str
    account_no: str
    masked: bool


class CaseSummaryOut(Schema):
    number: str
    status: str
    status_label: str
    kind: str
    level: str
    channel: str
    category: str | None
    department: str | None
    handler: UserOut | None
    subject: str
    received_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool
    version: int
    is_anonymous: bool


class EventOut(Schema):
    seq: int
    action: str
    from_status: str
    to_status: str
    actor: UserOut | None
    created_at: dt.datetime
    payload: dict[str, Any]
    is_public: bool


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: UserOut | None
    created_at: dt.datetime
    url: str


class CaseDetailOut(CaseSummaryOut):
    description: str
    demands: str
    claimed_amount: Decimal | None
    people_count: int
    subject_no: str
    product: str
    region: str
    business_type: str
    flags: list[str]
    level_reasons: list[Any]
    level_overridden: bool
    is_valid: bool | None
    invalid_reason: str
    closing_criterion: str
    is_special_closure: bool
    replied_at: dt.datetime | None
    closed_at: dt.datetime | None
    archived_at: dt.datetime | None
    satisfaction: int | None
    repeat_count: int
    repeat_of: str | None
    reopened_from: str | None
    policy_version: int
    customer: CustomerOut | None
    deadlines: dict[str, Any]
    allowed_actions: list[str]
    events: list[EventOut]
    collaborations: list[dict[str, Any]]
    panel_reviews: list[dict[str, Any]]
    proposals: list[dict[str, Any]]
    follow_ups: list[dict[str, Any]]
    accountabilities: list[dict[str, Any]]
    archive_requests: list[dict[str, Any]]
    attachments: list[AttachmentOut]


class CaseCreatedOut(Schema):
    case: CaseDetailOut
    created: bool
    reporter_token: str | None = Field(None, description="匿名举报的查询凭证，仅返回一次")


class CaseListOut(Schema):
    items: list[CaseSummaryOut]
    next_cursor: str | None


class ActionOut(Schema):
    case: CaseSummaryOut
    event: EventOut


# --- presenting ------------------------------------------------------------------------------------

# Roles that need to see a complainant's phone and ID number to do their work. A reader holding none
# of them (an analyst, a follow-up agent) sees them masked. The trust/PII issue refines this here.
PII_ROLES = frozenset(
    {
        roles.INTAKE,
        roles.HANDLER,
        roles.DEPT_HEAD,
        roles.SUPERVISOR,
        roles.CS_MANAGER,
        roles.GENERAL_MANAGER,
        roles.RISK,
        roles.ARCHIVIST,
        roles.ADMIN,
    }
)


def present_user(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name() or user.username}


def present_customer(case: Case, viewer) -> dict[str, Any] | None:
    return pii.present_customer(case.customer, viewer)


def present_event(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": present_user(event.actor),
        "created_at": event.created_at,
        "payload": event.payload,
        "is_public": event.is_public,
    }


def present_summary(case: Case, *, now: dt.datetime | None = None) -> dict[str, Any]:
    from django.utils import timezone

    now = now or timezone.now()
    return {
        "number": case.number,
        "status": case.status,
        "status_label": str(case.get_status_display()),
        "kind": case.kind,
        "level": case.level,
        "channel": case.channel.code,
        "category": case.category.code if case.category_id else None,
        "department": case.department.code if case.department_id else None,
        "handler": present_user(case.handler) if case.handler_id else None,
        "subject": case.subject,
        "received_at": case.received_at,
        "due_at": case.due_at,
        "overdue": bool(case.is_open and case.due_at and case.due_at < now),
        "version": case.version,
        "is_anonymous": case.is_anonymous,
    }


def present_attachment(att, number: str) -> dict[str, Any]:
    return {
        "id": att.pk,
        "name": att.original_name,
        "content_type": att.content_type,
        "size": att.size,
        "sha256": att.sha256,
        "uploaded_by": present_user(att.uploaded_by),
        "created_at": att.created_at,
        "url": f"/api/v1/cases/{number}/attachments/{att.pk}",
    }


def _deadlines(case: Case) -> dict[str, Any]:
    """The current binding deadline and every stage deadline with its timeliness (kesu.sla)."""

    return {
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "stages": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != "case_id"}
            for row in case_timeliness(case)
        ],
    }


def present_detail(case: Case, viewer) -> dict[str, Any]:

    data = present_summary(case)
    collaborations = [
        {
            "id": c.pk,
            "from_department": c.from_department.code,
            "to_department": c.to_department.code,
            "question": c.question,
            "requested_by": present_user(c.requested_by),
            "requested_at": c.requested_at,
            "due_at": c.due_at,
            "state": c.state,
            "answer": c.answer,
            "answered_by": present_user(c.answered_by),
            "answered_at": c.answered_at,
        }
        for c in case.collaborations.select_related(
            "from_department", "to_department", "requested_by", "answered_by"
        ).order_by("pk")
    ]
    panel_reviews = [
        {
            "id": r.pk,
            "topic": r.topic,
            "convened_by": present_user(r.convened_by),
            "convened_at": r.convened_at,
            "state": r.state,
            "minutes": r.minutes,
            "decision": r.decision,
            "decided_at": r.decided_at,
            "participants": [
                {"user": present_user(p.user), "confirmed_at": p.confirmed_at, "opinion": p.opinion}
                for p in r.participants.all()
            ],
        }
        for r in case.panel_reviews.select_related("convened_by")
        .prefetch_related("participants__user")
        .order_by("pk")
    ]
    proposals = []
    for p in case.proposals.select_related("proposed_by").prefetch_related("steps__approver").order_by("pk"):
        steps = list(p.steps.all())
        approved = sum(1 for s in steps if s.decision == "approved")
        proposals.append(
            {
                "id": p.pk,
                "remedy_type": p.remedy_type,
                "remedy_label": str(RemedyType(p.remedy_type).label),
                "amount": str(p.amount),
                "premium": str(p.premium) if p.premium is not None else None,
                "description": p.description,
                "proposed_by": present_user(p.proposed_by),
                "proposed_at": p.proposed_at,
                "required_roles": p.required_roles,
                "next_role": p.required_roles[approved]
                if p.state == "pending" and approved < len(p.required_roles)
                else None,
                "state": p.state,
                "steps": [
                    {
                        "step": s.step,
                        "role": s.role,
                        "approver": present_user(s.approver),
                        "decision": s.decision,
                        "comment": s.comment,
                        "decided_at": s.decided_at,
                    }
                    for s in steps
                ],
            }
        )
    follow_ups = [
        {
            "id": f.pk,
            "agent": present_user(f.agent),
            "contacted_at": f.contacted_at,
            "score": f.score,
            "satisfied": f.satisfied,
            "comment": f.comment,
        }
        for f in case.follow_ups.select_related("agent").order_by("contacted_at", "pk")
    ]
    accountabilities = [
        {
            "id": a.pk,
            "person": present_user(a.person),
            "supervisor": present_user(a.supervisor),
            "reason": a.reason,
            "basis": a.basis,
            "person_amount": str(a.person_amount),
            "supervisor_amount": str(a.supervisor_amount),
            "reminder": a.reminder,
            "state": a.state,
            "decided_by": present_user(a.decided_by),
            "decided_at": a.decided_at,
            "decision_reason": a.decision_reason,
            "created_at": a.created_at,
        }
        for a in case.accountabilities.select_related("person", "supervisor", "decided_by").order_by("pk")
    ]
    archive_requests = [
        {
            "id": r.pk,
            "requester": present_user(r.requester),
            "reason": r.reason,
            "requested_at": r.requested_at,
            "state": r.state,
            "decided_by": present_user(r.decided_by),
            "decided_at": r.decided_at,
            "expires_at": r.expires_at,
        }
        for r in case.archive_requests.select_related("requester", "decided_by").order_by("pk")
    ]
    flags = [
        name
        for name, on in (
            ("injury", case.flag_injury),
            ("safety", case.flag_safety),
            ("media", case.flag_media),
            ("lawyer", case.flag_lawyer),
        )
        if on
    ]
    data.update(
        {
            "description": case.description,
            "demands": case.demands,
            "claimed_amount": case.claimed_amount,
            "people_count": case.people_count,
            "subject_no": case.subject_no,
            "product": case.product,
            "region": case.region,
            "business_type": case.business_type,
            "flags": flags,
            "level_reasons": case.level_reasons,
            "level_overridden": case.level_overridden,
            "is_valid": case.is_valid,
            "invalid_reason": case.invalid_reason,
            "closing_criterion": case.closing_criterion,
            "is_special_closure": case.is_special_closure,
            "replied_at": case.replied_at,
            "closed_at": case.closed_at,
            "archived_at": case.archived_at,
            "satisfaction": case.satisfaction,
            "repeat_count": case.repeat_count,
            "repeat_of": case.repeat_of.number if case.repeat_of_id else None,
            "reopened_from": case.reopened_from.number if case.reopened_from_id else None,
            "policy_version": case.policy.version,
            "customer": present_customer(case, viewer),
            "deadlines": _deadlines(case),
            "allowed_actions": allowed_actions(case, viewer),
            "events": [present_event(e) for e in case.events.select_related("actor").order_by("seq")],
            "collaborations": collaborations,
            "panel_reviews": panel_reviews,
            "proposals": proposals,
            "follow_ups": follow_ups,
            "accountabilities": accountabilities,
            "archive_requests": archive_requests,
            "attachments": [
                present_attachment(a, case.number)
                for a in case.attachments.select_related("uploaded_by").order_by("created_at", "pk")
            ],
        }
    )
    return data
