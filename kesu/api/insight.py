"""API endpoints of kesu.insight (mounted under /api/v1/insight by kesu/api.py). Thin: services and selectors."""

# No `from __future__ import annotations`: ninja reads the annotations at runtime.

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from kesu.api.schemas.common import Instant
from kesu.cases.selectors import get_case
from kesu.errors import Forbidden, Invalid
from kesu.insight import selectors, services
from kesu.insight.repeats import find_related, related_for_case
from kesu.insight.similar import similar_resolved_cases
from kesu.org import roles
from kesu.org.selectors import holds_any_role, user_roles
from kesu.policy.selectors import category_by_code
from kesu.trust import audit
from kesu.trust.pii import can_see_pii

router = Router(tags=["insight"])

OVERSIGHT = {roles.SUPERVISOR, roles.CS_MANAGER, roles.GENERAL_MANAGER, roles.ANALYST, roles.ADMIN}


def _staff(request: HttpRequest):
    user = request.auth
    if not user_roles(user):
        raise Forbidden("无权使用文本智能功能")
    return user


def _oversight(request: HttpRequest):
    user = request.auth
    if not holds_any_role(user, OVERSIGHT):
        raise Forbidden("仅投诉主管、经理、分析员和管理员可查看")
    return user


class SuggestIn(Schema):
    text: str
    channel: str | None = None
    product: str | None = None


class CustomerIn(Schema):
    name: str = ""
    phone: str = ""
    id_number: str = ""
    policy_no: str = ""
    account_no: str = ""


class RelatedIn(Schema):
    text: str = ""
    customer: CustomerIn = CustomerIn()
    subject_no: str = ""
    received_at: Instant | None = None
    window_days: int = Field(90, ge=1, le=3650)


class RiskIn(Schema):
    text: str


class FeedbackIn(Schema):
    case_id: int
    category: str


def _related(rows) -> list[dict[str, Any]]:
    return [
        {
            "case_id": r.case_id,
            "number": r.number,
            "received_at": r.received_at.isoformat(),
            "score": r.score,
            "same_customer": r.same_customer,
            "same_matter": r.same_matter,
            "reasons": r.reasons,
            "status": r.status,
            "category": r.category,
            "summary": r.summary,
        }
        for r in rows
    ]


@router.post("/suggest", summary="分类/部门/等级建议")
def suggest(request: HttpRequest, body: SuggestIn) -> dict[str, Any]:
    _staff(request)
    if not body.text.strip():
        raise Invalid("投诉内容不能为空", details={"text": "必填"})
    return services.suggest(body.text, body.channel, body.product).as_dict()


@router.post("/feedback", summary="记录经办人最终选择的分类")
def feedback(request: HttpRequest, body: FeedbackIn) -> dict[str, Any]:

    user = _staff(request)
    case = get_case(user, pk=body.case_id)
    if category_by_code(body.category) is None:
        raise Invalid("未知分类", details={"category": "未知分类"})
    fb = services.record_choice(case, body.category, user)
    return {"id": fb.pk, "suggested": fb.suggested, "chosen": fb.chosen, "accepted": fb.accepted}


@router.post("/related", summary="同一客户/同一事项的既往投诉（受理时）")
def related(request: HttpRequest, body: RelatedIn) -> list[dict[str, Any]]:
    user = _staff(request)
    customer = body.customer.dict()
    identifiers = {k: v for k, v in customer.items() if k in ("name", "phone", "id_number") and v}
    if identifiers:
        # A lookup by a masked identifier is for roles that see it unmasked, and it is audited (as the
        # case list's search): for anyone else it would recover a masked phone by trial.
        if not can_see_pii(user):
            raise Forbidden(_("您的角色无权查看完整的个人信息"), code="pii_forbidden")
        audit.record(
            "pii.search", user, None, {"via": "api.related", "fields": sorted(identifiers)}, request=request
        )
    return _related(
        find_related(
            body.text,
            customer,
            body.subject_no,
            body.received_at,
            max(1, min(body.window_days, 730)),
            visible_to=user,  # never numbers or summaries of cases the caller may not see
        )
    )


@router.get("/cases/{case_id}/related", summary="案件的关联投诉")
def case_related(request: HttpRequest, case_id: int) -> list[dict[str, Any]]:

    user = _staff(request)
    case = get_case(user, pk=case_id)
    return _related(related_for_case(case, visible_to=user))


@router.get("/cases/{case_id}/suggestion", summary="案件的分类建议")
def case_suggestion(request: HttpRequest, case_id: int) -> dict[str, Any]:

    case = get_case(_staff(request), pk=case_id)
    return services.suggest_for_case(case).as_dict()


@router.get("/similar/{number}", summary="相似的已办结案件（处理方式、金额、答复、结果、满意度）")
def similar(request: HttpRequest, number: str, limit: int = 5) -> list[dict[str, Any]]:
    user = _staff(request)
    case = get_case(user, number=number)
    return [s.as_dict() for s in similar_resolved_cases(user, case, limit=max(1, min(limit, 20)))]


@router.post("/risk", summary="升级风险：监管/媒体/律师/报警/人身伤害/安全/强烈情绪的措辞及建议标记")
def risk(request: HttpRequest, body: RiskIn) -> dict[str, Any]:
    _staff(request)
    return services.assess_risk(body.text)


@router.get("/model", summary="分类模型卡（指标、数据量、日期）")
def model_card(request: HttpRequest) -> dict[str, Any]:
    _oversight(request)
    return selectors.model_card()


@router.get("/models", summary="分类模型版本")
def model_list(request: HttpRequest) -> list[dict[str, Any]]:
    _oversight(request)
    return [
        {
            "version": m.version,
            "created_at": m.created_at.isoformat(),
            "is_active": m.is_active,
            "n_train": m.n_train,
            "n_validation": m.n_validation,
            "macro_f1": m.macro_f1,
            "decision": m.decision,
        }
        for m in selectors.models()
    ]


@router.get("/warnings", summary="激增预警")
def warnings(request: HttpRequest, open_only: bool = False) -> list[dict[str, Any]]:
    _oversight(request)
    rows = selectors.open_warnings() if open_only else selectors.recent_warnings()
    return [
        {
            "id": w.pk,
            "dimension": w.dimension,
            "key": w.key,
            "label": w.label,
            "granularity": w.granularity,
            "period_start": w.period_start.isoformat(),
            "observed": w.observed,
            "expected": w.expected,
            "upper": w.upper,
            "sample_case_ids": w.sample_case_ids,
            "message": w.message,
            "state": w.state,
        }
        for w in rows
    ]


@router.get("/group-alerts", summary="群体投诉预警")
def group_alerts(request: HttpRequest) -> list[dict[str, Any]]:
    _oversight(request)
    return [
        {
            "id": a.pk,
            "title": a.title,
            "customers": a.customers,
            "case_ids": a.case_ids,
            "window_start": a.window_start.isoformat(),
            "window_end": a.window_end.isoformat(),
            "state": a.state,
        }
        for a in selectors.group_alerts()
    ]


@router.get("/topics", summary="新兴主题：本周现有分类解释不了的投诉群")
def topics(request: HttpRequest) -> dict[str, Any]:
    _oversight(request)
    run = selectors.latest_topics()
    if run is None:
        return {
            "available": False,
            "message": _("尚未生成新兴主题：每周一自动运行，或运行 kesu insight topics"),
        }
    return {
        "available": True,
        "week_start": run.week_start.isoformat(),
        "week_end": run.week_end.isoformat(),
        "n_recent": run.n_recent,
        "n_reference": run.n_reference,
        "topics": run.topics,
    }


@router.get("/forecast", summary="最新投诉量预测（未来 2/7/30 天）")
def forecast(request: HttpRequest) -> dict[str, Any]:
    _oversight(request)
    run = selectors.latest_forecast()
    if run is None:
        return {"available": False, "message": "尚未生成预测：运行 kesu insight forecast"}
    return {
        "available": True,
        "created_at": run.created_at.isoformat(),
        "origin": run.origin.isoformat(),
        "model": run.model_name,
        "series": run.series,
        "backtest": run.backtest,
    }
