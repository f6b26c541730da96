"""KPIs for performance reviews, with their written definitions (shown in the UI and the reports).

All KPIs are computed over a *cohort*: the cases received in the filtered period (and
matching the filters), per department, branch or handler. Counts are conditional
aggregates in one SQL query per table; only the working time to close needs each closed
case's two timestamps, because working days come from the calendar.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from kesu.analytics import weekly
from kesu.analytics.models import CaseCloseTime
from kesu.analytics.selectors import (
    DIMENSIONS,
    FLAG_COUNTS,
    NONE,
    NONE_LABEL,
    StatFilters,
    _labels,
    bucket_expression,
    case_queryset,
    flag_lists,
    flag_q,
    undated_key,
)
from kesu.analytics.worktime import percentile, working_hours
from kesu.cases.models import FINISHED_STATUSES, OPEN_STATUSES, Accountability, Case, CaseEvent, FollowUp
from kesu.policy.selectors import active_policy
from kesu.sla.models import StageDeadline
from kesu.sla.stages import LIMIT_STAGES


@dataclass(frozen=True)
class KPI:
    code: str
    name: str
    definition: str
    unit: str = "%"
    higher_is_better: bool = True
    flag: str = ""  # the drill-down flag of the numerator, when there is one


KPIS: list[KPI] = [
    KPI(
        "volume",
        gettext_noop("投诉量"),
        gettext_noop("统计期内接收（按接收时间）且符合筛选条件的案件数，含特殊结案。"),
        gettext_noop("件"),
        False,
    ),
    KPI(
        "registration_timeliness",
        gettext_noop("登记及时率"),
        gettext_noop("按时登记的案件数 ÷ 有登记时限的案件数。时限来自规则（默认接收后 24 小时内录入系统）。"),
    ),
    KPI(
        "first_contact_timeliness",
        gettext_noop("首次联系及时率"),
        gettext_noop("在首次联系时限内联系客户的案件数 ÷ 有首次联系时限的案件数（时限表中“首次联系”环节）。"),
    ),
    KPI(
        "resolution_timeliness",
        gettext_noop("处理及时率"),
        gettext_noop("在答复时限内答复的案件数 ÷ 有答复时限的案件数（时限表中“答复”环节；按环节另列）。"),
    ),
    KPI(
        "closing_rate",
        gettext_noop("办结率"),
        gettext_noop(
            "已办结（结案、无效、当场答复、归档）的案件数 ÷ 案件数；特殊结案的案件不计入分子和分母。"
        ),
        flag="finished",
    ),
    KPI(
        "first_contact_resolution",
        gettext_noop("一次解决率"),
        gettext_noop(
            "办结后未被重新处理、也没有后续同一事项重复投诉的案件数 ÷ 已办结案件数（均不含特殊结案）。"
        ),
    ),
    KPI(
        "repeat_rate",
        gettext_noop("重复投诉率"),
        gettext_noop("同一客户同一事项第二次及以上投诉的案件数 ÷ 案件数。"),
        higher_is_better=False,
        flag="repeat",
    ),
    KPI(
        "reopen_rate",
        gettext_noop("重新处理率"),
        gettext_noop("结案后被重新处理（回访不满意或重新处理）至少一次的案件数 ÷ 曾经结案的案件数。"),
        higher_is_better=False,
        flag="reopened",
    ),
    KPI(
        "satisfaction_rate",
        gettext_noop("满意率"),
        gettext_noop("回访结果为满意的回访次数 ÷ 回访次数（按案件所属部门归集）。"),
    ),
    KPI(
        "avg_close_hours",
        gettext_noop("平均办结工作时长"),
        gettext_noop(
            "已办结案件从接收到办结的工作时长（只计工作日，节假日和调休按工作日历）的平均值，单位小时。"
        ),
        gettext_noop("小时"),
        False,
    ),
    KPI(
        "p90_close_hours",
        gettext_noop("办结工作时长 P90"),
        gettext_noop("已办结案件工作时长的第 90 百分位（最近秩法），单位小时。"),
        gettext_noop("小时"),
        False,
    ),
    KPI(
        "escalation_rate",
        gettext_noop("升级率"),
        gettext_noop("因超时被升级（有“超时升级”事件）的案件数 ÷ 案件数。"),
        higher_is_better=False,
        flag="escalated",
    ),
    KPI(
        "accountability_count",
        gettext_noop("责任追究次数"),
        gettext_noop("统计期案件上已确认的责任追究记录数。"),
        gettext_noop("次"),
        False,
    ),
    KPI(
        "accountability_amount",
        gettext_noop("责任追究金额"),
        gettext_noop("已确认的责任追究记录中责任人与直接上级罚款金额合计（元）。"),
        gettext_noop("元"),
        False,
    ),
    KPI(
        "overdue_open",
        gettext_noop("超时未办结"),
        gettext_noop("当前未办结且已超过当前时限的案件数。"),
        gettext_noop("件"),
        False,
        flag="overdue",
    ),
]
KPI_BY_CODE = {k.code: k for k in KPIS}

GROUPS = {"department": "department__code", "branch": "branch__code", "handler": "handler_id", None: None}


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator * 100.0 / denominator, 1) if denominator else None


def _record_limit_hours() -> float:

    policy = active_policy()
    if policy is not None:
        for rule in policy.document.get("sla", {}).get("rules", []):
            if rule.get("stage") == "record" and rule.get("unit") == "calendar_hours":
                return float(rule.get("amount", 24))
    return 24.0


def stage_timeliness(
    filters: StatFilters, group: str | None = None, *, user=None, now: dt.datetime | None = None
) -> dict[str, dict]:
    """Per group and stage: deadlines met on time, breached, and the timeliness rate (及时率).

    From the deadline engine's per-stage table: a stage met at or before its deadline is on time;
    one met late, or still open past its deadline, is breached; cancelled stages do not count.
    """

    now = now or timezone.now()
    field = GROUPS[group]
    cases = case_queryset(filters, user=user, now=now)
    met_q = Q(state=StageDeadline.State.MET, met_at__lte=F("due_at"))
    breached_q = Q(state=StageDeadline.State.MET, met_at__gt=F("due_at")) | Q(
        state=StageDeadline.State.OPEN, due_at__lt=now
    )
    if connection.vendor == "postgresql":
        rows = _stage_counts_lateral(cases, field, now)
    else:
        values = ["stage"] + ([f"case__{field}"] if field else [])
        rows = [
            {"group": r.get(f"case__{field}"), **r}
            for r in StageDeadline.objects.filter(case__in=cases.values("pk"))
            .exclude(stage__in=LIMIT_STAGES)
            .values(*values)
            .annotate(met=Count("id", filter=met_q), breached=Count("id", filter=breached_q))
            .order_by()
        ]
    out: dict[str, dict] = defaultdict(dict)
    for r in rows:
        key = _group_key(r["group"]) if field else ""
        out[key][r["stage"]] = {
            "met": r["met"],
            "breached": r["breached"],
            "rate": ratio(r["met"], r["met"] + r["breached"]),
        }
    return out


def _stage_counts_lateral(cases, field: str | None, now: dt.datetime) -> list[dict[str, Any]]:
    """PostgreSQL: the stage counts of the cohort, reading each case's stage rows by its index.

    (A join or `IN (cohort)` lets the planner hash the whole stage table: a sequential scan of every
    case's deadlines, ~200 ms at 1M cases, for one month's cohort; `LATERAL … OFFSET 0` keeps it to
    the cohort's own rows.)
    """

    cohort_sql, cohort_params = (
        cases.values_list("pk", *([field] if field else [])).order_by().query.sql_with_params()
    )
    table = StageDeadline._meta.db_table
    group = "c.grp" if field else "NULL"
    sql = (
        f"SELECT sd.stage, {group}, "
        f"COUNT(*) FILTER (WHERE sd.state = %s AND sd.met_at <= sd.due_at), "
        f"COUNT(*) FILTER (WHERE (sd.state = %s AND sd.met_at > sd.due_at) OR (sd.state = %s AND sd.due_at < %s)) "
        f"FROM ({cohort_sql}) AS c(id{', grp' if field else ''}) "
        f'CROSS JOIN LATERAL (SELECT "stage", "state", "met_at", "due_at" FROM "{table}" '
        f'WHERE "case_id" = c.id OFFSET 0) AS sd '
        f"WHERE NOT (sd.stage = ANY(%s)) "
        f"GROUP BY 1, 2"
    )
    met, open_ = StageDeadline.State.MET, StageDeadline.State.OPEN
    with connection.cursor() as cur:
        cur.execute(sql, [met, met, open_, now, *cohort_params, list(LIMIT_STAGES)])
        return [
            {"stage": stage, "group": grp, "met": n_met, "breached": n_breached}
            for stage, grp, n_met, n_breached in cur.fetchall()
        ]


def _close_time_sql(
    closed, field: str | None
) -> tuple[dict[str, tuple[float | None, float | None]], tuple[float | None, float | None]] | None:
    """PostgreSQL: the groups' and the overall mean and P90 in one query (`percentile_disc(0.9)` is the
    nearest rank: the smallest value whose rank is at least ceil(0.9 n)); None when a closed case has
    no current rollup row (the caller then completes the figures from the calendar)."""
    sql, params = (
        closed.values_list(*([field] if field else []), "rolled_hours").order_by().query.sql_with_params()
    )
    columns = "g, h" if field else "h"
    group = "GROUPING(g), g" if field else "1, NULL"
    grouping = " GROUP BY GROUPING SETS ((g), ())" if field else ""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {group}, COUNT(*), COUNT(h), AVG(h), PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY h) "
            # OFFSET 0: the rollup probe once per case, not once per aggregate using it
            f"FROM ({sql} OFFSET 0) AS t({columns}){grouping}",
            params,
        )
        rows = cur.fetchall()
    by_group: dict[str, tuple[float | None, float | None]] = {}
    overall: tuple[float | None, float | None] = (None, None)
    for is_total, key, n, n_rolled, mean, p90 in rows:
        if n != n_rolled:
            return None
        if not n:
            continue
        figures = (round(mean, 1), round(p90, 1))
        if is_total:
            overall = figures
            if not field:
                by_group[""] = figures
        else:
            by_group[_group_key(key)] = figures
    return by_group, overall


def close_time_stats(cases, field: str | None) -> dict[str, tuple[float | None, float | None]]:
    """Per group: average and P90 (nearest rank) working hours from receipt to closing, rounded to 0.1."""
    return close_time_stats_with_overall(cases, field)[0]


def close_time_stats_with_overall(
    cases, field: str | None
) -> tuple[dict[str, tuple[float | None, float | None]], tuple[float | None, float | None]]:
    """`close_time_stats` per group and over all the cases, from one query.

    Each closed case's working hours come from the close-time rollup (one primary-key probe per closed
    case of the cohort, driven by the cohort's own index range); a closed case without a current
    rollup row (closed before the rollup existed, or by a path that bypassed the transition service) is
    computed from the calendar here, so the figures are exact either way. The mean and the P90 need
    every value of a group (the P90 is no sum of parts), so the values are gathered per group here.
    """
    hours = CaseCloseTime.objects.filter(case=OuterRef("pk"), closed_at=OuterRef("closed_at")).values(
        "working_hours"
    )[:1]
    closed = cases.filter(closed_at__isnull=False)
    if connection.vendor == "postgresql":
        found = _close_time_sql(closed.annotate(rolled_hours=Subquery(hours)), field)
        if found is not None:
            return found
    # (Only the group and the figure: converting each case's two timestamps would cost more than the query.)
    rows = closed.annotate(rolled_hours=Subquery(hours)).values_list(
        *([field] if field else []), "rolled_hours", "pk"
    )
    groups: dict[str, list[float]] = defaultdict(list)
    everything: list[float] = []
    missing: list[int] = []
    for item in rows.order_by().iterator(chunk_size=5000):
        if item[-2] is None:  # normally never
            missing.append(item[-1])
            continue
        groups[_group_key(item[0]) if field else ""].append(item[-2])
        everything.append(item[-2])
    for start in range(0, len(missing), 2000):
        stale = closed.filter(pk__in=missing[start : start + 2000]).values_list(
            *([field] if field else []), "received_at", "closed_at"
        )
        for item in stale.order_by():
            value = working_hours(item[-2], item[-1])
            groups[_group_key(item[0]) if field else ""].append(value)
            everything.append(value)

    def stats(values: list[float]) -> tuple[float | None, float | None]:
        return round(sum(values) / len(values), 1), round(percentile(values, 90), 1)

    overall = stats(everything) if everything else (None, None)
    return {key: stats(values) for key, values in groups.items()}, overall


def _grouped(qs, field: str | None, **aggregates) -> dict[str, dict]:
    """Aggregates of a case-related table by the case's group (or one overall row under "")."""
    if not field:
        return {"": qs.aggregate(**aggregates)}
    rows = qs.values(f"case__{field}").annotate(**aggregates).order_by()
    return {_group_key(r[f"case__{field}"]): r for r in rows}


def _group_key(value) -> str:
    return NONE if value in (None, "") else str(value)


def _first_event_within(limit: dt.timedelta):
    """The case's (OuterRef) first event, when it was recorded at most `limit` after the receipt."""
    first = CaseEvent.objects.filter(case=OuterRef("pk"), seq=1).order_by()
    exact = Q(
        created_at__lte=ExpressionWrapper(OuterRef("received_at") + limit, output_field=DateTimeField())
    )
    if connection.vendor != "sqlite":
        return first.filter(exact)

    # SQLite adds a timedelta to a timestamp in a Python function, once per case (0.4 s for a month of
    # 1M cases). The native julianday() difference (exact to well under a second) decides every case
    # not within ~9 s of the limit; only those few get the exact comparison.
    def julianday(expr):
        return Func(expr, function="julianday", output_field=FloatField())

    gap_days = ExpressionWrapper(
        julianday(F("created_at")) - julianday(OuterRef("received_at")), FloatField()
    )
    return first.annotate(gap_days=gap_days).filter(
        Q(gap_days__lt=limit.total_seconds() / 86400 - 1e-4) | exact
    )


def _kpi_parts(
    filters: StatFilters, group: str | None, *, user, now: dt.datetime, close_times: bool = True
) -> dict[str, dict]:
    """The KPIs' numerators and denominators per group key ("" when not grouped), from one SQL query
    per table: the cases, follow-ups, accountability, close-time rollup and stage deadlines."""
    field = GROUPS[group]
    cases = case_queryset(filters, user=user, now=now)
    record_limit = dt.timedelta(hours=_record_limit_hours())
    # Correlated EXISTS inside each count's FILTER (not annotations: an aggregate over annotated rows
    # is wrapped in a subquery that evaluates every annotation for every case of the cohort).
    later_repeat = Exists(Case.objects.filter(repeat_of=OuterRef("pk")))
    escalated = Exists(CaseEvent.objects.filter(case=OuterRef("pk"), action="escalate").order_by())
    # Registered on time = the case's first event (imports keep their own history, so they are left
    # out) within the record limit of the receipt.
    registered_in_time = Exists(_first_event_within(record_limit))
    not_special = Q(is_special_closure=False)
    finished = Q(status__in=FINISHED_STATUSES)
    agg = dict(
        volume=Count("id"),
        record_total=Count("id", filter=Q(is_imported=False)),
        record_met=Count("id", filter=Q(is_imported=False) & registered_in_time),
        closing_base=Count("id", filter=not_special),
        closing_done=Count("id", filter=not_special & finished),
        fcr_done=Count("id", filter=not_special & finished & Q(reopen_count=0) & ~later_repeat),
        repeats=Count("id", filter=Q(repeat_count__gte=2)),
        ever_closed=Count("id", filter=Q(closed_at__isnull=False) | Q(reopen_count__gt=0)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
        escalated=Count("id", filter=escalated),
        overdue_open=Count("id", filter=Q(status__in=OPEN_STATUSES, due_at__lt=now)),
    )
    if field:
        base = {_group_key(r[field]): r for r in cases.values(field).annotate(**agg).order_by()}
    else:
        base = {"": cases.aggregate(**agg)}

    # Follow-ups and accountability: their own tables, grouped by the case's group.
    follow_by = _grouped(
        FollowUp.objects.filter(case__in=cases.values("pk")),
        field,
        n=Count("id"),
        satisfied=Count("id", filter=Q(satisfied=True)),
    )
    acc_by = _grouped(
        Accountability.objects.filter(case__in=cases.values("pk"), state=Accountability.State.CONFIRMED),
        field,
        n=Count("id"),
        person=Sum("person_amount"),
        supervisor=Sum("supervisor_amount"),
    )
    return {
        "base": base,
        "follow": follow_by,
        "acc": acc_by,
        # Working time to close (average and P90), from the close-time rollup (`kesu.analytics.rollups`).
        "close": close_time_stats(cases, field) if close_times else {},
        "stages": stage_timeliness(filters, group, user=user, now=now),
    }


_COUNTS = (
    "volume",
    "record_total",
    "record_met",
    "closing_base",
    "closing_done",
    "fcr_done",
    "repeats",
    "ever_closed",
    "reopened",
    "escalated",
    "overdue_open",
)


def _total_parts(parts: dict[str, dict]) -> dict[str, dict]:
    """The overall parts as the sums of the groups' (every case is in exactly one group); all but the
    close times, whose P90 is not a sum."""
    base = {name: sum(r[name] for r in parts["base"].values()) for name in _COUNTS}
    follow = {"n": 0, "satisfied": 0}
    for r in parts["follow"].values():
        follow["n"] += r["n"]
        follow["satisfied"] += r["satisfied"]
    acc: dict[str, Any] = {"n": 0, "person": None, "supervisor": None}
    for r in parts["acc"].values():
        acc["n"] += r["n"]
        for name in ("person", "supervisor"):
            if r[name] is not None:
                acc[name] = (acc[name] or 0) + r[name]
    stages: dict[str, dict] = {}
    for per_stage in parts["stages"].values():
        for stage, v in per_stage.items():
            s = stages.setdefault(stage, {"met": 0, "breached": 0})
            s["met"] += v["met"]
            s["breached"] += v["breached"]
    for s in stages.values():
        s["rate"] = ratio(s["met"], s["met"] + s["breached"])
    return {
        "base": {"": base},
        "follow": {"": follow},
        "acc": {"": acc},
        "stages": {"": stages} if stages else {},
    }


def _kpi_rows(filters: StatFilters, group: str | None, parts: dict[str, dict]) -> list[dict[str, Any]]:
    base, follow_by, acc_by = parts["base"], parts["follow"], parts["acc"]
    close_times, stages = parts["close"], parts["stages"]
    labels = _labels(DIMENSIONS[group], set(base)) if group else {}
    out = []
    for key, r in base.items():
        fu = follow_by.get(key, {"n": 0, "satisfied": 0})
        ac = acc_by.get(key, {"n": 0, "person": Decimal(0), "supervisor": Decimal(0)})
        avg_hours, p90_hours = close_times.get(key, (None, None))
        st = stages.get(key, {})
        contact = st.get("first_contact")
        answer = st.get("answer")
        row = {
            "key": key,
            "label": NONE_LABEL if key == NONE else (labels.get(key, key) if group else "全部"),
            "volume": r["volume"],
            # From the register event itself (the receipt-to-registration gap is known at registration).
            "registration_timeliness": ratio(r["record_met"], r["record_total"]),
            "first_contact_timeliness": contact["rate"] if contact else None,
            "resolution_timeliness": answer["rate"] if answer else None,
            "closing_rate": ratio(r["closing_done"], r["closing_base"]),
            "first_contact_resolution": ratio(r["fcr_done"], r["closing_done"]),
            "repeat_rate": ratio(r["repeats"], r["volume"]),
            "reopen_rate": ratio(r["reopened"], r["ever_closed"]),
            "satisfaction_rate": ratio(fu["satisfied"], fu["n"]),
            "avg_close_hours": avg_hours,
            "p90_close_hours": p90_hours,
            "escalation_rate": ratio(r["escalated"], r["volume"]),
            "accountability_count": ac["n"],
            "accountability_amount": float((ac["person"] or 0) + (ac["supervisor"] or 0)),
            "overdue_open": r["overdue_open"],
            "stages": st,
            "counts": {
                "closing_base": r["closing_base"],
                "closing_done": r["closing_done"],
                "fcr_done": r["fcr_done"],
                "repeats": r["repeats"],
                "ever_closed": r["ever_closed"],
                "reopened": r["reopened"],
                "escalated": r["escalated"],
                "follow_ups": fu["n"],
                "satisfied": fu["satisfied"],
            },
        }
        if group:
            row["params"] = {**filters.to_params(), DIMENSIONS[group].param: key}
        else:
            row["params"] = filters.to_params()
        out.append(row)
    out.sort(key=lambda r: (-r["volume"], r["label"]))
    return out


def compute_kpis(
    filters: StatFilters,
    group: str | None = None,
    *,
    user=None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """One row of KPI values per group (department / branch / handler), or one overall row."""
    now = now or timezone.now()
    return _kpi_rows(filters, group, _kpi_parts(filters, group, user=user, now=now))


def compute_kpis_with_overall(
    filters: StatFilters,
    group: str,
    *,
    user=None,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`overall(filters)` and `compute_kpis(filters, group)` together, with the same values, but the
    overall counts summed from the groups' instead of queried again (only the overall working time to
    close, whose P90 is no sum, has its own queries)."""
    now = now or timezone.now()
    parts = _kpi_parts(filters, group, user=user, now=now, close_times=False)
    by_group, overall_close = close_time_stats_with_overall(
        case_queryset(filters, user=user, now=now), GROUPS[group]
    )
    parts["close"] = by_group
    rows = _kpi_rows(filters, group, parts)
    totals = _total_parts(parts)
    totals["close"] = {"": overall_close}
    return _kpi_rows(filters, None, totals)[0], rows


def overall(filters: StatFilters, *, user=None, now: dt.datetime | None = None) -> dict[str, Any]:
    rows = compute_kpis(filters, None, user=user, now=now)
    return rows[0] if rows else {}


# The analytics page's cards show these three KPIs of its cohort; computing the other twelve (first
# events, repeat chains, escalations, stage deadlines, the P90) cost ~9/10 of the page at 100k cases.
HEADLINE = ("closing_rate", "satisfaction_rate", "avg_close_hours")


# Far above any real sum of working hours (a million cases of ten thousand hours each: 1e10).
_MISSING = 1e15


def headline(filters: StatFilters, *, user=None, now: dt.datetime | None = None) -> dict[str, Any]:
    """`overall(filters)`'s values of `HEADLINE` (see `headline_with_flags`)."""
    return headline_with_flags(filters, user=user, now=now)[0]


def headline_with_flags(
    filters: StatFilters, *, user=None, now: dt.datetime | None = None
) -> tuple[dict[str, Any], dict[str, dict]]:
    """`overall(filters)`'s values of `HEADLINE` and `selectors.special_lists(filters)`, from one pass over
    the period's cases (the flags, the closing counts, and the sum of the close times read from the
    close-time rollup) and one over its follow-ups. When a closed case has no current rollup row the
    working times come from `close_time_stats` (the calendar), as in `overall`.

    Every count is a sum over the cases, so the passes are made per week of receipt and each week's
    counts cached until a case of that week changes (`weekly.summed`: inside the analytics page's
    scope) or, for the overdue count, which the clock moves without an event, until the earliest
    deadline still to come of an open case of that week passes (counted in the same pass)."""
    now = now or timezone.now()
    if "overdue" in filters.flag:  # the cases counted move with the clock: counted now, nothing kept
        counts = _add_headline_counts(list(_headline_counts(filters, user, now).values()))
    else:
        counts = weekly.summed(
            ("headline", undated_key(filters)),
            filters.date_from,
            filters.date_to,
            lambda first, last: _headline_counts(replace(filters, date_from=first, date_to=last), user, now),
            _add_headline_counts,
            still_valid=lambda part: part["next_due"] is None or now < part["next_due"],
        )
    if not counts["closed"]:
        average = None
    elif counts["hours"] >= _MISSING:  # a closing the rollup does not hold: from the calendar
        average = close_time_stats(case_queryset(filters, user=user, now=now), None).get("", (None, None))[0]
    else:
        average = round(counts["hours"] / counts["closed"], 1)
    kpi = {
        "closing_rate": ratio(counts["closing_done"], counts["closing_base"]),
        "satisfaction_rate": ratio(counts["satisfied"], counts["followups"]),
        "avg_close_hours": average,
    }
    return kpi, flag_lists(filters, counts)


def _headline_counts(filters: StatFilters, user, now: dt.datetime) -> dict[int | None, dict[str, Any]]:
    """The sums behind `headline_with_flags` over the filtered cases, per week of receipt (plain dicts:
    cached per week by `weekly.summed`); one part (None) for an open range of days."""
    cases = case_queryset(filters, user=user, now=now)
    not_special = Q(is_special_closure=False)
    hours = Subquery(
        CaseCloseTime.objects.filter(case=OuterRef("pk"), closed_at=OuterRef("closed_at")).values(
            "working_hours"
        )[:1],
        output_field=FloatField(),
    )
    aggregates = {
        # The overdue count in the same pass (the week's cases are read anyway): an extra condition per
        # row, where a count of its own walked the due_at index over every week (85 ms of PostgreSQL's
        # CPU at 100k cases, as a hash join under a parallel scan) after every event.
        **{n: Count("id", filter=flag_q(n, now=now)) for n in FLAG_COUNTS if n != "escalated"},
        # Until when the overdue count holds without an event: the earliest deadline not yet passed of
        # an open case (`headline_with_flags` counts the week again after it).
        "next_due": Min("due_at", filter=Q(status__in=OPEN_STATUSES, due_at__gte=now)),
        "closing_base": Count("id", filter=not_special),
        "closing_done": Count("id", filter=not_special & Q(status__in=FINISHED_STATUSES)),
        "closed": Count("id", filter=Q(closed_at__isnull=False)),
        # One probe of the rollup per case: a closed case without a current row adds _MISSING, so a
        # sum past it says "incomplete" without a second aggregate over the same subquery.
        "hours": Sum(
            Coalesce(hours, Value(_MISSING), output_field=FloatField()), filter=Q(closed_at__isnull=False)
        ),
    }
    # One part for an open range (None) or for days of one week (the week an event changed).
    single = weekly.one_week(filters.date_from, filters.date_to)
    split = filters.date_from is not None and filters.date_to is not None and single is None

    def grouped(qs, field: str = "received_at", **values):
        """(week or None, row) of an aggregate over `qs`, per week of receipt when the range is split."""
        if not split:
            yield single, qs.aggregate(**values)
            return
        for row in (
            qs.annotate(week=bucket_expression("week", field)).values("week").annotate(**values).order_by()
        ):
            yield weekly.week_of(row.pop("week")), row

    parts: dict[int | None, dict[str, Any]] = {}
    for week, row in grouped(cases, **aggregates):
        row["hours"] = row["hours"] or 0.0
        parts[week] = {**row, "escalated": 0, "followups": 0, "satisfied": 0}
    # Escalated: a semi-join from the (few) escalation events rather than an EXISTS probe per case
    # inside the aggregate (see `selectors.flag_counts`).
    escalated = cases.filter(pk__in=CaseEvent.objects.filter(action="escalate").values("case_id"))
    for week, row in grouped(escalated, n=Count("id")):
        if week in parts:
            parts[week]["escalated"] = row["n"]
    follow = FollowUp.objects.filter(case__in=cases.values("pk"))
    for week, row in grouped(
        follow, "case__received_at", n=Count("id"), satisfied=Count("id", filter=Q(satisfied=True))
    ):
        if week in parts:
            parts[week]["followups"], parts[week]["satisfied"] = row["n"], row["satisfied"]
    return parts


_HEADLINE_SUMS = (
    *FLAG_COUNTS,
    "closing_base",
    "closing_done",
    "closed",
    "hours",
    "followups",
    "satisfied",
)


def _add_headline_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The weeks' counts added up."""
    total: dict[str, Any] = dict.fromkeys(_HEADLINE_SUMS, 0)
    for part in parts:
        for name in _HEADLINE_SUMS:
            total[name] += part[name] or 0
    return total
