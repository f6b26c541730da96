"""What a source says about its own files (`ImportSource.options`), checked once when it is saved.

* `system` — the system the source's files come from (a slug). Cases are identified by
  (system, external id): two exports of one system (the call centre's daily export and its
  legacy history file) are two sources of the same cases, so the second updates the first's
  cases instead of duplicating them. Default: the source's own code.
* `date_order` — how the source writes dates with the year last: "ymd" (default: year first
  only, `12/01/2025` is unreadable), "mdy" (`12/01/2025` = 1 December 2025) or "dmy"
  (= 12 January 2025). Year-first dates read the same in every order.
* `required` — Kesu fields that must have a value in every row, besides the ones every case
  needs (external id, receipt time, description); e.g. `["customer_name"]` for a regulator's
  transfers, `["category"]` for the call centre. A file without the column fails as a whole.
* `invalid_id_number` — an ID number (居民身份证号) that fails the check: "reject" the row
  (default) or "warn": import the row without the number, with a note.
* `closed_without_time` — a closed status without a closing time: "reject" (default) or
  "received_at": history closed at its receipt time, with a note saying so.
* `unknown_codes` — a value of a coded column (closing reason, category, department, branch,
  level, flags) that neither the value map nor the code table knows: "reject" the row
  (default) or "warn": import it with the field left empty and a note. Never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kesu.errors import Invalid

CHOICES = {
    "date_order": ("ymd", "mdy", "dmy"),
    "invalid_id_number": ("reject", "warn"),
    "closed_without_time": ("reject", "received_at"),
    "unknown_codes": ("reject", "warn"),
}
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")


@dataclass(frozen=True)
class SourceOptions:
    system: str = ""
    date_order: str = "ymd"
    required: tuple[str, ...] = ()
    invalid_id_number: str = "reject"
    closed_without_time: str = "reject"
    unknown_codes: str = "reject"

    @classmethod
    def of(cls, source: Any) -> SourceOptions:
        """The options of an `ImportSource` (as saved, already checked)."""
        doc = dict(getattr(source, "options", None) or {})
        doc["required"] = tuple(doc.get("required") or ())
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})


def identity(source: Any) -> str:
    """The `external_source` of the source's cases: its system, else its own code."""
    return (getattr(source, "options", None) or {}).get("system") or source.code


def check_options(options: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The options as saved, or `Invalid` with a Chinese reason per bad key."""
    if not isinstance(options, dict):
        raise Invalid("导入选项须为对象", details={"options": "须为对象"})
    errors: dict[str, str] = {}
    for key, value in options.items():
        if key == "system":
            if not isinstance(value, str) or not _SLUG.match(value):
                errors[key] = "系统编码须为 1–40 位字母、数字、- 或 _"
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[key] = "须为字段名列表"
            else:
                unknown = [v for v in value if v not in fields]
                if unknown:
                    errors[key] = "未知字段：" + "、".join(unknown)
        elif key in CHOICES:
            if value not in CHOICES[key]:
                errors[key] = "须为 " + " / ".join(CHOICES[key]) + " 之一"
        else:
            errors[key] = "未知选项"
    if errors:
        raise Invalid("导入选项有误：" + "；".join(f"{k}：{v}" for k, v in errors.items()), details=errors)
    return dict(options)
