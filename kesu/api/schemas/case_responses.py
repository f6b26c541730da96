"""Response schemas of the case API, for the OpenAPI document (the presenters fill them)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field


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
    archive_material: str = Field(
        "", description="归档后补充的材料类别（lawsuit、media、regulator）；普通附件为空"
    )


class TypicalCaseOut(Schema):
    number: str
    category: str
    level: str
    subject: str
    summary: str
    lesson: str
    customer: str
    marked_by: str
    marked_at: dt.datetime


class CaseDetailOut(CaseSummaryOut):
    description: str
    demands: str
    claimed_amount: Decimal | None
    people_count: int
    subject_no: str
    product: str
    region: str
    business_type: str
    customer_due_at: dt.datetime | None = Field(None, description="客人要求的解决时间")
    respondent_name: str
    respondent_staff: UserOut | None
    respondent_department: str | None
    involved_staff: list[UserOut]
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
    emergency_plan: dict[str, Any] | None = None
    typical: dict[str, Any] | None = None
    regulator_submissions: list[dict[str, Any]] = []


class CaseCreatedOut(Schema):
    case: CaseDetailOut
    created: bool
    merged: bool = Field(
        False, description="同一事项在处理期限内再次投诉，已并入原案（监管规则：合并处理、计为一件）"
    )
    reporter_token: str | None = Field(None, description="匿名举报的查询凭证，仅返回一次")


class CaseListOut(Schema):
    items: list[CaseSummaryOut]
    next_cursor: str | None


class ActionOut(Schema):
    case: CaseSummaryOut
    event: EventOut
