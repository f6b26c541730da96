"""`{{ case.category|local_name }}`: a department's, category's or channel's name in the active language
(kesu.org.i18n.display_name), for every template of every layer."""

from __future__ import annotations

from typing import Any

from django import template

from kesu.org.i18n import display_name, row_name

register = template.Library()


@register.filter
def local_name(obj: Any) -> str:
    """The English name in the English UI where one is given, else the Chinese name; "" for None."""
    return display_name(obj)


@register.filter
def local_row_name(row: dict, field: str) -> str:
    """The same for a `.values()` row: `{{ r|local_row_name:"department" }}` reads `department__name`
    and `department__name_en`."""
    if not isinstance(row, dict):
        return ""
    return row_name(row, field)
