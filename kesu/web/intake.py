"""The intake form (受理登记): fields, the repeat/level preview, and registering through the services."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django import forms
from django.contrib import messages
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kesu.calendar.workcalendar import duration_text
from kesu.cases import grading
from kesu.cases.attachments import attach_file
from kesu.cases.customers import find_customer, same_person_q
from kesu.cases.models import OPEN_STATUSES, Case, Customer, Kind, Level, Status
from kesu.cases.permissions import visible_cases
from kesu.cases.phones import PHONE_SCIENTIFIC, parse_phone
from kesu.cases.selectors import list_cases
from kesu.cases.services import perform, register_case
from kesu.errors import DomainError
from kesu.insight.services import suggest
from kesu.org.i18n import display_name, local_names, localized
from kesu.org.models import Department
from kesu.policy.models import Category, Channel
from kesu.policy.selectors import NoActivePolicy, active_rules, category_by_code, channel_by_code
from kesu.sla.services import deadlines_for_imported
from kesu.sla.stages import stage_label
from kesu.trust import pii

log = logging.getLogger("kesu.web")

FLAG_CHOICES = [
    ("injury", gettext_lazy("涉及人身伤害")),
    ("safety", gettext_lazy("涉及安全")),
    ("media", gettext_lazy("媒体介入")),
    ("lawyer", gettext_lazy("律师介入")),
    ("direct", gettext_lazy("直接投诉（总部/高层）")),
]
ANSWERABLE = (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION)
MAX_FILES = 5


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


def _channel_choices() -> list[tuple[str, str]]:
    return list(local_names(Channel.objects.filter(is_active=True).order_by("pk")).items())


def _category_choices() -> list[tuple[str, str]]:
    rows = (
        Category.objects.filter(is_active=True)
        .order_by("path")
        .values_list("code", "name", "name_en", "depth")
    )
    return [("", gettext_lazy("（请选择）"))] + [(c, "　" * d + localized(n, e)) for c, n, e, d in rows]


def _department_choices() -> list[tuple[str, str]]:
    rows = local_names(Department.objects.filter(is_active=True).order_by("code"))
    return [("", gettext_lazy("（未知）"))] + list(rows.items())


class IntakeForm(forms.Form):
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    # the complainant
    name = forms.CharField(label=gettext_lazy("客户姓名"), max_length=100, required=False)
    phone = forms.CharField(label=gettext_lazy("联系电话"), max_length=30, required=False)
    email = forms.EmailField(label=gettext_lazy("电子邮件"), required=False)
    address = forms.CharField(label=gettext_lazy("地址"), max_length=300, required=False)
    id_number = forms.CharField(label=gettext_lazy("证件号码"), max_length=40, required=False)
    policy_no = forms.CharField(label=gettext_lazy("保单号/合同号"), max_length=60, required=False)
    # the complaint
    channel = forms.ChoiceField(label=gettext_lazy("渠道"))
    received_at = forms.DateTimeField(
        label=gettext_lazy("接收时间"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    # Asked only where a deadline rule reads it (`customer_time`, e.g. a hotel guest during the stay).
    customer_due_at = forms.DateTimeField(
        label=gettext_lazy("客人要求的解决时间"),
        required=False,
        help_text=gettext_lazy("客人在消费过程中投诉并提出处理时间的，答复时限以此为准"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=Kind.choices, initial=Kind.COMPLAINT)
    category = forms.ChoiceField(label=gettext_lazy("分类"), required=False)
    subject = forms.CharField(label=gettext_lazy("标题"), max_length=200, required=False)
    description = forms.CharField(
        label=gettext_lazy("投诉内容"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20000
    )
    demands = forms.CharField(
        label=gettext_lazy("客户诉求"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=5000,
    )
    claimed_amount = forms.DecimalField(
        label=gettext_lazy("诉求金额（元）"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    people_count = forms.IntegerField(
        label=gettext_lazy("投诉人数"), min_value=1, max_value=100000, initial=1
    )
    subject_no = forms.CharField(label=gettext_lazy("涉及保单/合同/订单号"), max_length=60, required=False)
    product = forms.CharField(label=gettext_lazy("产品"), max_length=100, required=False)
    region = forms.CharField(label=gettext_lazy("地区"), max_length=40, required=False)
    # 被投诉人/被投诉部门: as the complainant names them; the handler may correct them later.
    respondent_name = forms.CharField(label=gettext_lazy("被投诉人"), max_length=100, required=False)
    respondent_department = forms.ChoiceField(label=gettext_lazy("被投诉部门"), required=False)
    flags = forms.MultipleChoiceField(
        label=gettext_lazy("特殊情形"),
        choices=FLAG_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    attachments = MultipleFileField(label=gettext_lazy("附件"), required=False)
    # what happens right after registering
    accept_and_route = forms.BooleanField(
        label=gettext_lazy("登记后立即受理并按分类分派"), required=False, initial=True
    )
    answered_first_contact = forms.BooleanField(
        label=gettext_lazy("已当场答复（咨询/查询/建议）"), required=False
    )
    answer = forms.CharField(
        label=gettext_lazy("当场答复内容"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=5000,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = _channel_choices()
        self.fields["channel"].initial = "phone"
        self.fields["category"].choices = _category_choices()
        self.fields["respondent_department"].choices = _department_choices()
        if not _policy_uses_customer_time():
            del self.fields["customer_due_at"]

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone") or ""
        if not raw.strip():
            return ""
        stored, reason = parse_phone(raw)
        if reason == PHONE_SCIENTIFIC:  # the digits are lost: say so, a retyped number is what helps
            raise forms.ValidationError(_(reason))
        if reason or not stored:
            raise forms.ValidationError(
                _("电话号码无效，请输入手机号码或带区号的固定电话（如 13812345678、010-62345678）")
            )
        return stored

    def clean(self):
        data = super().clean()
        if self.has_error("phone"):
            return data
        if not (data.get("phone") or data.get("email") or data.get("address")):
            self.add_error("phone", _("须提供至少一种联系方式（电话、邮箱或地址）"))
        if data.get("answered_first_contact"):
            if data.get("kind") not in ANSWERABLE:
                self.add_error("answered_first_contact", _("只有咨询、查询、建议可以当场答复"))
            if not (data.get("answer") or "").strip():
                self.add_error("answer", _("请填写当场答复内容"))
        files = data.get("attachments") or []
        if len(files) > MAX_FILES:
            self.add_error("attachments", _("最多上传 %(n)d 个附件") % {"n": MAX_FILES})
        return data

    def registration_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        received = d.get("received_at")
        data: dict[str, Any] = {
            "client_key": d["client_key"],
            "channel": d["channel"],
            "kind": d["kind"],
            "description": d["description"],
            "demands": d.get("demands") or "",
            "people_count": d.get("people_count") or 1,
            "subject": d.get("subject") or "",
            "subject_no": d.get("subject_no") or "",
            "product": d.get("product") or "",
            "region": d.get("region") or "",
            "flags": list(d.get("flags") or []),
            "respondent_name": d.get("respondent_name") or "",
            "customer": {
                k: d.get(k) or ""
                for k in ("name", "phone", "email", "address", "id_number", "policy_no")
                if d.get(k)
            },
        }
        if received:
            data["received_at"] = received
        if d.get("category"):
            data["category"] = d["category"]
        if d.get("claimed_amount") is not None:
            data["claimed_amount"] = str(d["claimed_amount"])
        if d.get("respondent_department"):
            data["respondent_department"] = d["respondent_department"]
        if d.get("customer_due_at"):
            data["customer_due_at"] = d["customer_due_at"]
        return data


def _policy_uses_customer_time() -> bool:
    try:
        return active_rules().uses_customer_time
    except NoActivePolicy:
        return False


@dataclass
class SubmitResult:
    form: IntakeForm
    case: Case | None = None


def submit(request) -> SubmitResult:
    """Register the complaint; a repeated submission of the same form (same client_key) returns the first case."""
    form = IntakeForm(request.POST, request.FILES)
    if not form.is_valid():
        return SubmitResult(form)
    try:
        reg = register_case(actor=request.user, data=form.registration_data())
    except DomainError as exc:
        form.add_error(None, exc.message)
        for key, reason in (exc.details or {}).items() if isinstance(exc.details, dict) else []:
            field = key.split(".")[-1]
            if field in form.fields:
                form.add_error(field, reason)
        return SubmitResult(form)
    case = reg.case
    if not reg.created:
        messages.info(request, _("该登记已提交过，未重复创建：%(n)s") % {"n": case.number})
        return SubmitResult(form, case)
    messages.success(request, _("已登记：%(n)s（%(l)s）") % {"n": case.number, "l": case.get_level_display()})
    d = form.cleaned_data
    _attach_all(request, case, d.get("attachments") or [])
    try:
        if d.get("answered_first_contact"):
            perform(
                case, "answer_first_contact", request.user, expected_version=case.version, answer=d["answer"]
            )
        elif d.get("accept_and_route") and d["kind"] != Kind.REPORT:
            perform(
                case,
                "accept",
                request.user,
                expected_version=case.version,
                kind=d["kind"],
                category=d.get("category") or None,
            )
            perform(case, "assign", request.user, expected_version=case.version)
            messages.info(request, _("已受理并分派至：%(d)s") % {"d": display_name(case.department) or "—"})
    except DomainError as exc:
        messages.warning(request, _("案件已登记，但后续操作未完成：%(m)s") % {"m": exc.message})
    return SubmitResult(form, case)


def _attach_all(request, case: Case, files) -> None:

    for upload in files:
        try:
            attach_file(case, request.user, name=upload.name, content=upload, declared_size=upload.size)
        except DomainError as exc:
            messages.warning(request, _("附件 %(f)s 未保存：%(m)s") % {"f": upload.name, "m": exc.message})


# --- the preview: earlier complaints, repeat, level ----------------------------------------------


def _suggest(text: str) -> dict | None:
    """The triage suggestion (kesu.insight) for the text typed so far: always shown once there is some
    text, with its confidence; the most likely category can be applied even when the classifier is not
    sure (the agent decides)."""
    if not text or len(text) < 4:
        return None
    try:
        result = suggest(text)
    except Exception:  # noqa: BLE001 - a suggestion must never break the form
        log.exception("insight suggestion failed")
        return None
    code = result.category_code or result.best_guess or ""
    cat = Category.objects.filter(code=code, is_active=True).first() if code else None
    dept_code = result.department_code or (cat.department_code if cat else "")
    dept = Department.objects.filter(code=dept_code).first() if dept_code else None
    alternatives = [
        a for a in (result.alternatives or []) if a.get("code") and a.get("code") != (cat.code if cat else "")
    ][:2]
    # The classifier names categories in Chinese; the form says them in the reader's language.
    names = local_names(Category.objects.filter(code__in=[a["code"] for a in alternatives]))
    return {
        "category": cat.code if cat else "",
        "category_name": display_name(cat) if cat else "",
        "department": display_name(dept) if dept else dept_code,
        "confidence": round(float(result.category_confidence or 0) * 100),
        "sure": bool(result.sure),
        "level_hint": result.level_hint,
        "alternatives": [{**a, "name": names.get(a["code"], a.get("name", ""))} for a in alternatives],
    }


def _deadline_preview(data, *, level: str, channel, rules) -> list[dict]:
    """The deadlines the case will get at registration, computed by the deadline engine (kesu.sla) on
    an unsaved stand-in, as the importer does for open imported cases; nothing is written."""
    kind = data.get("kind") or Kind.COMPLAINT
    received = _received_at(data.get("received_at"))
    case = SimpleNamespace(
        pk=None,
        status=Status.REGISTERED,
        level=level,
        kind=kind,
        channel_id=channel.pk if channel else None,
        channel=SimpleNamespace(code=channel.code if channel else ""),
        branch_id=None,
        received_at=received,
        customer_due_at=_requested_time(data.get("customer_due_at"), received),
        last_contact_at=None,
        reopen_count=0,
        handler_id=None,
        due_at=None,
    )
    event = SimpleNamespace(
        action="register", payload={}, from_status="", to_status=Status.REGISTERED, created_at=timezone.now()
    )
    try:
        stages = deadlines_for_imported([(case, event)], rules)
    except Exception:  # noqa: BLE001 - the preview never fails because of the deadline panel
        log.exception("deadline preview failed")
        return []
    return [
        {
            "stage": stage_label(st.stage),
            "due_at": st.due_at,
            "duration": duration_text(st.amount, st.unit),
        }
        for st in sorted(stages, key=lambda st: st.due_at)
    ]


def _received_at(raw) -> dt.datetime:
    now = timezone.now()
    if isinstance(raw, dt.datetime):
        value = raw
    else:
        try:
            value = dt.datetime.fromisoformat(str(raw or "").strip())
        except ValueError:
            return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return min(value, now)


def _requested_time(raw: Any, received: dt.datetime) -> dt.datetime | None:
    """The guest's requested time as typed so far; None unless it is a time after the receipt (the
    registration refuses the others)."""
    if not raw:
        return None
    try:
        value = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw).strip())
    except ValueError:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value if value > received else None


def _open_cases(user, customer, *, subject_no: str, category_id: int | None) -> dict[str, list[Case]]:
    """The customer's open cases across all categories that this user may see, split into the same
    matter (grading's rule: the same policy/order number, else the same category) and other matters."""
    if customer is None:
        return {"same": [], "other": []}
    qs = list_cases(user).filter(same_person_q(customer), status__in=(*OPEN_STATUSES, Status.SUSPENDED))
    rows = list(qs[:40])
    same = set(
        qs.filter(grading.same_matter_q(subject_no=subject_no, category_id=category_id))
        .filter(pk__in=[c.pk for c in rows])
        .values_list("pk", flat=True)
    )
    return {"same": [c for c in rows if c.pk in same], "other": [c for c in rows if c.pk not in same]}


def preview(data, user) -> dict:
    """What the intake agent should know before saving: the customer's earlier complaints, repeat and level."""
    phone = (data.get("phone") or "").strip()
    policy_no = (data.get("policy_no") or "").strip()
    id_number = (data.get("id_number") or "").strip()
    subject_no = (data.get("subject_no") or "").strip()
    out: dict[str, Any] = {"searched": bool(phone or policy_no or id_number or subject_no)}
    customer = None
    if out["searched"]:
        customer = find_customer(phone=phone, id_number=id_number, policy_no=policy_no or subject_no)
    earlier: list[Case] = []
    # Only the cases this person may see (the case selectors' rule): a phone number typed into the form
    # must not list a whistle-blowing report or another department's case, nor name their customer.
    if customer is not None:
        if not visible_cases(user, Case.objects.filter(same_person_q(customer))).exists():
            customer = None
        else:
            earlier = list(
                visible_cases(user, Case.objects.filter(same_person_q(customer)))
                .select_related("category", "channel")
                .order_by("-received_at")[:10]
            )
    elif subject_no:
        earlier = list(
            visible_cases(user, Case.objects.filter(subject_no=subject_no))
            .select_related("category", "channel")
            .order_by("-received_at")[:10]
        )
    # Masked like everywhere else (kesu.trust.pii): the administrator registers but sees no personal data.
    out["customer"] = pii.present_customer(customer, user)
    out["earlier"] = earlier
    try:
        rules = active_rules()
    except Exception:  # noqa: BLE001
        return out
    category = category_by_code(data.get("category") or "") if data.get("category") else None
    channel = channel_by_code(data.get("channel") or "phone")
    now = timezone.now()
    count, latest = grading.count_same_matter(
        customer=customer,
        subject_no=subject_no,
        category_id=category.pk if category else None,
        before=now,
        window_days=int(rules.grading.get("repeat_window_days", 365)),
    )
    try:
        people = max(1, int(data.get("people_count") or 1))
    except (TypeError, ValueError):
        people = 1
    flags = data.getlist("flags") if hasattr(data, "getlist") else list(data.get("flags") or [])
    probe = Case(
        repeat_count=count + 1,
        people_count=people,
        flag_injury="injury" in flags,
        flag_safety="safety" in flags,
        flag_media="media" in flags,
        flag_lawyer="lawyer" in flags,
        channel=channel,
    )
    level, reasons = grading.grade(probe, rules, channel_is_crisis=bool(channel and channel.is_crisis))
    out.update(
        {
            "deadlines": _deadline_preview(data, level=level, channel=channel, rules=rules),
            "open_cases": _open_cases(
                user, customer, subject_no=subject_no, category_id=category.pk if category else None
            ),
            "repeat_count": count + 1,
            "is_repeat": count > 0,
            "repeat_of": latest,
            "level": level,
            "level_label": Level(level).label,
            "reasons": reasons,
            "suggestion": _suggest((data.get("description") or "").strip()),
        }
    )
    return out


__all__ = ["IntakeForm", "submit", "preview", "Customer"]
