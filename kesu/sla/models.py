"""Working-day calendar, per-stage deadlines, notifications and outbound webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kesu.sla import messages

USER = settings.AUTH_USER_MODEL


class StageDeadline(models.Model):
    """The deadline of one stage of one case (record, answer, collaboration #n, ...)."""

    class State(models.TextChoices):
        OPEN = "open", _("进行中")
        MET = "met", _("已完成")
        CANCELLED = "cancelled", _("已取消")

    # Not indexed alone: the unique (case, stage, ref) constraint is the index for "the stages of a case".
    case = models.ForeignKey(
        "cases.Case", on_delete=models.PROTECT, related_name="stage_deadlines", db_index=False
    )
    stage = models.CharField(_("环节"), max_length=30)
    ref = models.CharField(_("关联"), max_length=40, blank=True, default="")
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.OPEN)
    starts_at = models.DateTimeField(_("起算时间"))
    amount = models.PositiveIntegerField(_("时限"))
    unit = models.CharField(_("单位"), max_length=20)
    rule_source = models.CharField(_("规则"), max_length=200, blank=True)
    base_due_at = models.DateTimeField(_("原定期限"))
    due_at = models.DateTimeField(_("期限"))
    warn_at = models.DateTimeField(_("预警时间"))
    extension_days = models.PositiveIntegerField(_("延长工作日"), default=0)
    pauses = models.JSONField(_("暂停区间"), default=list, blank=True)
    paused_at = models.DateTimeField(_("暂停于"), null=True, blank=True)
    under_fallback = models.BooleanField(_("按推定日历计算"), default=False, db_index=True)
    met_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    warned_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    breached_at = models.DateTimeField(_("超时时间"), null=True, blank=True)
    escalation_step = models.PositiveSmallIntegerField(_("已升级步数"), default=0)
    # The next instant the sweeper must look at this row (warning, breach, next escalation); null = nothing.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("环节时限")
        verbose_name_plural = _("环节时限")
        constraints = [
            models.UniqueConstraint(fields=["case", "stage", "ref"], name="stage_deadline_unique"),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            models.Index(fields=["stage", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.stage}{'#' + self.ref if self.ref else ''} → {self.due_at}"

    @property
    def is_breached(self) -> bool:
        if self.breached_at is not None:
            return True
        return self.met_at is not None and self.met_at > self.due_at


class Notification(models.Model):
    """In-app inbox entry.

    Kept as a message id and its parameters (kesu.sla.messages) and said in the reader's language when
    read (`text`); `title`/`body` are the words in settings.LANGUAGE_CODE at creation, the only words of
    rows from before message ids."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notifications")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("类型"), max_length=30)
    message_id = models.CharField(_("消息"), max_length=60, blank=True, default="")
    params = models.JSONField(_("参数"), default=dict, blank=True)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    created_at = models.DateTimeField(_("时间"))
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    emailed = models.BooleanField(default=False)
    dedupe_key = models.CharField(max_length=200, unique=True)
    # Held for the recipient's daily digest (NotificationPreference): not in the inbox, never e-mailed
    # alone; the digest lists it (digested_at) as one line of one message.
    held_for_digest = models.BooleanField(default=False)
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "read_at"]),
            # The digest job's scan: held and not yet listed.
            models.Index(
                fields=["user"],
                condition=models.Q(held_for_digest=True, digested_at=None),
                name="notif_held_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def text(self) -> tuple[str, str]:
        """(title, body) in the active language."""
        return messages.render(self.message_id, self.params, self.title, self.body)

    @property
    def display_title(self) -> str:
        return self.text()[0]

    @property
    def display_body(self) -> str:
        return self.text()[1]


class NotificationPreference(models.Model):
    """How one user receives one kind of notification: at once, or in the daily digest.

    A kind without a row follows `kesu.sla.digest.DEFAULT_MODES` (penalty proposals come as a daily
    list; every hand-off at once)."""

    class Mode(models.TextChoices):
        IMMEDIATE = "immediate", _("立即")
        DIGEST = "digest", _("每日汇总")

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(_("类型"), max_length=30)
    mode = models.CharField(_("方式"), max_length=10, choices=Mode.choices)

    class Meta:
        verbose_name = _("通知方式")
        verbose_name_plural = _("通知方式")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.mode}"


class WebhookSubscription(models.Model):
    name = models.CharField(_("名称"), max_length=100)
    url = models.URLField(_("地址"), max_length=500)
    secret = models.CharField(_("签名密钥"), max_length=200)
    events = models.JSONField(_("事件"), default=list, blank=True, help_text=_("为空表示全部事件"))
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("外发 Webhook 订阅")
        verbose_name_plural = _("外发 Webhook 订阅")

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("待发送")
        DELIVERED = "delivered", _("已送达")
        FAILED = "failed", _("失败")

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    payload = models.JSONField()
    dedupe_key = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Webhook 投递")
        verbose_name_plural = _("Webhook 投递")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "dedupe_key"], name="webhook_delivery_once")
        ]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("Webhook 投递记录")
        verbose_name_plural = _("Webhook 投递记录")
        ordering = ["delivery", "number"]


class ScheduledJob(models.Model):
    """The next run of a periodic job (kesu.sla.schedule). Claimed under a row lock, so several
    scheduler processes sharing one database never run a job twice."""

    name = models.CharField(max_length=60, unique=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("定时任务")
        verbose_name_plural = _("定时任务")

    def __str__(self) -> str:
        return self.name


class WorkerBeat(models.Model):
    """A task worker's heartbeat (`kesu worker`, kesu.sla.workers). A task is leased to the worker that
    claimed it while that worker keeps beating; once its beat is older than the lease, another worker
    puts the task back in the queue (the worker died: SIGKILL, OOM, a lost host)."""

    worker_id = models.CharField(_("任务进程"), max_length=64, primary_key=True)
    hostname = models.CharField(_("主机"), max_length=200, blank=True)
    pid = models.PositiveIntegerField(_("进程号"), default=0)
    queues = models.CharField(_("队列"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("启动时间"))
    last_beat_at = models.DateTimeField(_("最近心跳"), db_index=True)
    current_task = models.CharField(_("当前任务"), max_length=300, blank=True)
    stopped_at = models.DateTimeField(_("停止时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("任务进程心跳")
        verbose_name_plural = _("任务进程心跳")
        ordering = ["-last_beat_at"]

    def __str__(self) -> str:
        return self.worker_id
