"""What the workbench itself stores: saved queue views and reply templates (答复模板/话术).

Neither touches a case: a saved view is a named query string of a queue page, a reply template is text
the person still edits before `perform("reply")` records it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kesu.cases.models import Kind
from kesu.org.models import Department
from kesu.policy.models import Category


class SavedView(models.Model):
    """A queue's filters saved under a name; shared with the owner's department when `department` is set."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    queue = models.CharField(_("队列"), max_length=20)
    name = models.CharField(_("名称"), max_length=60)
    # The page's query string without paging (status=…&level=…&sort=…), re-parsed on every use.
    query = models.CharField(_("筛选条件"), max_length=1000, blank=True)
    department = models.ForeignKey(
        Department,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("共享部门"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("保存的视图")
        verbose_name_plural = _("保存的视图")
        ordering = ("name", "pk")
        constraints = [
            models.UniqueConstraint(fields=["owner", "queue", "name"], name="saved_view_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class ReplyTemplate(models.Model):
    """答复模板: text with placeholders ({客户姓名} {案件编号} {承诺日期} {处理方式} {救济途径}).

    A template without category or kind fits every case; the picker offers the most specific first.
    """

    class Purpose(models.TextChoices):
        REPLY = "reply", _("答复客户")
        PORTAL = "portal", _("门户消息")

    name = models.CharField(_("名称"), max_length=80)
    purpose = models.CharField(_("用途"), max_length=10, choices=Purpose.choices, default=Purpose.REPLY)
    category = models.ForeignKey(
        Category,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("分类"),
        help_text=_("留空适用于所有分类；选上级分类时也适用于其下级分类"),
    )
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, blank=True)
    body = models.TextField(
        _("内容"), help_text=_("可用占位符：{客户姓名} {案件编号} {承诺日期} {处理方式} {救济途径}")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    order = models.PositiveIntegerField(_("排序"), default=100)

    class Meta:
        verbose_name = _("答复模板")
        verbose_name_plural = _("答复模板")
        ordering = ("order", "pk")

    def __str__(self) -> str:
        return self.name
