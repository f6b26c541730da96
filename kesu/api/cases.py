"""API endpoints of kesu.cases (mounted under /api/v1/cases by kesu/api.py).

Thin: every write goes through `kesu.cases.services` (`register_case`, `perform`) or
`kesu.cases.attachments`, every read through `kesu.cases.selectors`, which enforce permissions.
One operation per lifecycle action, generated from `kesu.api.schemas.case_requests.ACTION_SCHEMAS`.
"""

# No `from __future__ import annotations`: ninja reads the generated endpoints' annotations at runtime.

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Header, Query, Router
from ninja import Status as Reply
from ninja.files import UploadedFile

from kesu.api.schemas.case_presenters import (
    SUMMARY_FIELDS,
    present_attachment,
    present_detail,
    present_event,
    present_summary,
)
from kesu.api.schemas.case_requests import ACTION_SCHEMAS, ActionIn, CaseCreateIn
from kesu.api.schemas.case_responses import (
    ActionOut,
    AttachmentOut,
    CaseCreatedOut,
    CaseDetailOut,
    CaseListOut,
    TypicalCaseOut,
)
from kesu.api.schemas.common import ErrorOut, Instant
from kesu.cases import attachments as attachment_service
from kesu.cases import permissions, selectors, services
from kesu.cases.models import Case, Kind, Level, Status
from kesu.cases.transitions import TRANSITIONS
from kesu.errors import Conflict, Invalid, NotFound
from kesu.policy.selectors import stamps
from kesu.trust import audit, pii, privacy

router = Router(tags=["cases"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
MAX_LIMIT = 200


def _user(request: HttpRequest):
    return request.auth


# --- create ----------------------------------------------------------------------------------------


@router.post(
    "",
    response={200: CaseCreatedOut, 201: CaseCreatedOut, **ERRORS},
    summary="登记投诉",
    description="按 `Idempotency-Key` 幂等：同键同内容返回首次结果（200），同键不同内容返回 409 "
    "`idempotency_key_reused`；新建返回 201。匿名举报的查询凭证 `reporter_token` 只返回一次。",
    operation_id="create_case",
)
def create_case(
    request: HttpRequest,
    payload: CaseCreateIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),
):
    registration = services.register_case(
        actor=_user(request), data=payload.to_data(), idempotency_key=idempotency_key or None
    )
    # A new case is shown to the person who just registered it (even a whistle-blowing report they may
    # not read later); a replay is answered only with a case the caller may read (register_case refuses
    # the key with 409 otherwise); idempotency and client keys are per person.
    if registration.created:
        # The instance `register_case` wrote, with the related rows it set: no read-back.
        case = registration.case
    else:
        case = Case.objects.select_related(
            "channel", "category", "department", "handler", "customer", "policy"
        ).get(pk=registration.case.pk)
    if registration.merged and not permissions.may_read(_user(request), case):
        # Merged into an open case the caller may not read (NFRA, counted once): its number only.
        raise Conflict(
            _("同一事项正在处理中，已并入案件 %(number)s") % {"number": case.number},
            code="merged_into_open_case",
            details={"number": case.number},
        )
    body = {
        "case": present_detail(
            case, _user(request), registered=registration if registration.created else None
        ),
        "created": registration.created,
        "merged": registration.merged,
        "reporter_token": registration.reporter_token,
    }
    return Reply(201 if registration.created else 200, body)


# --- list --------------------------------------------------------------------------------------------


def encode_cursor(received_at: dt.datetime, pk: int) -> str:
    raw = json.dumps([received_at.isoformat(), pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, pk = json.loads(raw)
        moment = dt.datetime.fromisoformat(stamp)
        if not isinstance(pk, int) or moment.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid("分页游标无效", code="invalid_cursor", details={"cursor": "无效"})
    return moment, pk


def _multi(values: list[str] | None, allowed: list[str], field: str) -> list[str] | None:
    """Repeated (`?status=a&status=b`) or comma-separated (`?status=a,b`) values, checked."""
    if not values:
        return None
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise Invalid(f"{field} 取值无效：" + "、".join(bad), details={field: "可选：" + "、".join(allowed)})
    return items or None


@router.get("", response={200: CaseListOut, **ERRORS}, summary="案件列表", operation_id="list_cases")
def list_cases(
    request: HttpRequest,
    status: list[str] | None = Query(None, description="状态（可重复或逗号分隔）"),
    level: list[str] | None = Query(None),
    kind: list[str] | None = Query(None),
    channel: list[str] | None = Query(None),
    department: str | None = Query(None, description="责任部门编码（含下级）"),
    handler: int | None = Query(None, ge=1, le=2**63 - 1, description="经办人用户 ID"),
    category: str | None = Query(None, description="分类编码（含下级）"),
    received_from: Instant | None = Query(None),
    received_to: Instant | None = Query(None),
    overdue: bool | None = Query(None),
    open_only: bool = Query(False),
    text: str | None = Query(
        None,
        max_length=100,
        description="编号、内容、保单号；可查看完整个人信息的角色另可按电话、证件号码、邮箱、客户姓名查找（记入审计）",
    ),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, max_length=200),
):
    filters = selectors.CaseFilters(
        status=_multi(status, list(Status.values), "status"),
        level=_multi(level, list(Level.values), "level"),
        kind=_multi(kind, list(Kind.values), "kind"),
        channel=[c.strip() for v in channel for c in v.split(",") if c.strip()] or None if channel else None,
        department=department or None,
        handler=handler,
        category=category or None,
        received_from=received_from,
        received_to=received_to,
        overdue=overdue,
        open_only=open_only,
        text=text or None,
        identifiers=privacy.identifier_search(_user(request), text, via="api", request=request),
    )
    qs = selectors.list_cases(_user(request), selectors.check_filters(filters))
    if cursor:
        moment, pk = decode_cursor(cursor)
        qs = qs.filter(Q(received_at__lt=moment) | Q(received_at=moment, pk__lt=pk))
    # The page's columns without joins: its channels, categories, departments and handlers come from the
    # per-process cache under the taxonomy's and the organisation's stamps (one read of both tokens;
    # selectors.attach_relations), as on the web queues (queue22).
    tax_token, org_token = stamps()
    page = selectors.attach_relations(
        list(qs.select_related(None).only(*SUMMARY_FIELDS)[: limit + 1]), tax_token, org_token
    )
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        next_cursor = encode_cursor(last.received_at, last.pk)
    return {"items": [present_summary(c) for c in page], "next_cursor": next_cursor}


# --- detail ------------------------------------------------------------------------------------------


# --- the typical-case library (典型案例) ---------------------------------------------------------------


@router.get(
    "/library/typical",
    response={200: list[TypicalCaseOut], **ERRORS},
    summary="典型案例库（仅限可查看的案件，不含举报，个人信息已脱敏）",
    operation_id="typical_cases",
)
def typical_cases(request: HttpRequest, q: str = Query("", max_length=100)):
    return [pii.typical_case_entry(item) for item in selectors.typical_cases(_user(request), text=q)]


@router.get(
    "/{number}",
    response={200: CaseDetailOut, **ERRORS},
    summary="案件详情（含时间线、可执行操作、协办、合议、方案与审批、回访、责任追究、附件）",
    operation_id="get_case",
)
def get_case(request: HttpRequest, number: str, response: HttpResponse):
    case = selectors.get_case(_user(request), number=number, parts=True)
    audit.record("case.read", _user(request), case, {"via": "api"}, request=request)
    response["ETag"] = f'"{case.version}"'
    return present_detail(case, _user(request))


# --- lifecycle actions --------------------------------------------------------------------------------

_ETAG_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def _expected_version(body: ActionIn, if_match: str | None) -> int | None:
    if body.expected_version is not None:
        return body.expected_version
    if not if_match or if_match.strip() == "*":
        return None
    match = _ETAG_RE.match(if_match)
    if match is None:
        raise Invalid("If-Match 须为案件版本号", details={"If-Match": '须为版本号，如 "3"'})
    return int(match.group(1))


def run_action(
    request: HttpRequest,
    response: HttpResponse,
    number: str,
    action: str,
    body: ActionIn,
    if_match: str | None,
):
    user = _user(request)
    # Not through get_case: an archived case may be acted on (e.g. `request_archive_access`) by someone
    # who may not read it yet; `perform` checks visibility and the action's roles itself.
    case = Case.objects.filter(number=number).only("pk").first()
    if case is None:
        raise NotFound("案件不存在")
    data: dict[str, Any] = body.model_dump(mode="json", exclude={"expected_version"}, exclude_none=True)
    event = services.perform(case, action, user, expected_version=_expected_version(body, if_match), **data)
    # Re-read for the response (not through get_case: after `archive` the actor may no longer read it).
    case = Case.objects.select_related("channel", "category", "department", "handler").get(pk=case.pk)
    response["ETag"] = f'"{case.version}"'
    return {"case": present_summary(case), "event": present_event(event)}


def _register_action(action: str, schema: type[ActionIn]) -> None:
    spec = TRANSITIONS[action]

    def endpoint(
        request: HttpRequest,
        number: str,
        body: schema,  # type: ignore[valid-type]
        response: HttpResponse,
        if_match: str | None = Header(None, alias="If-Match"),
    ):
        return run_action(request, response, number, action, body, if_match)

    endpoint.__name__ = f"case_{action}"
    router.post(
        f"/{{number}}/{action}",
        response={200: ActionOut, **ERRORS},
        summary=spec.label,
        description=f"执行「{spec.label}」（`{action}`）。允许的起始状态："
        + "、".join(spec.from_statuses)
        + "。乐观锁：`expected_version` 或 `If-Match`，不符返回 409 `version_conflict`。",
        operation_id=f"case_{action}",
        url_name=f"case_{action}",
    )(endpoint)


for _action, _schema in ACTION_SCHEMAS.items():
    _register_action(_action, _schema)


# --- attachments ------------------------------------------------------------------------------------


@router.post(
    "/{number}/attachments",
    response={201: AttachmentOut, 413: ErrorOut, **ERRORS},
    summary="上传附件（证据文件）",
    description="multipart/form-data，字段 `file`。大小上限见 `KESU_ATTACHMENT_MAX_BYTES`（超出 413 "
    "`attachment_too_large`）；内容须与扩展名相符（否则 422 `attachment_type_mismatch`）。",
    operation_id="upload_attachment",
)
def upload_attachment(
    request: HttpRequest,
    number: str,
    file: UploadedFile = File(...),
    note: str | None = Form(None, max_length=500),
    expected_version: int | None = Form(None, ge=1),
    if_match: str | None = Header(None, alias="If-Match"),
):
    user = _user(request)
    case = selectors.get_case(user, number=number)
    version = expected_version
    if version is None:
        version = _expected_version(ActionIn(), if_match)
    attachment = attachment_service.attach_file(
        case,
        user,
        name=file.name or "",
        content=file,
        declared_size=file.size,
        note=note or "",
        expected_version=version,
    )
    return Reply(201, present_attachment(attachment, case.number))


@router.post(
    "/{number}/archive-materials",
    response={201: AttachmentOut, 413: ErrorOut, **ERRORS},
    summary="归档后补充材料（诉讼、媒体、监管往来材料；案件仍为已归档）",
    description="multipart/form-data，字段 `file`、`material`（lawsuit、media、regulator）。仅档案管理员和"
    "风险合规人员；补充材料记入案件事件链（含 sha256），不改变归档状态。",
    operation_id="add_archive_material",
)
def add_archive_material(
    request: HttpRequest,
    number: str,
    file: UploadedFile = File(...),
    material: str = Form(..., max_length=20),
    note: str | None = Form(None, max_length=500),
    expected_version: int | None = Form(None, ge=1),
):
    user = _user(request)
    # Not through get_case: the archive keeper reads archived files; `perform` checks who may add.
    case = Case.objects.filter(number=number).first()
    if case is None:
        raise NotFound("案件不存在")
    attachment = attachment_service.attach_file(
        case,
        user,
        name=file.name or "",
        content=file,
        declared_size=file.size,
        note=note or "",
        expected_version=expected_version,
        action="add_archive_material",
        material=material,
    )
    return Reply(201, present_attachment(attachment, case.number))


@router.get(
    "/{number}/attachments/{attachment_id}",
    response={200: None, **ERRORS},
    summary="下载附件",
    operation_id="download_attachment",
)
def download_attachment(request: HttpRequest, number: str, attachment_id: int):
    attachment, handle = attachment_service.open_attachment(
        _user(request), number=number, attachment_id=attachment_id
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
