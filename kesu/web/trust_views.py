"""Web pages of the trust features: reveal a masked personal field on the case page (with a reason,
audited by `kesu.trust.privacy.reveal`), and TOTP enrolment for administrators (`/account/totp/`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.utils.translation import gettext as _

from kesu.cases import selectors as case_selectors
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.org import roles
from kesu.org.selectors import has_role
from kesu.trust import audit, privacy
from kesu.trust.models import TotpDevice
from kesu.trust.security import confirm_totp, start_totp_enrolment
from kesu.web.views import _case_context, _may_reveal, domain_errors


def may_reveal(user) -> bool:
    """True when `user` may reveal a masked field (with a reason)."""
    return _may_reveal(user)


@login_required
@domain_errors
def case_reveal(request: HttpRequest, number: str) -> HttpResponse:
    """POST field + reason: the case page again, with that field's full value shown this once."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = request.user
    case = case_selectors.get_case(user, number=number)  # hidden case: 404/403 before anything else
    field_name = request.POST.get("field", "")
    reason = request.POST.get("reason", "")
    if not may_reveal(user):
        audit.record(
            "pii.reveal_refused",
            user,
            case,
            {"field": field_name[:40], "reason": reason[:500]},
            request=request,
        )
        raise Forbidden(_("您的角色无权查看完整的个人信息"), code="pii_forbidden")
    context = _case_context(request, case)
    status = 200
    try:
        value = privacy.reveal(user, case.number, field_name, reason, request=request)
    except Invalid as exc:
        status = 400
        context["reveal_error"] = {
            "field": field_name,
            "message": _reveal_message(exc),
            "reason": reason,
            "general": field_name not in privacy.REVEALABLE_FIELDS,
        }
    else:
        context["revealed"] = {"field": field_name, "value": value or "—"}
    return render(request, "web/case.html", context, status=status)


def _reveal_message(exc: Invalid) -> str:
    if (exc.details or {}).get("reason"):
        return _("查看完整信息须填写理由（至少 %(n)d 个字）。") % {"n": privacy.MIN_REASON}
    return _("不支持查看该字段。")


# --- TOTP enrolment ---------------------------------------------------------------------------------


def _uri(device: TotpDevice, user) -> str:
    import pyotp

    return pyotp.TOTP(device.secret).provisioning_uri(name=user.get_username(), issuer_name="Kesu 客诉")


@login_required
@domain_errors
def account_totp(request: HttpRequest) -> HttpResponse:
    """Administrators bind an authenticator app: start (a new secret, shown as text and otpauth URI),
    then confirm with a 6-digit code; afterwards the login asks for the code."""
    user = request.user
    if not has_role(user, roles.ADMIN):
        raise Forbidden(_("只有系统管理员可以在此绑定动态口令"), code="forbidden")
    device = TotpDevice.objects.filter(user=user).first()
    context: dict = {"enrolled": bool(device and device.confirmed), "device": None, "uri": "", "error": ""}
    status = 200
    if request.method == "POST":
        step = request.POST.get("step", "")
        if step == "start":
            try:
                device, _uri_text = start_totp_enrolment(user)
            except Conflict:
                context["error"] = _("已绑定动态口令；如需更换请联系系统管理员。")
                status = 409
        elif step == "confirm":
            if (
                device is not None
                and not device.confirmed
                and confirm_totp(user, request.POST.get("code", ""), request=request)
            ):
                context["enrolled"] = True
                context["just_enrolled"] = True
            else:
                context["error"] = _("动态口令错误或已使用，请输入身份验证器上最新的 6 位数字。")
                status = 400
        else:
            return HttpResponseNotAllowed(["GET", "POST"])
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    if not context["enrolled"] and device is not None:
        device.refresh_from_db()
        if not device.confirmed:
            context["device"] = device
            context["uri"] = _uri(device, user)
    return render(request, "web/account_totp.html", context, status=status)
