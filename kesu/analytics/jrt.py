"""Complaint statistics coded on the three axes of JR/T 0169-2018 (金融消费者投诉统计分类及编码): channel
(业务办理渠道), business type (业务类别) and cause (投诉原因), for the financial presets (bank, insurance,
securities, and any preset with the nfra layer).

A case stores the three axes itself: its channel, its `business_type` and its category (the cause axis is
the policy's `cause.*` subtree where it has one — bank, the nfra layer — and otherwise the whole category
tree, as in the insurance and securities presets; the same rule as the triage's axis proposals,
kesu.insight.services.financial_axes). A case whose value on an axis is missing, or is not a code of that
axis in the active policy, is counted under 未编码 on that axis: never dropped, so the rows add up to the
number of complaints of the period.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kesu.analytics import selectors
from kesu.analytics.periods import Period
from kesu.analytics.selectors import StatFilters
from kesu.cases.spreadsheet import csv_writer, safe_row
from kesu.errors import Conflict
from kesu.org.i18n import localized
from kesu.policy.rules import Rules
from kesu.policy.selectors import NoActivePolicy, active_rules

UNCODED = gettext_noop("未编码")
AXES = ("channel", "business_type", "cause")
AXIS_NAMES = {
    "channel": gettext_noop("业务办理渠道"),
    "business_type": gettext_noop("业务类别"),
    "cause": gettext_noop("投诉原因"),
}


@dataclass
class AxisTable:
    period: Period
    standard: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    uncoded: int = 0  # cases with at least one axis 未编码


def axis_codes(rules: Rules) -> dict[str, dict[str, str]]:
    """code → name on each axis, from the active policy, in the reader's language where the policy
    gives an English name."""
    doc = rules.doc
    categories = {c["code"]: localized(c["name"], c.get("name_en")) for c in doc.get("categories", [])}
    causes = {code: name for code, name in categories.items() if code.startswith("cause.")}
    return {
        "channel": {c["code"]: localized(c["name"], c.get("name_en")) for c in doc.get("channels", [])},
        "business_type": rules.business_types,
        "cause": causes or categories,
    }


def financial_rules() -> Rules:
    """The active policy when it classifies on the three axes; Conflict otherwise."""
    try:
        rules = active_rules()
    except NoActivePolicy:
        rules = None
    if rules is None or "business_type" not in rules.classification_axes:
        raise Conflict(_("当前规则不按 JR/T 0169-2018 的三个维度分类（仅银行、保险、证券等金融预设）"))
    return rules


def axis_counts(period: Period, *, user=None, kind: str = "complaint") -> AxisTable:
    """Complaints received in `period` counted per (channel, business type, cause) code combination,
    the cases `user` may see. One GROUP BY over the case table."""
    rules = financial_rules()
    codes = axis_codes(rules)
    qs = selectors.case_queryset(StatFilters(kind=[kind]).with_period(period), user=user)
    grouped = qs.values("channel__code", "business_type", "category__code").annotate(n=Count("id"))
    counts: dict[tuple[str, str, str], int] = {}
    for raw in grouped:
        values = {
            "channel": raw["channel__code"],
            "business_type": raw["business_type"],
            "cause": raw["category__code"],
        }
        key = tuple(values[a] if values[a] in codes[a] else "" for a in AXES)
        counts[key] = counts.get(key, 0) + raw["n"]
    table = AxisTable(
        period=period, standard=str(rules.section("classification").get("standard", "JR/T 0169-2018"))
    )
    # Coded combinations first, by code; then those with an axis 未编码.
    for key in sorted(counts, key=lambda k: ("" in k, k)):
        row: dict[str, Any] = {"count": counts[key]}
        for axis, code in zip(AXES, key, strict=True):
            row[axis] = code
            row[f"{axis}_name"] = codes[axis][code] if code else _(UNCODED)
        table.rows.append(row)
        table.total += counts[key]
        if "" in key:
            table.uncoded += counts[key]
    return table


def header() -> list[str]:
    out = []
    for axis in AXES:
        out += [_(AXIS_NAMES[axis]) + _("代码"), _(AXIS_NAMES[axis])]
    return out + [_("投诉件数")]


def table_rows(table: AxisTable) -> list[list[Any]]:
    """The export's lines: one per combination, then the 未编码 subtotal and the total."""
    lines = [
        [v for axis in AXES for v in (row[axis] or _(UNCODED), row[f"{axis}_name"])] + [row["count"]]
        for row in table.rows
    ]
    lines.append([_(UNCODED), _("其中至少一个维度未编码"), "", "", "", "", table.uncoded])
    lines.append([_("合计"), "", "", "", "", "", table.total])
    return lines


def render(table: AxisTable, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the export as CSV (UTF-8 with BOM, opens in Excel) or XLSX."""
    name = f"jrt0169-{table.period.start.isoformat()}-{table.period.last_day.isoformat()}"
    title = _("%(period)s 投诉统计（%(standard)s：渠道 × 业务类别 × 投诉原因）") % {
        "period": table.period.label,
        "standard": table.standard,
    }
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "JR-T 0169"
        ws.append(safe_row([title]))
        ws.append(safe_row(header()))
        for line in table_rows(table):
            ws.append(safe_row(line))
        buf = io.BytesIO()
        wb.save(buf)
        return (
            buf.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{name}.xlsx",
        )
    text = io.StringIO()
    text.write("\ufeff")
    writer = csv_writer(text)
    writer.writerow(header())
    writer.writerows(table_rows(table))
    return text.getvalue().encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"
