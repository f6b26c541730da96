"""Reads of kesu.insight: the model card, warnings, group alerts, the latest forecast."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from kesu.cases.models import Case
from kesu.insight import services
from kesu.insight.models import ForecastRun, GroupAlert, SurgeWarning, TopicRun, TriageModel
from kesu.insight.similar import SimilarCase, similar_resolved_cases

SIMILAR_ON_CASE_PAGE = 5


def active_model() -> TriageModel | None:
    return TriageModel.objects.filter(is_active=True).defer("blob").first()


def model_card(model: TriageModel | None = None) -> dict[str, Any]:
    """What an administrator needs to judge the triage model: data size, date, validation metrics."""
    model = model or active_model()
    if model is None:
        return {
            "active": False,
            "source": "keywords",
            "message": f"尚无训练好的模型：按规则关键词给出建议（至少需要 {services.min_training_cases()} 件已结案案件）",
        }
    m = model.metrics or {}
    return {
        "active": model.is_active,
        "source": "model",
        "version": model.version,
        "created_at": model.created_at.isoformat(),
        "algorithm": model.algorithm,
        "n_train": model.n_train,
        "n_validation": model.n_validation,
        "train_until": model.train_until.isoformat() if model.train_until else None,
        "threshold": model.threshold,
        "accuracy": m.get("accuracy"),
        "macro_f1": m.get("macro_f1"),
        "not_sure": m.get("not_sure"),
        "per_class": m.get("per_class", {}),
        "labels": m.get("labels", model.labels),
        "confusion": m.get("confusion", []),
        "decision": model.decision,
        "split": m.get("split"),
        "feedback": m.get("feedback"),
    }


def models() -> QuerySet[TriageModel]:
    return TriageModel.objects.defer("blob").order_by("-version")


def open_warnings(limit: int = 100) -> QuerySet[SurgeWarning]:
    return SurgeWarning.objects.filter(state=SurgeWarning.State.OPEN).order_by("-period_start")[:limit]


def recent_warnings(limit: int = 100) -> QuerySet[SurgeWarning]:
    return SurgeWarning.objects.order_by("-period_start", "-created_at")[:limit]


def group_alerts(limit: int = 100) -> QuerySet[GroupAlert]:
    return GroupAlert.objects.order_by("-created_at")[:limit]


def latest_forecast() -> ForecastRun | None:
    return ForecastRun.objects.order_by("-created_at").first()


def latest_topics() -> TopicRun | None:
    """The most recent week's emerging topics."""
    return TopicRun.objects.order_by("-week_start").first()


def similar_closed_cases(user, case: Case, limit: int = SIMILAR_ON_CASE_PAGE) -> list[SimilarCase]:
    """The finished cases most like `case` among those `user` may see (kesu.insight.similar: the
    permission filter is applied to the candidates, before scoring), best first."""
    return similar_resolved_cases(user, case, limit=limit)


def escalation_risk(text: str) -> dict[str, Any]:
    """Escalation phrases in a text, with positions, and the flags the policy's grading attaches to them."""
    return services.assess_risk(text)


def reply_templates_of(similar: list[SimilarCase]) -> dict[int, str]:
    """Each past reply with that case's own particulars turned back into placeholders ({客户姓名},
    {案件编号}), so that a copy made for another complainant carries neither the earlier customer's name
    nor the earlier case number. Keyed by case id; cases without a reply are left out."""
    ids = [s.case_id for s in similar if s.reply]
    if not ids:
        return {}
    names = dict(Case.objects.filter(pk__in=ids).values_list("pk", "customer__name"))
    out = {}
    for s in similar:
        if not s.reply:
            continue
        text = s.reply.replace(s.number, "{案件编号}")
        name = names.get(s.case_id) or ""
        if len(name) >= 2:  # a one-character "name" would replace ordinary words
            text = text.replace(name, "{客户姓名}")
        out[s.case_id] = text
    return out
