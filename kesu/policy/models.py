from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kesu.org.i18n import display_name


class Policy(models.Model):
    """One version of the company's rule set.

    The whole rule document (levels, SLA table, approval matrix, penalties,
    closing criteria ...) is kept as validated JSON, so that a case can point
    at the exact version it was judged under. Editing creates a new version;
    old versions are never changed.
    """

    code = models.CharField(_("规则编码"), max_length=40)
    name = models.CharField(_("名称"), max_length=200)
    version = models.PositiveIntegerField(_("版本"))
    is_active = models.BooleanField(_("当前生效"), default=False)
    document = models.JSONField(_("规则内容"))
    layers = models.JSONField(_("叠加的监管规则"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(_("变更说明"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("规则版本")
        verbose_name_plural = _("规则版本")
        constraints = [
            models.UniqueConstraint(fields=["version"], name="policy_version_unique"),
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_policy"
            ),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Category(models.Model):
    """A node of the complaint taxonomy (for financial presets: the JR/T 0169 cause axis)."""

    code = models.CharField(_("编码"), max_length=80, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    # Shown in the English UI (kesu.org.i18n.display_name); the Chinese name where empty.
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=400, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(default=0)
    department_code = models.CharField(_("主管部门编码"), max_length=40, blank=True)
    keywords = models.JSONField(_("关键词"), default=list, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("投诉分类")
        verbose_name_plural = _("投诉分类")
        ordering = ["path"]

    def __str__(self) -> str:
        return display_name(self)

    @property
    def is_leaf(self) -> bool:
        return not self.children.exists()


class Channel(models.Model):
    """Where a complaint came from. Crisis channels (regulator, media, internet) raise the level."""

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    name_en = models.CharField(_("英文名称"), max_length=60, blank=True)
    is_crisis = models.BooleanField(_("危机渠道"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("投诉渠道")
        verbose_name_plural = _("投诉渠道")
        ordering = ["code"]

    def __str__(self) -> str:
        return display_name(self)


class TaxonomyStamp(models.Model):
    """One row whose token changes with every write of a category or a channel.

    The per-process taxonomy caches (kesu.policy.selectors.taxonomy) compare it on each use: one
    primary-key read instead of reading every category. A random token, not a counter: a rolled-back
    write restores the token together with the rows, so a token always names one state of the rows.
    """

    token = models.BigIntegerField(default=0)
