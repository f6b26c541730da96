"""Rule-based findings (分析结论): short Chinese sentences generated from the report's figures.

Every finding carries `figure` (which figure it cites), `params` (the drill-down filters of
that figure) and `values` (the numbers it states), so a reader — or a test — can trace
each sentence back to the statistics.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

# A category's change is worth a sentence when it moved by at least this much...
CHANGE_PCT = 20.0
# ...from a base of at least this many cases.
MIN_BASE = 3


def pct(value: float | None) -> str:
    return "—" if value is None else f"{abs(value):.1f}%"


def direction(change: float | None) -> str:
    if change is None:
        return "持平"
    return "上升" if change > 0 else ("下降" if change < 0 else "持平")


# The report section a figure is printed in: a finding cites it by name, never by its key.
FIGURE_SECTIONS = {
    "headline": gettext_noop("一、总体情况"),
    "kpi": gettext_noop("一、总体情况"),
    "flags": gettext_noop("一、总体情况"),
    "by_category": gettext_noop("四、热点分布"),
    "by_subcategory": gettext_noop("四、热点分布"),
    "pareto": gettext_noop("四、热点分布"),
    "overdue": gettext_noop("六、超时与重大案件"),
    "measures": gettext_noop("七、整改措施跟踪"),
    "measure": gettext_noop("七、整改措施跟踪"),
}


def figure_section(figure: str) -> str:
    """The (untranslated) section heading of a finding's figure: `by_category:claims` → 四、热点分布."""
    head = figure.split(":", 1)[0].split(".", 1)[0]
    return FIGURE_SECTIONS.get(head, "")


def finding(text: str, figure: str, values: dict[str, Any], params: dict[str, str] | None = None) -> dict:
    return {"text": text, "figure": figure, "values": values, "params": params or {}}


def generate(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings from a report's data (see `kesu.analytics.reports.build_report`)."""
    out: list[dict[str, Any]] = []
    unit = data["period_short"]
    h = data["headline"]

    text = f"本{unit}共接收投诉 {h['count']} 件"
    if h["previous"]:
        text += f"，环比{direction(h['mom_pct'])} {pct(h['mom_pct'])}（上{unit} {h['previous']} 件）"
    else:
        text += f"（上{unit} {h['previous']} 件）"
    if h["year_ago"]:
        text += f"，同比{direction(h['yoy_pct'])} {pct(h['yoy_pct'])}"
    out.append(
        finding(
            text + "。",
            "headline.count",
            {k: h[k] for k in ("count", "previous", "year_ago", "mom_pct", "yoy_pct")},
            h["params"],
        )
    )

    # Categories that moved, with where they concentrate.
    movers = [
        r
        for r in data["by_category"]
        if r["previous"] >= MIN_BASE and r["mom_pct"] is not None and abs(r["mom_pct"]) >= CHANGE_PCT
    ]
    movers.sort(key=lambda r: -abs(r["mom_pct"]))
    for r in movers[:3]:
        text = (
            f"{r['label']}类投诉环比{direction(r['mom_pct'])} {pct(r['mom_pct'])}"
            f"（{r['previous']} 件 → {r['count']} 件）"
        )
        values = {
            "category": r["key"],
            "count": r["count"],
            "previous": r["previous"],
            "mom_pct": r["mom_pct"],
        }
        top_branch = (data["category_branches"].get(r["key"]) or [None])[0]
        if top_branch and r["count"] and top_branch["key"] != "__none__":
            text += f"，主要集中在{top_branch['label']}（{top_branch['count']} 件）"
            values.update(branch=top_branch["key"], branch_count=top_branch["count"])
        out.append(finding(text + "。", f"by_category:{r['key']}", values, r["params"]))

    if data["by_subcategory"]:
        top = data["by_subcategory"][0]
        out.append(
            finding(
                f"{top['label']}是投诉最多的问题，共 {top['count']} 件，占 {pct(top['share_pct'])}。",
                f"by_subcategory:{top['key']}",
                {"key": top["key"], "count": top["count"], "share_pct": top["share_pct"]},
                top["params"],
            )
        )

    vital = [r for r in data["pareto"]["rows"] if r["vital"]]
    if vital and data["pareto"]["total"]:
        share = vital[-1]["cumulative_pct"]
        out.append(
            finding(
                f"前 {len(vital)} 类问题（{'、'.join(r['label'] for r in vital)}）合计占投诉总量的 {pct(share)}，"
                "应作为整改重点。",
                "pareto",
                {"vital": len(vital), "cumulative_pct": share},
            )
        )

    k, kp = data["kpi"], data["kpi_previous"]
    if k.get("closing_rate") is not None:
        text = f"办结率 {pct(k['closing_rate'])}"
        values = {"closing_rate": k["closing_rate"], "previous": kp.get("closing_rate")}
        if kp.get("closing_rate") is not None:
            diff = round(k["closing_rate"] - kp["closing_rate"], 1)
            values["diff"] = diff
            word = "提高" if diff > 0 else ("降低" if diff < 0 else "持平")
            text += f"，较上{unit}{word}" + (f" {abs(diff):.1f} 个百分点" if diff else "")
        out.append(finding(text + "（不含特殊结案）。", "kpi.closing_rate", values, h["params"]))

    if k.get("satisfaction_rate") is not None:
        out.append(
            finding(
                f"回访满意率 {pct(k['satisfaction_rate'])}（回访 {k['counts']['follow_ups']} 次）。",
                "kpi.satisfaction_rate",
                {"satisfaction_rate": k["satisfaction_rate"], "follow_ups": k["counts"]["follow_ups"]},
            )
        )

    flags = data["flags"]
    if flags["repeat"]["count"]:
        out.append(
            finding(
                f"重复投诉 {flags['repeat']['count']} 件，重复投诉率 {pct(k.get('repeat_rate'))}。",
                "flags.repeat",
                {"count": flags["repeat"]["count"], "repeat_rate": k.get("repeat_rate")},
                flags["repeat"]["params"],
            )
        )
    if flags["crisis"]["count"]:
        out.append(
            finding(
                f"危机渠道（监管转办、媒体、互联网）投诉 {flags['crisis']['count']} 件，须重点关注。",
                "flags.crisis",
                {"count": flags["crisis"]["count"]},
                flags["crisis"]["params"],
            )
        )
    if flags["group"]["count"]:
        out.append(
            finding(
                f"群体投诉 {flags['group']['count']} 件。",
                "flags.group",
                {"count": flags["group"]["count"]},
                flags["group"]["params"],
            )
        )
    if data["overdue_total"]:
        out.append(
            finding(
                f"截至报告生成时，共有 {data['overdue_total']} 件投诉超时未办结。",
                "overdue",
                {"count": data["overdue_total"]},
                flags["overdue"]["params"],
            )
        )
    overdue_measures = [m for m in data["measures"] if m["overdue"]]
    if overdue_measures:
        out.append(
            finding(
                f"有 {len(overdue_measures)} 项整改措施已超过完成期限。",
                "measures.overdue",
                {"count": len(overdue_measures)},
            )
        )
    for m in data["measures_evaluated"]:
        out.append(finding(f"整改措施“{m['title']}”：{m['verdict']}。", f"measure:{m['id']}", m["values"]))
    return out
