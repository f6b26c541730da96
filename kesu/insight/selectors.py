"""Reads of kesu.insight: the model card, warnings, group alerts, the latest forecast."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from kesu.insight.models import ForecastRun, GroupAlert, SurgeWarning, TopicRun, TriageModel


def active_model() -> TriageModel | None:
    return TriageModel.objects.filter(is_active=True).defer("blob").first()


def model_card(model: TriageModel | None = None) -> dict[str, Any]:
    """What an administrator needs to judge the triage model: data size, date, validation metrics."""
    model = model or active_model()
    if model is None:
        from kesu.insight.services import min_training_cases

        return {
            "active": False,
            "source": "keywords",
            "message": f"尚无训练好的模型：按规则关键词给出建议（至少需要 {min_training_cases()} 件已结案案件）",
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
