"""What an action handler gets and gives back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kesu.cases.errors import Invalid
from kesu.cases.models import Case
from kesu.policy.rules import Rules


@dataclass
class ActionContext:
    case: Case
    actor: Any  # a User, or None for the system (sweeper, scheduled jobs)
    now: dt.datetime
    rules: Rules
    data: dict[str, Any]

    def require(self, *names: str) -> None:
        missing = {n: "必填" for n in names if self.data.get(n) in (None, "", [])}
        if missing:
            raise Invalid("缺少必填项：" + "、".join(missing), details=missing)

    def text(self, name: str, *, required: bool = True, max_length: int = 5000) -> str:
        value = self.data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(f"{name} 必须是文本", details={name: "必须是文本"})
        value = value.strip()
        if required and not value:
            raise Invalid(f"缺少必填项：{name}", details={name: "必填"})
        if len(value) > max_length:
            raise Invalid(f"{name} 超过 {max_length} 字", details={name: f"最多 {max_length} 字"})
        return value


@dataclass
class Outcome:
    to_status: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # Shown in the complainant portal's progress view (never staff names or internal notes).
    public: bool = False
