import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kesu.org.i18n import display_name


class Department(models.Model):
    """A node of the organisation: head office, branch, sub-branch or a functional department."""

    class Kind(models.TextChoices):
        HEAD_OFFICE = "head_office", _("总公司")
        BRANCH = "branch", _("分公司")
        SUB_BRANCH = "sub_branch", _("支公司")
        FUNCTIONAL = "functional", _("职能部门")

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    # Shown in the English UI (kesu.org.i18n.display_name); the Chinese name where empty.
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
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
        return display_name(self)

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


class OrgStamp(models.Model):
    """One row whose token changes with every write of a department, a staff row, a user or a user's
    role groups (kesu.org.apps): the per-process people and department pickers of the action forms
    (kesu.web.action_forms) compare it on each use instead of reading the lists again.

    A random token, not a counter (as kesu.policy.models.TaxonomyStamp): a rolled-back write restores
    the token together with the rows, so a token always names one state of the organisation.
    """

    token = models.BigIntegerField(default=0)


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

    def assign_new_key(self) -> str:
        """Give the (unsaved) token a fresh key: only its hash and prefix are kept; the key itself is
        returned to be shown once and is not recoverable afterwards."""
        key = "ksu_" + secrets.token_urlsafe(32)
        self.key_hash = self.hash_key(key)
        self.prefix = key[4:12]
        return key

    @classmethod
    def issue(
        cls, user, name: str, scopes: list[str] | None = None, expires_at=None
    ) -> tuple["ApiToken", str]:
        token = cls(user=user, name=name, scopes=scopes or ["*"], expires_at=expires_at)
        key = token.assign_new_key()
        token.save()
        return token, key

    def is_usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())
