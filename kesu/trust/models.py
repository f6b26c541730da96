"""The trust app's data: the hash-chained audit log and its head, login attempts, TOTP devices.

The tables keep the names they got in the org app, where they were created.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditQuerySet(models.QuerySet):
    """The audit log is append-only: bulk updates and deletes through the ORM are refused."""

    def update(self, **kwargs):  # noqa: ARG002
        raise PermissionError("审计日志只能追加，不能修改")

    def delete(self):
        raise PermissionError("审计日志只能追加，不能删除")


class AuditEntry(models.Model):
    """One entry of the append-only, hash-chained audit log (see `kesu.trust.audit`).

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
        db_table = "org_auditentry"  # created by the org app before trust became its own app
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
        db_table = "org_audithead"  # created by the org app before trust became its own app
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
        db_table = "org_loginattempt"  # created by the org app before trust became its own app
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
        db_table = "org_totpdevice"  # created by the org app before trust became its own app
        verbose_name = _("动态口令设备")
        verbose_name_plural = _("动态口令设备")
