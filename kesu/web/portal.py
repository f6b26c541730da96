"""The public complainant portal (no login): submit, check progress, anonymous whistle-blowing.

Abuse protection: CSRF (Django's middleware), per-IP rate limits and a per-case-number limit on the
progress check, request size limits, a honeypot field, and the same answer for an unknown case
number as for wrong phone digits (no enumeration of case numbers).
"""

from __future__ import annotations

import hmac
import logging
import uuid

from django import forms
from django.conf import settings
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from kesu.cases.attachments import store_file
from kesu.cases.models import Case, Kind, Status
from kesu.cases.phones import normalize_phone, parse_phone
from kesu.cases.selectors import timeline
from kesu.cases.services import register_case, verify_reporter_token
from kesu.errors import DomainError
from kesu.org.i18n import local_names
from kesu.policy.models import Category
from kesu.policy.selectors import rules_for
from kesu.sla.selectors import answer_promise, promise_text
from kesu.trust.ratelimit import client_ip, hit
from kesu.web.intake import MultipleFileField
from kesu.web.labels import action_label

log = logging.getLogger("kesu.web.portal")

MAX_FILES = 3
SUBMIT_LIMIT = (5, 3600)  # per IP: 5 submissions an hour
CHECK_IP_LIMIT = (20, 600)  # per IP: 20 progress checks per 10 minutes
CHECK_CASE_LIMIT = (5, 3600)  # per case number: 5 failed-or-not checks an hour


def _max_request_bytes() -> int:
    return MAX_FILES * int(settings.KESU_ATTACHMENT_MAX_BYTES) + 256 * 1024


def _top_categories() -> list[tuple[str, str]]:
    rows = local_names(Category.objects.filter(is_active=True, depth=0).order_by("path"))
    return [("", gettext_lazy("（不确定）"))] + list(rows.items())


class PortalComplaintForm(forms.Form):
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    website = forms.CharField(
        required=False, label="", widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"})
    )
    name = forms.CharField(label=gettext_lazy("您的姓名"), max_length=100)
    phone = forms.CharField(label=gettext_lazy("手机号码"), max_length=20)
    email = forms.EmailField(label=gettext_lazy("电子邮件（可选）"), required=False)
    policy_no = forms.CharField(
        label=gettext_lazy("保单号/合同号/订单号（可选）"), max_length=60, required=False
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("诉求类型"),
        choices=[
            (Kind.COMPLAINT, gettext_lazy("投诉")),
            (Kind.CONSULTATION, gettext_lazy("咨询")),
            (Kind.SUGGESTION, gettext_lazy("建议")),
        ],
        initial=Kind.COMPLAINT,
    )
    category = forms.ChoiceField(label=gettext_lazy("问题类别"), required=False)
    product = forms.CharField(label=gettext_lazy("涉及产品（可选）"), max_length=100, required=False)
    region = forms.CharField(label=gettext_lazy("所在地区（可选）"), max_length=40, required=False)
    description = forms.CharField(
        label=gettext_lazy("事情经过"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=5000,
        min_length=10,
    )
    demands = forms.CharField(
        label=gettext_lazy("您的诉求"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
    )
    claimed_amount = forms.DecimalField(
        label=gettext_lazy("涉及金额（元，可选）"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
    )
    attachments = MultipleFileField(label=gettext_lazy("证明材料（可选，最多 3 个）"), required=False)
    consent = forms.BooleanField(label=gettext_lazy("我已阅读并同意《个人信息保护说明》"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _top_categories()

    def clean_phone(self) -> str:
        phone, _reason = parse_phone(self.cleaned_data["phone"])
        if not phone:
            raise forms.ValidationError(_("请输入有效的电话号码"))
        return phone

    def clean(self):
        data = super().clean()
        if data.get("website"):
            raise forms.ValidationError(_("提交失败，请稍后再试"))
        if len(data.get("attachments") or []) > MAX_FILES:
            self.add_error("attachments", _("最多上传 %(n)d 个附件") % {"n": MAX_FILES})
        return data


class ReportForm(forms.Form):
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    website = forms.CharField(
        required=False, label="", widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"})
    )
    anonymous = forms.BooleanField(
        label=gettext_lazy("匿名举报（不留姓名和联系方式）"), required=False, initial=True
    )
    name = forms.CharField(label=gettext_lazy("姓名（实名举报时填写）"), max_length=100, required=False)
    phone = forms.CharField(label=gettext_lazy("联系电话（实名举报时填写）"), max_length=20, required=False)
    subject = forms.CharField(label=gettext_lazy("举报事项"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("详细情况"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=10000,
        min_length=10,
    )
    attachments = MultipleFileField(label=gettext_lazy("证据材料（可选，最多 3 个）"), required=False)
    consent = forms.BooleanField(label=gettext_lazy("我已阅读并同意《个人信息保护说明》"))

    def clean(self):
        data = super().clean()
        if data.get("website"):
            raise forms.ValidationError(_("提交失败，请稍后再试"))
        if not data.get("anonymous"):
            phone, _reason = parse_phone(data.get("phone") or "")
            if not phone:
                self.add_error("phone", _("实名举报请留下有效的联系电话"))
            data["phone"] = phone
        if len(data.get("attachments") or []) > MAX_FILES:
            self.add_error("attachments", _("最多上传 %(n)d 个附件") % {"n": MAX_FILES})
        return data


def _render(request, template, ctx=None, status=200):
    return render(request, template, {"portal": True, **(ctx or {})}, status=status)


def _too_large(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > _max_request_bytes()
    except ValueError:
        return True


def home(request):
    return _render(request, "web/portal/home.html")


def privacy(request):
    return _render(request, "web/portal/privacy.html")


def _store(files) -> tuple[list, int]:
    """Check and store the customer's files before registering; returns (stored files, how many refused)."""

    stored, failed = [], 0
    for upload in files:
        try:
            stored.append(store_file(upload.name, upload, declared_size=upload.size))
        except DomainError as exc:
            failed += 1
            log.warning("portal attachment refused: %s", exc.message)
    return stored, failed


def _register_with_files(data: dict, files) -> tuple:
    """register_case with the stored files recorded in the same transaction; no file is left orphaned."""
    stored, failed = _store(files)
    if stored:
        data = {**data, "attachments": [f.as_data() for f in stored]}
    try:
        reg = register_case(actor=None, data=data)
    except BaseException:
        for f in stored:
            f.delete()
        raise
    if not reg.created:  # a resubmission: the first submission's files are the ones kept
        for f in stored:
            f.delete()
    return reg, failed


def _refuse_submission(request):
    """The abuse guard shared by complaints and reports: size limit, then the per-IP submission rate."""
    if _too_large(request):
        return _render(request, "web/portal/error.html", {"message": _("提交的内容过大")}, status=413)
    if not hit("portal-submit", client_ip(request), limit=SUBMIT_LIMIT[0], window=SUBMIT_LIMIT[1]):
        return _render(
            request, "web/portal/error.html", {"message": _("提交过于频繁，请稍后再试")}, status=429
        )
    return None


@csrf_protect
@never_cache
def submit(request):
    if request.method == "POST":
        refused = _refuse_submission(request)
        if refused is not None:
            return refused
        form = PortalComplaintForm(request.POST, request.FILES)
        if form.is_valid():
            d = form.cleaned_data
            data = {
                "client_key": "portal:" + d["client_key"],
                "channel": "web",
                "kind": d["kind"],
                "description": d["description"],
                "demands": d.get("demands") or "",
                "product": d.get("product") or "",
                "region": d.get("region") or "",
                "subject_no": d.get("policy_no") or "",
                "customer": {
                    k: v
                    for k, v in {
                        "name": d["name"],
                        "phone": d["phone"],
                        "email": d.get("email") or "",
                        "policy_no": d.get("policy_no") or "",
                    }.items()
                    if v
                },
            }
            if d.get("category"):
                data["category"] = d["category"]
            if d.get("claimed_amount") is not None:
                data["claimed_amount"] = str(d["claimed_amount"])
            try:
                reg, failed = _register_with_files(data, d.get("attachments") or [])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                request.session["portal_done"] = {"number": reg.case.number, "failed": failed}
                return redirect("web:portal_done")
    else:
        form = PortalComplaintForm(initial={"client_key": uuid.uuid4().hex})
    return _render(request, "web/portal/submit.html", {"form": form})


@never_cache
def done(request):
    info = request.session.pop("portal_done", None)
    if not info:
        return redirect("web:portal_home")
    # The time limit, told at once (003 恒康天安 第五条(一)): from the case's answer deadline.
    case = Case.objects.filter(number=info.get("number")).first()
    promise = answer_promise(case) if case is not None else None
    return _render(request, "web/portal/done.html", {**info, "promise": promise})


class ProgressForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("案件编号"), max_length=24)
    phone_last4 = forms.CharField(label=gettext_lazy("手机号码后 4 位"), min_length=4, max_length=4)


def _public_timeline(case: Case) -> list[dict]:
    """Status and the public events only: labels and times, the replies; never notes or staff names."""
    rows = []
    criteria = {}
    try:
        criteria = rules_for(case.policy_id).closing_criteria
    except Exception:  # noqa: BLE001
        criteria = {}
    for e in timeline(case, public_only=True):
        detail = ""
        payload = e.payload if isinstance(e.payload, dict) else {}
        if e.action == "reply":
            detail = payload.get("text", "")
            if payload.get("further_remedies"):
                # NFRA: the decision names the further remedies open to the complainant.
                detail += "\n" + _("如对处理决定有异议，可：%(remedies)s") % {
                    "remedies": "；".join(payload["further_remedies"])
                }
        elif e.action == "extend_deadline":
            detail = _("处理期限延长至 %(due)s。原因：%(reason)s") % {
                "due": str(payload.get("new_due", ""))[:10],
                "reason": payload.get("reason", ""),
            }
        elif e.action in ("start_appraisal", "request_review"):
            detail = payload.get("reason", "")
        elif e.action == "end_appraisal":
            detail = payload.get("result", "")
        elif e.action == "conclude_review":
            detail = payload.get("conclusion", "")
        elif e.action == "merge_repeat":
            detail = _("您再次提交的同一事项投诉已并入本案合并处理")
            if payload.get("new_facts"):
                detail += _("；因有新的事实和理由，处理期限自收到之日起重新计算")
        elif e.action == "answer_first_contact":
            detail = payload.get("answer", "")
        elif e.action == "close" and payload.get("criterion") in criteria:
            detail = criteria[payload["criterion"]].get("name", "")
        elif e.action == "suspend":
            detail = _("暂停处理，答复期限暂停计算。原因：%(reason)s") % {"reason": payload.get("reason", "")}
        if e.action == "extend_deadline":
            detail = _("答复期限延长 %(days)s 个工作日。原因：%(reason)s") % {
                "days": payload.get("days", ""),
                "reason": payload.get("reason", ""),
            }
        # The promise as it was told with the event (registration, extension, resumption).
        promise = promise_text(payload.get("answer_promise"))
        if promise:
            detail = "；".join(p for p in (detail, promise) if p)
        rows.append(
            {
                "at": e.created_at,
                "label": _("提交投诉") if e.action == "register" else action_label(e.action),
                "status": Status(e.to_status).label if e.to_status in Status.values else "",
                "detail": detail,
            }
        )
    return rows


NOT_FOUND_MESSAGE = gettext_lazy("案件编号或手机号码后 4 位不正确。")


@csrf_protect
@never_cache
def progress(request):
    form = ProgressForm(request.POST or None)
    ctx: dict = {"form": form}
    if request.method == "POST":
        ip = client_ip(request)
        if not hit("portal-check-ip", ip, limit=CHECK_IP_LIMIT[0], window=CHECK_IP_LIMIT[1]):
            return _render(
                request,
                "web/portal/progress.html",
                {**ctx, "error": _("查询过于频繁，请稍后再试")},
                status=429,
            )
        if form.is_valid():
            number = form.cleaned_data["number"].strip().upper()
            digits = form.cleaned_data["phone_last4"]
            if not hit("portal-check-case", number, limit=CHECK_CASE_LIMIT[0], window=CHECK_CASE_LIMIT[1]):
                return _render(
                    request,
                    "web/portal/progress.html",
                    {**ctx, "error": _("查询过于频繁，请稍后再试")},
                    status=429,
                )
            case = (
                Case.objects.select_related("customer")
                .filter(number=number, is_anonymous=False)
                .exclude(kind=Kind.REPORT)
                .first()
            )
            phone = normalize_phone(case.customer.phone) if case is not None and case.customer else ""
            # Compare in constant time whether or not the case exists: one answer, no enumeration.
            ok = hmac.compare_digest((phone[-4:] if len(phone) >= 4 else "!!!!").encode(), digits.encode())
            if case is not None and ok:
                ctx.update({"case": case, "events": _public_timeline(case), "promise": answer_promise(case)})
            else:
                ctx["error"] = NOT_FOUND_MESSAGE
        else:
            ctx["error"] = NOT_FOUND_MESSAGE
    return _render(request, "web/portal/progress.html", ctx)


@csrf_protect
@never_cache
def report(request):
    if request.method == "POST":
        refused = _refuse_submission(request)
        if refused is not None:
            return refused
        form = ReportForm(request.POST, request.FILES)
        if form.is_valid():
            d = form.cleaned_data
            data = {
                "client_key": "report:" + d["client_key"],
                "channel": "web",
                "kind": Kind.REPORT,
                "subject": d["subject"],
                "description": d["description"],
                "is_anonymous": bool(d.get("anonymous")),
            }
            if not d.get("anonymous"):
                data["customer"] = {
                    k: v for k, v in {"name": d.get("name") or "", "phone": d["phone"]}.items() if v
                }
            try:
                reg, failed = _register_with_files(data, d.get("attachments") or [])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                request.session["portal_done"] = {
                    "number": reg.case.number,
                    "token": reg.reporter_token or "",
                    "failed": failed,
                    "report": True,
                }
                return redirect("web:portal_done")
    else:
        form = ReportForm(initial={"client_key": uuid.uuid4().hex})
    return _render(request, "web/portal/report.html", {"form": form})


class ReportStatusForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("案件编号"), max_length=24)
    token = forms.CharField(label=gettext_lazy("查询密钥"), max_length=100)


@csrf_protect
@never_cache
def report_status(request):
    form = ReportStatusForm(request.POST or None)
    ctx: dict = {"form": form}
    if request.method == "POST":
        if not hit("portal-check-ip", client_ip(request), limit=CHECK_IP_LIMIT[0], window=CHECK_IP_LIMIT[1]):
            return _render(
                request,
                "web/portal/report_status.html",
                {**ctx, "error": _("查询过于频繁，请稍后再试")},
                status=429,
            )
        ctx["error"] = _("案件编号或查询密钥不正确。")
        if form.is_valid():
            number = form.cleaned_data["number"].strip().upper()
            if hit("portal-check-case", number, limit=CHECK_CASE_LIMIT[0], window=CHECK_CASE_LIMIT[1]):
                case = Case.objects.filter(number=number, kind=Kind.REPORT).first()
                if case is not None and verify_reporter_token(case, form.cleaned_data["token"].strip()):
                    ctx.pop("error")
                    ctx.update({"case": case, "events": _public_timeline(case)})
            else:
                ctx["error"] = _("查询过于频繁，请稍后再试")
    return _render(request, "web/portal/report_status.html", ctx)
