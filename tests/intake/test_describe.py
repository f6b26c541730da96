"""What is in a file before it is imported: columns, samples, distinct values and a proposed mapping
(`kesu.intake.describe`, `kesu import FILE --describe`)."""

from __future__ import annotations

import importlib
import io
import json

import openpyxl
import pytest
from django.core.management import call_command

from kesu.cases.models import Case
from kesu.intake import services
from kesu.intake.describe import describe_file
from tests.intake.helpers import crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db

# A branch's monthly Excel: a title row, headers Kesu does not know, codes of its own.
BRANCH_HEADER = ["序号", "单号", "来电日期", "来电号码", "反映问题", "方式", "处理情况"]


def _branch_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["华南分公司 2025 年 3 月客户投诉明细"])
    ws.append(BRANCH_HEADER)
    for i in range(1, 13):
        ws.append([i, f"HN{i:04d}", f"03/{i + 12:02d}/2025", f"1380013{i:04d}",
                   f"第{i}号：理赔款迟迟未到账，多次催问无果。", "电话" if i % 2 else "网站", "已办结" if i % 3 else "处理中"])  # fmt: skip
    ws.append(["合计", "12 件"])
    wb.save(path)
    return path


def test_known_headers_and_the_saved_source_propose_the_mapping(org, tmp_path):
    source = crm_source()
    path = write_csv(tmp_path / "crm.csv", good_rows(5) + [["WO9", "2026-03-02 10:00", "07", "Z9", "王五",
                     "13900000009", "投诉", "挂起", "", ""]])  # fmt: skip
    doc = describe_file(path, source=source)
    assert doc["mapping"]["external_id"] == ["工单号"] and doc["mapping"]["channel"] == ["渠道"]
    by_name = {c["name"]: c for c in doc["columns"]}
    assert by_name["工单号"]["how"] == "source" and by_name["工单号"]["samples"][:2] == [
        "WO000001",
        "WO000002",
    ]
    assert {"value": "01", "count": 5} in by_name["渠道"]["distinct"]
    # The source's value map knows 01, the code table knows nothing of 07, Z9 or 挂起.
    assert doc["value_maps"]["channel"]["01"] == "phone"
    assert doc["unmapped_values"] == {"channel": ["07"], "category": ["Z9"], "status": ["挂起"]}
    assert doc["missing_required"] == []


def test_unknown_headers_are_proposed_from_the_values(org, tmp_path):
    doc = describe_file(_branch_xlsx(tmp_path / "branch.xlsx"))
    fields = {c["name"]: (c["field"], c["how"], c["looks_like"]) for c in doc["columns"]}
    assert fields["单号"][0] is None  # not a built-in name, nothing in the values says "id"
    assert fields["来电日期"] == ("received_at", "values", "date")
    assert fields["来电号码"] == ("customer_phone", "values", "phone")
    assert fields["反映问题"] == ("description", "values", "text")
    assert fields["方式"] == ("channel", "values", "code")  # 电话/网站 are channel names
    assert fields["处理情况"][0] == "status"
    assert doc["options"]["date_order"] == "mdy"  # 03/13/2025: the month comes first
    assert doc["file"]["header_rows"] == [2] and doc["file"]["rows_scanned"] == 12  # title and totals skipped
    assert doc["missing_required"] == ["external_id"]


def test_cli_describe_prints_a_mapping_the_import_accepts(org, tmp_path):
    path = _branch_xlsx(tmp_path / "branch.xlsx")
    out, err = io.StringIO(), io.StringIO()
    call_command("import", str(path), describe=True, stdout=out, stderr=err)
    assert "来电日期 → received_at" in err.getvalue() and "尚未映射的必需字段：external_id" in err.getvalue()
    doc = json.loads(out.getvalue())
    assert not Case.objects.exists()
    # What the user completes before saving it: the id column, and history closed without a time.
    doc["mapping"]["external_id"] = ["单号"]
    doc["options"]["closed_without_time"] = "received_at"
    doc["name"] = "华南分公司月报"
    mapping_file = tmp_path / "branch.json"
    mapping_file.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    call_command("import", str(path), source="branch-hn", mapping=str(mapping_file), stdout=io.StringIO())
    assert Case.objects.filter(external_source="branch-hn").count() == 12
    source = services.get_source("branch-hn")
    assert source.options == {"date_order": "mdy", "closed_without_time": "received_at"} and source.mapping[
        "received_at"
    ] == ["来电日期"]


def test_import_help_points_to_the_documentation():
    command = importlib.import_module("kesu.intake.management.commands.import").Command()
    text = command.create_parser("kesu", "import").format_help()
    assert "docs/import.md" in text and "--describe" in text and "--initial-load" in text
