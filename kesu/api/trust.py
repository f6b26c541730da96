"""Trust endpoints (mounted under /api/v1/trust): reveal a masked field (with a reason, audited),
the audit log for administrators, TOTP enrolment."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from kesu.api.schemas.common import ErrorOut
from kesu.errors import Forbidden
from kesu.org import roles
from kesu.org.selectors import has_role
from kesu.trust import audit, privacy
from kesu.trust.security import confirm_totp, start_totp_enrolment

router = Router(tags=["trust"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class RevealIn(Schema):
    case: str
    field: str
    reason: str


class RevealOut(Schema):
    case: str
    field: str
    value: str


class AuditEntryOut(Schema):
    seq: int
    created_at: str
    action: str
    actor: str
    target_type: str
    target_id: str
    details: dict
    ip: str
    hash: str


class VerifyOut(Schema):
    ok: bool
    checked: int
    broken_seq: int | None
    problem: str


class TotpEnrolOut(Schema):
    secret: str
    uri: str


class TotpConfirmIn(Schema):
    code: str


class TotpConfirmOut(Schema):
    confirmed: bool


@router.post(
    "/reveal",
    response={200: RevealOut, **ERRORS},
    summary="查看被遮蔽的个人信息（须填写理由，记入审计日志）",
    operation_id="reveal_pii",
)
def reveal(request: HttpRequest, body: RevealIn):
    value = privacy.reveal(request.auth, body.case, body.field, body.reason, request=request)
    return {"case": body.case, "field": body.field, "value": value}


def _require_admin(user) -> None:
    if not (getattr(user, "is_superuser", False) or has_role(user, roles.ADMIN)):
        raise Forbidden("仅系统管理员可查看审计日志")


@router.get(
    "/audit",
    response={200: list[AuditEntryOut], **ERRORS},
    summary="最新的审计日志（系统管理员）",
    operation_id="audit_tail",
)
def audit_tail(request: HttpRequest, limit: int = 50):
    _require_admin(request.auth)
    limit = max(1, min(int(limit), 500))
    return [
        {
            "seq": e.seq,
            "created_at": e.created_at.isoformat(),
            "action": e.action,
            "actor": e.actor_name,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "details": e.details,
            "ip": e.ip,
            "hash": e.hash,
        }
        for e in audit.tail(limit)
    ]


@router.get(
    "/audit/verify",
    response={200: VerifyOut, **ERRORS},
    summary="校验审计日志哈希链（系统管理员）",
    operation_id="audit_verify",
)
def audit_verify(request: HttpRequest):
    _require_admin(request.auth)
    r = audit.verify()
    return {"ok": r.ok, "checked": r.checked, "broken_seq": r.broken_seq, "problem": r.problem}


def _session_only(request: HttpRequest) -> None:
    if getattr(request, "api_token", None) is not None:
        raise Forbidden("动态口令只能在登录后的网页会话中绑定", code="session_required")


@router.post(
    "/totp/enrol",
    response={200: TotpEnrolOut, **ERRORS},
    summary="开始绑定动态口令（TOTP）：返回密钥和 otpauth 链接",
    operation_id="totp_enrol",
)
def totp_enrol(request: HttpRequest):

    _session_only(request)
    device, uri = start_totp_enrolment(request.auth)
    return {"secret": device.secret, "uri": uri}


@router.post(
    "/totp/confirm",
    response={200: TotpConfirmOut, **ERRORS},
    summary="用身份验证器上的 6 位数字确认绑定；此后登录须输入动态口令",
    operation_id="totp_confirm",
)
def totp_confirm(request: HttpRequest, body: TotpConfirmIn):

    _session_only(request)
    return {"confirmed": confirm_totp(request.auth, body.code, request=request)}
