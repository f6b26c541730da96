"""Reply templates (答复模板/话术): which templates fit a case, and their text filled in for it.

Rendered server-side into the case page (the reply and first-contact answer forms carry a picker whose
options hold the filled-in text); the person edits the text before sending it through `perform`.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases.models import Case, Proposal
from kesu.policy.selectors import rules_for
from kesu.trust.pii import present_customer
from kesu.web.models import ReplyTemplate

PLACEHOLDERS = ("客户姓名", "案件编号", "承诺日期", "处理方式", "救济途径")


def templates_for(case: Case, purpose: str = ReplyTemplate.Purpose.REPLY) -> list[ReplyTemplate]:
    """Active templates for this purpose whose category (or an ancestor of the case's category) and
    kind fit the case; the most specific first, then by the administrators' order."""
    qs = ReplyTemplate.objects.filter(is_active=True, purpose=purpose).filter(Q(kind="") | Q(kind=case.kind))
    path = case.category.path if case.category_id else ""
    fits = [
        t for t in qs.select_related("category") if t.category_id is None or f"/{t.category.code}/" in path
    ]
    return sorted(fits, key=lambda t: (-(bool(t.category_id) + bool(t.kind)), t.order, t.pk))


def _redress(case: Case) -> str:
    """救济途径: the policy's wording ([reply] redress), else the usual wording for its industry."""
    try:
        rules = rules_for(case.policy_id)
    except Exception:  # noqa: BLE001 - a template still fills without a policy
        rules = None
    text = (rules.section("reply").get("redress") if rules is not None else "") or ""
    if text:
        return str(text)
    if rules is not None and rules.is_financial:
        return _(
            "如您对处理结果有异议，可向金融监督管理部门反映，也可申请调解、仲裁或依法向人民法院提起诉讼。"
        )
    return _(
        "如您对处理结果不满意，可向市场监督管理部门（12315）投诉，也可申请调解、仲裁或依法向人民法院提起诉讼。"
    )


def _remedy(case: Case, proposals: list[Proposal] | None = None) -> str:
    if proposals is None:
        proposal = (
            Proposal.objects.filter(case=case)
            .exclude(state=Proposal.State.REJECTED)
            .exclude(remedy_type="special_closure")
            .order_by("-pk")
            .first()
        )
    else:
        counted = [
            p for p in proposals if p.state != Proposal.State.REJECTED and p.remedy_type != "special_closure"
        ]
        proposal = max(counted, key=lambda p: p.pk, default=None)
    if proposal is None:
        return "—"
    return str(proposal.get_remedy_type_display())


def values_for(case: Case, user, proposals: list[Proposal] | None = None) -> dict[str, str]:
    """The placeholders' values for this case and reader (`proposals`: the case's proposals when the
    caller has read them all, else the latest one that counts is read here)."""
    customer = present_customer(case.customer, user) if case.customer_id else None
    due = timezone.localtime(case.due_at).strftime("%Y-%m-%d") if case.due_at else "—"
    return {
        "客户姓名": (customer or {}).get("name") or _("客户"),
        "案件编号": case.number,
        "承诺日期": due,
        "处理方式": _remedy(case, proposals),
        "救济途径": _redress(case),
    }


def fill(body: str, values: dict[str, str]) -> str:
    """Replace the known placeholders; anything else in braces stays as written (no str.format: a
    stray brace in an administrator's text must not break the page)."""
    for key, value in values.items():
        body = body.replace("{" + key + "}", value)
    return body


def choices_for(case: Case, user, purpose: str = ReplyTemplate.Purpose.REPLY) -> list[tuple[str, str]]:
    """(name, filled-in text) of every template fitting the case, for the picker."""
    templates = templates_for(case, purpose)
    if not templates:
        return []
    values = values_for(case, user)
    return [(t.name, fill(t.body, values)) for t in templates]
