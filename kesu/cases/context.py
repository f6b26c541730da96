"""What an action handler gets and gives back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases.models import Case
from kesu.cases.text import is_blank
from kesu.errors import Invalid
from kesu.policy.rules import Rules


@dataclass
class ActionContext:
    case: Case
    actor: Any  # a User, or None for the system (sweeper, scheduled jobs)
    now: dt.datetime
    rules: Rules
    data: dict[str, Any]

    def require(self, *names: str) -> None:
        missing = {
            n: _("必填")
            for n in names
            if self.data.get(n) in (None, "", [])
            or (isinstance(self.data.get(n), str) and is_blank(self.data[n]))
        }
        if missing:
            raise Invalid(_("缺少必填项：") + "、".join(missing), details=missing)

    def text(self, name: str, *, required: bool = True, max_length: int = 5000) -> str:
        value = self.data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(_("%(name)s 必须是文本") % {"name": name}, details={name: _("必须是文本")})
        value = value.strip()
        # Zero-width spaces and other invisible characters are no text (kesu.cases.text).
        if required and is_blank(value):
            raise Invalid(_("缺少必填项：%(name)s") % {"name": name}, details={name: _("必填")})
        if len(value) > max_length:
            raise Invalid(
                _("%(name)s 超过 %(max_length)s 字") % {"name": name, "max_length": max_length},
                details={name: _("最多 %(max_length)s 字") % {"max_length": max_length}},
            )
        return value

    def instant(self, name: str) -> dt.datetime | None:
        """An optional time (an ISO string or a datetime; local time when naive), never in the future."""
        value = self.data.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise Invalid(_("时间格式无效"), details={name: _("时间格式无效")}) from None
        if not isinstance(value, dt.datetime):
            raise Invalid(_("时间格式无效"), details={name: _("时间格式无效")})
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        if value > self.now + dt.timedelta(minutes=5):
            raise Invalid(_("时间不能晚于当前时间"), details={name: _("不能晚于当前时间")})
        return value


@dataclass
class Outcome:
    to_status: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # Shown in the complainant portal's progress view (never staff names or internal notes).
    public: bool = False
