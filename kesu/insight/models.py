"""Data of the text-intelligence app: triage models and feedback, group alerts, surge warnings, forecasts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class TriageModel(models.Model):
    """One trained triage classifier with its model card (metrics on the time-ordered validation set)."""

    version = models.PositiveIntegerField(_("版本"), unique=True)
    created_at = models.DateTimeField(_("训练时间"), auto_now_add=True)
    algorithm = models.CharField(_("算法"), max_length=200, blank=True)
    n_train = models.PositiveIntegerField(_("训练样本数"), default=0)
    n_validation = models.PositiveIntegerField(_("验证样本数"), default=0)
    train_until = models.DateTimeField(_("训练数据截止"), null=True, blank=True)
    labels = models.JSONField(_("分类"), default=list)
    metrics = models.JSONField(_("评估指标"), default=dict)
    threshold = models.FloatField(_("置信度阈值"), default=0.5)
    blob = models.BinaryField(_("模型文件"), editable=False)
    is_active = models.BooleanField(_("当前使用"), default=False)
    decision = models.CharField(_("替换决定"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("分类模型")
        verbose_name_plural = _("分类模型")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_triage_model"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version}"

    @property
    def macro_f1(self) -> float | None:
        return (self.metrics or {}).get("macro_f1")


class TriageFeedback(models.Model):
    """What the system suggested for a case and what the handler finally chose (training signal)."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="triage_feedback")
    suggested = models.CharField(_("建议分类"), max_length=80, blank=True)
    suggested_confidence = models.FloatField(_("建议置信度"), null=True, blank=True)
    source = models.CharField(_("建议来源"), max_length=20, blank=True)
    chosen = models.CharField(_("最终分类"), max_length=80)
    accepted = models.BooleanField(_("采纳建议"), default=False)
    actor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("分类反馈")
        verbose_name_plural = _("分类反馈")
        ordering = ["-at"]


class GroupAlert(models.Model):
    """群体投诉: many distinct customers on the same matter within a short window."""

    class State(models.TextChoices):
        OPEN = "open", _("待处理")
        ACKNOWLEDGED = "acknowledged", _("已确认")
        DISMISSED = "dismissed", _("已忽略")

    key = models.CharField(_("事项"), max_length=200, db_index=True)
    title = models.CharField(_("标题"), max_length=200)
    customers = models.PositiveIntegerField(_("涉及客户数"))
    case_ids = models.JSONField(_("案件"), default=list)
    window_start = models.DateTimeField(_("窗口开始"))
    window_end = models.DateTimeField(_("窗口结束"))
    created_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    state = models.CharField(_("状态"), max_length=20, choices=State.choices, default=State.OPEN)

    class Meta:
        verbose_name = _("群体投诉预警")
        verbose_name_plural = _("群体投诉预警")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class SurgeWarning(models.Model):
    """预警: a series (category / branch / region / product / channel) counted above its baseline."""

    class State(models.TextChoices):
        OPEN = "open", _("待处理")
        ACKNOWLEDGED = "acknowledged", _("已确认")
        DISMISSED = "dismissed", _("已忽略")

    dimension = models.CharField(_("维度"), max_length=20)  # total/category/branch/region/product/channel
    key = models.CharField(_("序列"), max_length=120)
    label = models.CharField(_("名称"), max_length=200)
    granularity = models.CharField(_("粒度"), max_length=10, default="day")  # day / hour
    period_start = models.DateTimeField(_("时段开始"))
    observed = models.PositiveIntegerField(_("实际数"))
    expected = models.FloatField(_("预期数"))
    upper = models.PositiveIntegerField(_("预警上限"))
    p_value = models.FloatField(_("显著性"), null=True, blank=True)
    sample_case_ids = models.JSONField(_("样例案件"), default=list)
    message = models.CharField(_("说明"), max_length=400)
    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    state = models.CharField(_("状态"), max_length=20, choices=State.choices, default=State.OPEN)

    class Meta:
        verbose_name = _("激增预警")
        verbose_name_plural = _("激增预警")
        ordering = ["-period_start", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dimension", "key", "granularity", "period_start"], name="surge_warning_once"
            )
        ]

    def __str__(self) -> str:
        return self.message


# The name the issue uses.
Warning = SurgeWarning  # noqa: A001


class ForecastRun(models.Model):
    """A volume forecast (total and top series) for the next days, with the backtest that chose the model."""

    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    origin = models.DateField(_("预测起点"))
    horizon_days = models.PositiveSmallIntegerField(_("预测天数"))
    model_name = models.CharField(_("模型"), max_length=60)
    series = models.JSONField(_("预测结果"), default=list)  # [{key,label,points:[{date,mean,lo,hi}]}]
    backtest = models.JSONField(_("回测"), default=dict)

    class Meta:
        verbose_name = _("量预测")
        verbose_name_plural = _("量预测")
        ordering = ["-created_at"]


class TopicRun(models.Model):
    """The emerging topics of one week (kesu.insight.topics), computed by the weekly job."""

    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    week_start = models.DateField(_("周开始"), unique=True)
    week_end = models.DateField(_("周结束"))
    n_recent = models.PositiveIntegerField(_("本周投诉数"), default=0)
    n_reference = models.PositiveIntegerField(_("参照投诉数"), default=0)
    topics = models.JSONField(_("新兴主题"), default=list)

    class Meta:
        verbose_name = _("新兴主题")
        verbose_name_plural = _("新兴主题")
        ordering = ["-week_start"]
