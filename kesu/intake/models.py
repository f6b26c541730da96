"""Data collection: import sources and batches, inbound webhooks and mail, export records."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class ImportSource(models.Model):
    """An external system that sends complaints, with its saved column and value mapping.

    `mapping`: Kesu field → the file's column header(s), e.g. `{"external_id": ["工单号"],
    "received_at": ["受理时间"], "customer_phone": ["客户信息/联系电话", "联系电话"]}`.
    `value_maps`: per field, the source system's own codes → Kesu codes, e.g.
    `{"channel": {"01": "phone"}, "category": {"A12": "billing.wrong"}, "department": {"D07": "CLAIMS"},
    "status": {"办结": "closed"}, "outcome": {"满意": "accepted"}}`.
    `defaults`: values for fields the file lacks, e.g. `{"channel": "crm"}`.
    `options`: how the source's files are read (kesu.intake.options.SourceOptions), e.g.
    `{"system": "callcentre", "date_order": "mdy", "required": ["category"],
    "invalid_id_number": "warn", "closed_without_time": "received_at", "unknown_codes": "reject"}`.
    """

    code = models.SlugField(_("来源编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    mapping = models.JSONField(_("列映射"), default=dict, blank=True)
    value_maps = models.JSONField(_("代码映射"), default=dict, blank=True)
    defaults = models.JSONField(_("默认值"), default=dict, blank=True)
    options = models.JSONField(_("导入选项"), default=dict, blank=True)
    # Shared secret for the inbound webhook (HMAC-SHA256); empty = webhook disabled.
    webhook_secret = models.CharField(_("Webhook 密钥"), max_length=128, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("数据来源")
        verbose_name_plural = _("数据来源")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class ImportBatch(models.Model):
    """One run of an import: what file, in which mode, how far it got and what happened to every row."""

    class Mode(models.TextChoices):
        VALIDATE = "validate", _("仅校验")
        COMMIT = "commit", _("导入")

    class State(models.TextChoices):
        RUNNING = "running", _("进行中")
        COMPLETED = "completed", _("已完成")
        FAILED = "failed", _("失败（可续传）")

    source = models.ForeignKey(ImportSource, on_delete=models.PROTECT, related_name="batches")
    mode = models.CharField(_("模式"), max_length=10, choices=Mode.choices)
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.RUNNING)
    file_name = models.CharField(_("文件名"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_size = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=10, blank=True)
    encoding = models.CharField(_("编码"), max_length=20, blank=True)
    chunk_size = models.PositiveIntegerField(default=5000)
    chunks_committed = models.PositiveIntegerField(_("已提交分块数"), default=0)
    rows_committed = models.PositiveIntegerField(_("已提交行数"), default=0)
    total_rows = models.PositiveIntegerField(_("数据行数"), default=0)
    created = models.PositiveIntegerField(_("新建"), default=0)
    updated = models.PositiveIntegerField(_("更新"), default=0)
    unchanged = models.PositiveIntegerField(_("无变化"), default=0)
    rejected = models.PositiveIntegerField(_("拒绝"), default=0)
    ignored = models.PositiveIntegerField(_("忽略（合计行/空行）"), default=0)
    # The first case id this batch allocated: a case of this source with a higher id and the same
    # external id was created by an earlier row of the same file (a duplicate within the file).
    first_case_id = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(_("错误"), blank=True)
    started_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source.code} {self.file_name} #{self.pk}"

    def summary(self) -> str:
        return (
            f"数据行 {self.total_rows}：新建 {self.created}，更新 {self.updated}，无变化 {self.unchanged}，"
            f"拒绝 {self.rejected}，忽略 {self.ignored}"
        )


class ImportChunk(models.Model):
    """A committed chunk of a batch: the rows it covers are in the database, all of them or none."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_row = models.PositiveIntegerField()
    last_row = models.PositiveIntegerField()
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    ignored = models.PositiveIntegerField(default=0)
    committed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "index"], name="import_chunk_unique")]
        ordering = ["batch", "index"]


class ImportIssue(models.Model):
    """A rejected row (error) or something worth knowing about an accepted/ignored row (note)."""

    class Severity(models.TextChoices):
        ERROR = "error", _("拒绝")
        NOTE = "note", _("提示")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="issues")
    row = models.PositiveIntegerField(_("行号"))
    column = models.CharField(_("列"), max_length=100, blank=True)
    value = models.CharField(_("值"), max_length=200, blank=True)
    reason = models.CharField(_("原因"), max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    external_id = models.CharField(_("外部编号"), max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["batch", "row"])]
        ordering = ["batch", "row", "pk"]


class WebhookNonce(models.Model):
    """Nonces seen on the inbound webhook, kept for the replay window."""

    source = models.ForeignKey(ImportSource, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=100)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "nonce"], name="webhook_nonce_unique")]


class BatchRequest(models.Model):
    """An `Idempotency-Key` of the batch endpoint: a retry returns the first response."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(USER, null=True, on_delete=models.CASCADE, related_name="+")
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "user"], name="intake_batch_key_unique")]


class InboundMail(models.Model):
    """A processed e-mail (by Message-ID), so that reading the mailbox again never duplicates."""

    class Outcome(models.TextChoices):
        CREATED = "created", _("新建案件")
        THREADED = "threaded", _("追加到已有案件")
        REJECTED = "rejected", _("未能处理")

    message_id = models.CharField(max_length=255, unique=True)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    sender = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(auto_now_add=True)


class ExportLog(models.Model):
    """Who exported what and when (chained into the audit log by kesu.audit when it exists)."""

    class Kind(models.TextChoices):
        LIST = "list", _("案件清单")
        CASE_FILE = "case_file", _("案件档案")
        REJECTIONS = "rejections", _("导入拒绝报告")

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    file_format = models.CharField(max_length=10)
    filters = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    pii_masked = models.BooleanField(default=True)
    case_number = models.CharField(max_length=24, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("导出记录")
        verbose_name_plural = _("导出记录")
        ordering = ["-created_at"]


class ImportUpload(models.Model):
    """A file uploaded to the import screen or `POST /api/v1/intake/uploads`, kept between the steps
    (describe, validate, commit) as `imports/<random name>` in the default storage — never served from a
    URL; only its uploader reaches it, and a committed or stale upload is deleted with its file."""

    stored_name = models.CharField(max_length=100, unique=True)
    file_name = models.CharField(_("文件名"), max_length=255)
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(
        ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The latest validation or import of this file (the mapping screen shows its problems).
    last_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("待导入文件")
        verbose_name_plural = _("待导入文件")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name
