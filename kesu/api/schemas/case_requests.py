"""Request bodies of the case API: registering a complaint and one body per lifecycle action."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field

from kesu.api.schemas.common import In, Instant, Text, UserRef
from kesu.cases.models import Kind, Level
from kesu.cases.transitions import TRANSITIONS


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
    flags: list[Literal["injury", "safety", "media", "lawyer", "direct"]] = Field(
        default_factory=list, description="direct：直接投诉至总部或高层领导（越级投诉），优先处理"
    )
    is_anonymous: bool = Field(False, description="匿名举报（仅举报可匿名）")
    external_source: str | None = None
    external_id: str | None = None
    client_key: str | None = Field(None, max_length=100)
    respondent_name: str | None = Field(None, max_length=100, description="被投诉人（投诉人所述）")
    respondent_staff: UserRef | None = Field(None, description="被投诉员工（用户 ID 或用户名）")
    respondent_department: str | None = Field(None, description="被投诉部门编码")
    involved_staff: list[UserRef] | None = Field(
        None, max_length=20, description="涉事人员（用户 ID 或用户名）：与被投诉事项有关的员工，须回避本案"
    )
    occurred_on: dt.date | None = Field(
        None, description="事项发生日期（工信部申诉时效：话费 5 个月、其他 2 年）"
    )
    known_on: dt.date | None = Field(None, description="知道权益受损日期（12315：3 年）")
    customer_due_at: Instant | None = Field(
        None,
        description="客人要求的解决时间（须晚于接收时间；规则中有 customer_time 的时限以此为准，如酒店住店期间的投诉）",
    )
    new_facts: bool | None = Field(
        None, description="同一事项再次投诉时提出了新的事实和理由（处理期限重新计算）"
    )

    def to_data(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, mode="python")
        if "customer" in data:
            data["customer"] = {k: v for k, v in data["customer"].items() if v is not None}
        if "kind" in data:
            data["kind"] = str(data["kind"].value if isinstance(data["kind"], Kind) else data["kind"])
        return data


class ActionIn(In):
    expected_version: int | None = Field(
        None, ge=1, description="乐观锁：案件当前版本号（也可用 If-Match 请求头）；版本不符返回 409"
    )


class AcceptIn(ActionIn):
    kind: Kind | None = None
    category: str | None = Field(None, description="分类编码")
    business_type: str | None = None
    senior_management: bool = Field(False, description="举报涉及公司高级管理人员（报送董事长）")
    fault_level: str | None = Field(
        None, description="过错程度（规则按过错定级时）：normal 轻微、urgent 一般、major 重大"
    )


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


class SetRespondentIn(ActionIn):
    """Omitted fields keep their value; an empty string clears one."""

    respondent_name: str | None = Field(None, max_length=100)
    respondent_staff: UserRef | None = Field(None, description="被投诉员工（用户 ID 或用户名）")
    respondent_department: str | None = Field(None, description="被投诉部门编码")
    involved_staff: list[UserRef] | None = Field(
        None, max_length=20, description="涉事人员（用户 ID 或用户名）；空列表清除"
    )
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


class DecideCollaborationRequestIn(ActionIn):
    request_id: int
    approve: bool = Field(..., description="true 批准协办（移交协办部门），false 不批准")
    note: Text | None = Field(None, description="审批意见（不批准时必填）")


class AnswerCollaborationIn(ActionIn):
    request_id: int
    answer: Text


class ConvenePanelIn(ActionIn):
    topic: Text
    participants: list[UserRef] = Field(..., min_length=2, description="参加人（至少两人）")
    chair: UserRef | None = Field(None, description="主持人（规则不要求审批时；默认为召集人）")


class DecidePanelRequestIn(ActionIn):
    review_id: int
    approve: bool = Field(..., description="true 批准并召集合议，false 不批准")
    chair: UserRef | None = Field(None, description="主持人（默认为审批人，须为投诉主管或以上）")
    note: Text | None = Field(None, description="审批意见（不批准时必填）")


class RecordPreliminaryOpinionIn(ActionIn):
    review_id: int
    opinion: Text = Field(..., description="合议当日未能决定时的初步倾向性意见")


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
        "refund",
        "exchange",
        "repair",
        "discount",
        "compensation",
        "explanation",
        "termination",
        "change_agent",
        "late_fee_waiver",
        "premium_reversal",
        "advance_payment",
        "commission_freeze",
    ] = Field(..., description="处理方式；变更代理人、免滞纳金等仅在规则指定其审批人时可用")
    amount: Decimal = Field(Decimal(0), ge=0)
    premium: Decimal | None = Field(None, ge=0, description="保费（保险：用于 70% 比例判断）")
    cash_value: Decimal | None = Field(
        None, ge=0, description="现金价值（保险协议解约：审批权限按高于现金价值的部分判断）"
    )
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
    pr_cost: Decimal | None = Field(
        None, ge=0, description="公关费用（元）：规则按公关费用比例计罚时，罚款为其相应比例"
    )


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


class FileRegulatorSubmissionIn(ActionIn):
    regulator: str = Field(..., min_length=1, max_length=200, description="报送单位（监管部门）")
    sent_at: Instant | None = Field(None, description="报送时间（省略为现在）")
    contents: Text = Field(..., description="报送内容：报送了哪些材料")


class MarkTypicalIn(ActionIn):
    lesson: Text = Field(..., description="经验教训（录入典型案例库）")


class RecordEmergencyPlanIn(ActionIn):
    leader: UserRef = Field(..., description="负责人（用户 ID 或用户名）")
    measures: Text = Field(..., description="应急措施")
    contacts: Text = Field(..., description="联络人及联系方式")


# action → (body schema, summary). One operation per action is generated from this table.
ACTION_SCHEMAS: dict[str, type[ActionIn]] = {
    "accept": AcceptIn,
    "mark_invalid": MarkInvalidIn,
    "answer_first_contact": AnswerFirstContactIn,
    "regrade": RegradeIn,
    "assign": AssignIn,
    "set_respondent": SetRespondentIn,
    "start_investigation": StartInvestigationIn,
    "add_note": AddNoteIn,
    "request_collaboration": RequestCollaborationIn,
    "decide_collaboration_request": DecideCollaborationRequestIn,
    "answer_collaboration": AnswerCollaborationIn,
    "convene_panel": ConvenePanelIn,
    "decide_panel_request": DecidePanelRequestIn,
    "record_preliminary_opinion": RecordPreliminaryOpinionIn,
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
    "file_regulator_submission": FileRegulatorSubmissionIn,
    "mark_typical": MarkTypicalIn,
    "record_emergency_plan": RecordEmergencyPlanIn,
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
UNTYPED_EXCLUDED = frozenset({"attach", "add_archive_material"})
ACTION_SCHEMAS = _with_fallbacks(ACTION_SCHEMAS)
