"""Analysis records: improvement measures (CAPA), report subscriptions and the report archive."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kesu.org.models import Department
from kesu.policy.models import Category

USER = settings.AUTH_USER_MODEL


class ReportKind(models.TextChoices):
    DAILY = "daily", _("投诉分析日报")
    WEEKLY = "weekly", _("投诉分析周报")
    MONTHLY = "monthly", _("投诉分析月报")
    # Produced only when the policy asks for them ([reports.quarterly] / [reports.annual]), with a due date.
    QUARTERLY = "quarterly", _("投诉分析季报")
    ANNUAL = "annual", _("投诉分析年报")


class ReportFormat(models.TextChoices):
    HTML = "html", "HTML"
    PDF = "pdf", "PDF"
    XLSX = "xlsx", "XLSX"


class ImprovementMeasure(models.Model):
    """整改措施 (CAPA): a root cause, the measure taken against it, and whether it worked."""

    class State(models.TextChoices):
        # A preventive measure takes effect only once the general manager approved it (001 篇9 3.1.2,
        # 篇8 八; the policy's `improvement.approval_role`).
        PENDING_APPROVAL = "pending_approval", _("待审批")
        PLANNED = "planned", _("待实施")
        IN_PROGRESS = "in_progress", _("实施中")
        DONE = "done", _("已完成")
        CANCELLED = "cancelled", _("已取消")

    title = models.CharField(_("标题"), max_length=200)
    root_cause = models.TextField(_("根本原因"))
    measure = models.TextField(_("整改措施"), blank=True)
    # The target series whose complaint volume the measure should bring down.
    category = models.ForeignKey(
        Category,
        verbose_name=_("针对分类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    product = models.CharField(_("针对产品"), max_length=100, blank=True)
    branch = models.ForeignKey(
        Department,
        verbose_name=_("针对机构"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    department = models.ForeignKey(
        Department,
        verbose_name=_("责任部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="improvement_measures",
    )
    owner = models.ForeignKey(
        USER, verbose_name=_("责任人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_date = models.DateField(_("完成期限"))
    state = models.CharField(_("状态"), max_length=20, choices=State.choices, default=State.PLANNED)
    evidence = models.TextField(_("完成证明"), blank=True)
    cases = models.ManyToManyField("cases.Case", verbose_name=_("关联案件"), blank=True, related_name="+")
    # The effect check compares this many days before the start with as many after completion.
    effect_window_days = models.PositiveSmallIntegerField(_("效果评估窗口（天）"), default=30)
    started_on = models.DateField(_("开始日期"))
    completed_on = models.DateField(_("完成日期"), null=True, blank=True)
    effect_before = models.PositiveIntegerField(null=True, blank=True)
    effect_after = models.PositiveIntegerField(null=True, blank=True)
    effective = models.BooleanField(_("整改有效"), null=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(_("超期升级时间"), null=True, blank=True)
    approved_by = models.ForeignKey(
        USER, verbose_name=_("批准人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("批准时间"), null=True, blank=True)
    created_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("整改措施")
        verbose_name_plural = _("整改措施")
        ordering = ["due_date", "pk"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.PLANNED, self.State.IN_PROGRESS)


class ReportSubscription(models.Model):
    """Who receives which periodic report by e-mail."""

    kind = models.CharField(_("报告类型"), max_length=10, choices=ReportKind.choices)
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField(_("电子邮件"), blank=True)
    format = models.CharField(_("格式"), max_length=5, choices=ReportFormat.choices, default=ReportFormat.PDF)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("报告订阅")
        verbose_name_plural = _("报告订阅")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.address}"

    @property
    def address(self) -> str:
        return self.email or (self.user.email if self.user_id else "")


class GeneratedReport(models.Model):
    """The archive: every generated report file, kept for later reading."""

    kind = models.CharField(_("报告类型"), max_length=10, choices=ReportKind.choices)
    format = models.CharField(_("格式"), max_length=5, choices=ReportFormat.choices)
    period_start = models.DateField(_("起始日期"))
    period_end = models.DateField(_("截止日期（不含）"))
    title = models.CharField(_("标题"), max_length=200)
    file_name = models.CharField(max_length=200)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    findings = models.JSONField(_("分析结论"), default=list, blank=True)
    generated_at = models.DateTimeField(auto_now_add=True)
    generated_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    emailed_to = models.JSONField(default=list, blank=True)
    # Quarterly and annual reports filed with a regulator: the day the policy sets for the filing.
    due_on = models.DateField(_("报送期限"), null=True, blank=True)
    # Scheduled reports only: `<kind>:<period start>:<format>`, unique, so that a report task run twice
    # (a worker died, the catch-up found the period missing) archives and mails the report once.
    schedule_key = models.CharField(max_length=40, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("分析报告")
        verbose_name_plural = _("分析报告")
        ordering = ["-period_start", "kind", "format", "-generated_at"]

    def __str__(self) -> str:
        return self.title


class CaseCloseTime(models.Model):
    """Rollup kept current by the transition service (`kesu.analytics.rollups`): the working hours
    from receipt to closing of each closed case, so that the average and P90 time to close are SQL
    aggregates instead of a calendar computation per case at every query."""

    case = models.OneToOneField("cases.Case", primary_key=True, on_delete=models.CASCADE, related_name="+")
    # The closing this figure belongs to: a row whose closed_at differs from the case's is stale
    # (reopened and closed again) and is not used.
    closed_at = models.DateTimeField()
    working_hours = models.FloatField(db_index=True)

    class Meta:
        verbose_name = _("办结工作时长")
        verbose_name_plural = _("办结工作时长")


class CaseCountKey(models.Model):
    """Rollup bookkeeping (`kesu.analytics.rollups`): the local day, kind and dimension values under which
    a case is counted in `DailyCaseCount`, so that a change (regrade, reassignment, a re-import's
    correction) moves exactly this case's contribution: subtract the recorded one, add the new one."""

    case = models.OneToOneField("cases.Case", primary_key=True, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()  # the local (Asia/Shanghai) date of receipt
    kind = models.CharField(max_length=20)
    # Plain ids, not foreign keys: the figures of the time, no constraint to keep.
    category_id = models.BigIntegerField(null=True)
    branch_id = models.BigIntegerField(null=True)
    channel_id = models.BigIntegerField(null=True)
    region = models.CharField(max_length=40, blank=True)
    product = models.CharField(max_length=100, blank=True)


class DailyCaseCount(models.Model):
    """Rollup kept current by the transition service (`kesu.analytics.rollups`): the number of cases
    received on each local day, by kind, overall (dimension "") and by one dimension at a time
    (category, branch, channel, region, product; `key` is the id or text, "" when not filled in).
    The report's 同比/环比 comparisons and trends are sums over it instead of counts over the cases."""

    day = models.DateField()
    kind = models.CharField(max_length=20)
    dimension = models.CharField(max_length=12)
    key = models.CharField(max_length=100)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "kind", "dimension", "key"], name="dailycasecount_key_uniq"
            )
        ]
        indexes = [models.Index(fields=["dimension", "day"], name="dailycasecount_dim_day_idx")]


class FigureVersion(models.Model):
    """One row (`kesu.analytics.figures`): a number raised after every committed case event, registration
    and import chunk (the analytics subscriber) and every rollup rebuild. Figures derived from the cases
    are cached under the number they were computed at, so a change makes every older entry unreachable."""

    n = models.BigIntegerField(default=0)
