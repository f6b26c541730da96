"""The import report: every rejected row with its row number, column and reason, in Chinese."""

from __future__ import annotations

import io
from typing import IO

from kesu.cases.spreadsheet import csv_writer, safe_row
from kesu.intake.models import ImportBatch, ImportIssue

REPORT_HEADER = ["行号", "外部编号", "列", "值", "原因", "类型"]


def issue_rows(batch: ImportBatch):
    severity = dict(ImportIssue.Severity.choices)
    qs = ImportIssue.objects.filter(batch=batch).order_by("row", "pk")
    for issue in qs.iterator(chunk_size=2000):
        yield [
            issue.row,
            issue.external_id,
            issue.column,
            issue.value,
            issue.reason,
            str(severity[issue.severity]),
        ]


def summary_rows(batch: ImportBatch) -> list[list[object]]:
    return [
        ["数据来源", str(batch.source)],
        ["文件", batch.file_name],
        ["模式", batch.get_mode_display()],
        ["状态", batch.get_state_display()],
        ["数据行数", batch.total_rows],
        ["新建", batch.created],
        ["更新", batch.updated],
        ["无变化", batch.unchanged],
        ["拒绝", batch.rejected],
        ["忽略（合计行/空行）", batch.ignored],
        ["已提交分块", batch.chunks_committed],
        ["错误", batch.error],
    ]


def write_issue_report(batch: ImportBatch, fmt: str, out: IO[bytes]) -> int:
    """Write the report as `csv` (UTF-8 with BOM, opens in Excel) or `xlsx`; returns the number of issues."""
    count = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv_writer(text)
        writer.writerow(REPORT_HEADER)
        for row in issue_rows(batch):
            writer.writerow(row)
            count += 1
        text.flush()
        text.detach()
        return count
    if fmt != "xlsx":
        raise ValueError(fmt)
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("拒绝明细")
    ws.append(REPORT_HEADER)
    for row in issue_rows(batch):
        ws.append(safe_row(row))
        count += 1
    summary = wb.create_sheet("汇总")
    for row in summary_rows(batch):
        summary.append(safe_row(row))
    wb.save(out)
    return count
