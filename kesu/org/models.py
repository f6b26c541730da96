import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Department(models.Model):
    """A node of the organisation: head office, branch, sub-branch or a functional department."""

    class Kind(models.TextChoices):
        HEAD_OFFICE = "head_office", _("总公司")
        BRANCH = "branch", _("分公司")
        SUB_BRANCH = "sub_branch", _("支公司")
        FUNCTIONAL = "functional", _("职能部门")

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.FUNCTIONAL)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    region = models.CharField(_("地区"), max_length=40, blank=True)
    # Materialised path ("/HQ/EAST/EAST-CLAIMS/") so subtree queries are one indexed LIKE.
    path = models.CharField(max_length=500, editable=False, db_index=True, default="")
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        node = self.parent
        while node is not None:
            if node.pk == self.pk:
                raise ValidationError({"parent": _("上级部门不能是自己或自己的下级。")})
            node = node.parent

    def save(self, *args, **kwargs) -> None:
        self.path = (self.parent.path if self.parent else "/") + self.code + "/"
        super().save(*args, **kwargs)

    @property
    def branch(self) -> "Department":
        """The nearest branch-level ancestor (or self), used for regional statistics."""
        node = self
        while node.parent is not None and node.kind not in (self.Kind.BRANCH, self.Kind.HEAD_OFFICE):
            node = node.parent
        return node


class Staff(models.Model):
    """A person of the company: a Django user with a department and a direct supervisor."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    department = models.ForeignKey(
        Department, verbose_name=_("部门"), on_delete=models.PROTECT, related_name="staff"
    )
    supervisor = models.ForeignKey(
        "self",
        verbose_name=_("直接上级"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    title = models.CharField(_("职务"), max_length=60, blank=True)
    phone = models.CharField(_("电话"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("员工")
        verbose_name_plural = _("员工")

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.username


class ApiToken(models.Model):
    """A bearer token for an integrating system or a person's scripts. Only the hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("名称"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    scopes = models.JSONField(_("权限范围"), default=list, blank=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(_("已吊销"), default=False)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(
        cls, user, name: str, scopes: list[str] | None = None, expires_at=None
    ) -> tuple["ApiToken", str]:
        key = "ksu_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            key_hash=cls.hash_key(key),
            prefix=key[4:12],
            scopes=scopes or ["*"],
            expires_at=expires_at,
        )
        return token, key

    def is_usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())


# --- trust (issue 8): audit log, login attempts, TOTP ------------------------------------------------


class AuditQuerySet(models.QuerySet):
    """The audit log is append-only: bulk updates and deletes through the ORM are refused."""

    def update(self, **kwargs):  # noqa: ARG002
        raise PermissionError("审计日志只能追加，不能修改")

    def delete(self):
        raise PermissionError("审计日志只能追加，不能删除")


class AuditEntry(models.Model):
    """One entry of the append-only, hash-chained audit log (see `kesu.org.audit`).

    `hash` = sha256(canonical JSON of the entry's fields + `prev_hash`); `kesu audit verify` recomputes
    the chain and reports the first entry that was edited, deleted or reordered. The actor is stored by
    id and name (no foreign key), so deleting a user never rewrites history.
    """

    seq = models.PositiveBigIntegerField(_("序号"), unique=True)
    created_at = models.DateTimeField(_("时间"), db_index=True)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    actor_id = models.BigIntegerField(_("操作人 ID"), null=True, blank=True, db_index=True)
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    target_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    target_id = models.CharField(_("对象"), max_length=100, blank=True, db_index=True)
    details = models.JSONField(_("详情"), default=dict, blank=True)
    ip = models.CharField(_("IP 地址"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["seq"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="org_audit_target_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.actor_name} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("审计日志只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("审计日志只能追加，不能删除")


class AuditHead(models.Model):
    """The chain head (a single row): locked by every append, so appends are serialised."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("审计日志链头")
        verbose_name_plural = _("审计日志链头")


class LoginAttempt(models.Model):
    """A login attempt, for the lockout rule (N failures in a window per user name and per IP)."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(db_index=True)
    success = models.BooleanField(default=False)
    blocked = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("登录尝试")
        verbose_name_plural = _("登录尝试")


class TotpDevice(models.Model):
    """An administrator's TOTP authenticator (RFC 6238, via pyotp); required at login once confirmed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=64)
    confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("动态口令设备")
        verbose_name_plural = _("动态口令设备")
