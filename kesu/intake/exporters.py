"""Exports: filtered case lists and full case files, as XLSX (write-only, streaming) or CSV (UTF-8 BOM).

The rows come from `kesu.cases.selectors.list_cases` / `get_case`, so the reader's permissions
apply; customers' personal information is masked unless `kesu.trust.pii.can_see_pii(user)`.
Every export is recorded in `ExportLog` (who, when, filters, how many rows, masked or not).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Iterator
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from kesu.cases.models import Case, Kind, Level, Status
from kesu.cases.selectors import CaseFilters, get_case, list_cases, timeline
from kesu.cases.spreadsheet import csv_writer, safe_row
from kesu.intake.models import ExportLog
from kesu.org.i18n import display_name
from kesu.trust import audit
from kesu.trust.pii import can_see_pii, mask_email, mask_phone, masked_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS_LABELS = dict(Status.choices)
LEVEL_LABELS = dict(Level.choices)
KIND_LABELS = dict(Kind.choices)

LIST_HEADER = [
    "案件编号",
    "接收时间",
    "渠道",
    "类型",
    "分类",
    "等级",
    "状态",
    "责任部门",
    "经办人",
    "客户姓名",
    "联系电话",
    "证件号码",
    "电子邮件",
    "标题",
    "投诉内容",
    "客户诉求",
    "诉求金额",
    "当前时限",
    "结案时间",
    "结案依据",
    "来源系统",
    "外部编号",
    "历史导入",
]


def local(value: dt.datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


def _case_row(case: Case, reveal: bool) -> list[Any]:
    cust = masked_customer(case.customer, reveal=reveal)
    return [
        case.number,
        local(case.received_at),
        display_name(case.channel) if case.channel_id else "",
        str(KIND_LABELS.get(case.kind, case.kind)),
        display_name(case.category) if case.category_id else "",
        str(LEVEL_LABELS.get(case.level, case.level)),
        str(STATUS_LABELS.get(case.status, case.status)),
        display_name(case.department) if case.department_id else "",
        (case.handler.get_full_name() or case.handler.username) if case.handler_id else "",
        cust["name"],
        cust["phone"],
        cust["id_number"],
        cust["email"],
        case.subject,
        case.description,
        case.demands,
        float(case.claimed_amount) if case.claimed_amount is not None else "",
        local(case.due_at),
        local(case.closed_at),
        case.closing_criterion,
        case.external_source,
        case.external_id or "",
        "是" if case.is_imported else "否",
    ]


def _filters_json(filters: CaseFilters | None) -> dict[str, Any]:
    if filters is None:
        return {}
    return {
        k: (v.isoformat() if isinstance(v, dt.datetime) else v)
        for k, v in dataclasses.asdict(filters).items()
        if v not in (None, False, [], "")
    }


def iter_case_rows(user, filters: CaseFilters | None = None) -> Iterator[list[Any]]:
    reveal = can_see_pii(user)
    qs = list_cases(user, filters).select_related("customer")
    for case in qs.iterator(chunk_size=2000):
        yield _case_row(case, reveal)


def _write_table(
    fmt: str, out: IO[bytes], sheets: list[tuple[str, list[str], Iterator[list[Any]]]]
) -> list[int]:
    """Write one or more tables; CSV puts them one after another with a title line. Returns row counts."""
    counts = []
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv_writer(text)
        for i, (title, header, rows) in enumerate(sheets):
            if len(sheets) > 1:
                if i:
                    writer.writerow([])
                writer.writerow([f"【{title}】"])
            writer.writerow(header)
            n = 0
            for row in rows:
                writer.writerow(row)
                n += 1
            counts.append(n)
        text.flush()
        text.detach()
        return counts
    if fmt != "xlsx":
        raise ValueError(fmt)
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title[:31])
        ws.append(header)
        n = 0
        for row in rows:
            ws.append(safe_row(row))
            n += 1
        counts.append(n)
    wb.save(out)
    return counts


def export_cases(user, filters: CaseFilters | None, fmt: str, out: IO[bytes]) -> ExportLog:
    """Write the cases `user` may see (filtered) to `out`; records the export."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(fmt)
    reveal = can_see_pii(user)
    (count,) = _write_table(fmt, out, [("案件清单", LIST_HEADER, iter_case_rows(user, filters))])
    return _audited(
        ExportLog.objects.create(
            user=user if getattr(user, "is_authenticated", False) else None,
            kind=ExportLog.Kind.LIST,
            file_format=fmt,
            filters=_filters_json(filters),
            row_count=count,
            pii_masked=not reveal,
        )
    )


def export_case_list(
    user, cases: QuerySet[Case], fmt: str, out: IO[bytes], *, filters: dict[str, Any] | None = None
) -> ExportLog:
    """Write an already filtered and sorted list of cases (a work queue of the web UI) to `out`.

    The rows are still limited to what `list_cases(user)` shows: a caller's queryset can narrow the
    export, never widen it. `filters` (the queue and its query string) goes into the export log."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(fmt)
    reveal = can_see_pii(user)
    visible = list_cases(user).values("pk")
    qs = cases.filter(pk__in=visible).select_related(
        "customer", "channel", "category", "department", "handler"
    )
    rows = (_case_row(case, reveal) for case in qs.iterator(chunk_size=2000))
    (count,) = _write_table(fmt, out, [("案件清单", LIST_HEADER, rows)])
    return _audited(
        ExportLog.objects.create(
            user=user if getattr(user, "is_authenticated", False) else None,
            kind=ExportLog.Kind.LIST,
            file_format=fmt,
            filters=filters or {},
            row_count=count,
            pii_masked=not reveal,
        )
    )


def export_case_file(user, number: str, fmt: str, out: IO[bytes]) -> ExportLog:
    """One case's full file: facts, timeline and attachment list (permission-checked, PII masked)."""
    case = get_case(user, number=number)
    reveal = can_see_pii(user)
    facts = list(zip(LIST_HEADER, _case_row(case, reveal), strict=True))
    facts += [
        ("受理登记时间", local(case.registered_at)),
        ("投诉人数", case.people_count),
        ("涉及保单/合同/订单号", case.subject_no),
        ("产品", case.product),
        ("地区", case.region),
        ("定级依据", "；".join(r.get("detail", "") for r in case.level_reasons or [])),
        ("同事项投诉次数", case.repeat_count),
        ("规则版本", str(case.policy)),
        ("版本号", case.version),
    ]
    events = (
        [
            e.seq,
            local(e.created_at),
            e.action,
            str(STATUS_LABELS.get(e.from_status, e.from_status)) if e.from_status else "",
            str(STATUS_LABELS.get(e.to_status, e.to_status)),
            (e.actor.get_full_name() or e.actor.username) if e.actor_id else "系统",
            _payload_text(e.payload, reveal),
        ]
        for e in timeline(case)
    )
    attachments = (
        [a.original_name, a.content_type, a.size, a.sha256, local(a.created_at)]
        for a in case.attachments.order_by("created_at", "pk")
    )
    _write_table(
        fmt,
        out,
        [
            ("案件信息", ["项目", "内容"], (list(f) for f in facts)),
            ("处理时间线", ["序号", "时间", "操作", "原状态", "新状态", "操作人", "内容"], events),
            ("附件清单", ["文件名", "类型", "大小（字节）", "SHA-256", "上传时间"], attachments),
        ],
    )
    return _audited(
        ExportLog.objects.create(
            user=user if getattr(user, "is_authenticated", False) else None,
            kind=ExportLog.Kind.CASE_FILE,
            file_format=fmt,
            case_number=case.number,
            row_count=1,
            pii_masked=not reveal,
        )
    )


def _audited(log: ExportLog) -> ExportLog:
    """Chain the export into the append-only audit log (issue 8)."""

    audit.record(
        f"export.{log.kind}",
        log.user,
        ("cases.case", log.case_number) if log.case_number else ("export", log.pk),
        {
            "format": log.file_format,
            "rows": log.row_count,
            "pii_masked": log.pii_masked,
            "filters": log.filters,
        },
    )
    return log


_PII_KEYS = {"phone", "email", "from", "id_number", "address"}


def _payload_text(payload: dict | None, reveal: bool) -> str:
    if not payload:
        return ""

    parts = []
    for key, value in payload.items():
        if not reveal and key in _PII_KEYS and isinstance(value, str):
            value = mask_email(value) if "@" in value else mask_phone(value)
        parts.append(f"{key}={value}")
    return "；".join(parts)[:30000]
