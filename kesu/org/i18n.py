"""The name of a department, category or channel in the reader's language.

Departments (kesu.org), categories and channels (kesu.policy) have a Chinese `name` and an optional
English `name_en` (from the policy presets, or typed by an administrator). Every screen, report,
export and inbox message says them through `display_name` (templates: the `local_name` filter), so
the English UI shows the English name and falls back to the Chinese one where none is given.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import get_language


def wants_english() -> bool:
    """True when the active language (the request's, or an override) is English."""
    return (get_language() or settings.LANGUAGE_CODE).lower().startswith("en")


def localized(name: str | None, name_en: str | None = "") -> str:
    """`name_en` in the English UI when there is one, else the Chinese `name`."""
    if name_en and wants_english():
        return name_en
    return name or ""


def display_name(obj: Any) -> str:
    """The name of a department, category or channel (any object with `name` and `name_en`) in the
    active language; "" for None."""
    if obj is None:
        return ""
    return localized(getattr(obj, "name", ""), getattr(obj, "name_en", ""))


def row_name(row: dict[str, Any], field: str) -> str:
    """The same for a `.values()` row holding `<field>__name` and `<field>__name_en`."""
    return localized(row.get(f"{field}__name"), row.get(f"{field}__name_en"))


def local_names(queryset, key: str = "code") -> dict[Any, str]:
    """{key: name in the active language} of a queryset of departments, categories or channels, in the
    queryset's order (choices of filters and forms, labels of charts)."""
    return {k: localized(name, name_en) for k, name, name_en in queryset.values_list(key, "name", "name_en")}
