"""Template filters for the analysis pages and reports."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

from kesu.analytics.findings import figure_section
from kesu.analytics.kpis import KPI_BY_CODE

register = template.Library()


@register.filter
def pct(value) -> str:
    return "—" if value is None else f"{value:.1f}%"


@register.filter
def signed_pct(value) -> str:
    if value is None:
        return "—"
    return f"{'+' if value > 0 else ''}{value:.1f}%"


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def kpi_name(code: str) -> str:
    kpi = KPI_BY_CODE.get(code)
    return gettext(kpi.name) if kpi else code


@register.filter
def kpi_value(row, code: str) -> str:
    value = row.get(code) if row else None
    kpi = KPI_BY_CODE.get(code)
    if value is None:
        return "—"
    if kpi and kpi.unit == "%":
        return f"{value:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


@register.filter
def figure_ref(figure: str) -> str:
    """Where a finding's figure is printed ("见 四、热点分布"), translated; empty when unknown."""
    section = figure_section(figure or "")
    return gettext("见%(section)s") % {"section": gettext(section)} if section else ""
