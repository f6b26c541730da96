"""What a source says about its own files: dates, phones, ID numbers, codes, required columns,
footer rows — each shown with a file in the format the source really sends."""

from __future__ import annotations

import datetime as dt
import importlib
import io
from decimal import Decimal

import openpyxl
import pytest
from stdnum.cn import ric

from kesu.cases import chain
from kesu.cases.models import Case
from kesu.errors import Invalid
from kesu.intake import services
from kesu.intake.models import ImportIssue
from kesu.intake.parsers import SHANGHAI, parse_datetime
from tests.intake.helpers import write_csv

pytestmark = pytest.mark.django_db

CC_HEADER = ["工单号", "受理时间", "渠道", "投诉类别", "客户姓名", "联系电话", "投诉内容", "客户诉求", "涉及金额",
             "状态", "结案时间", "结案方式", "满意度"]  # fmt: skip


def _errors(batch):
    return [
        (i.row, i.column, i.value, i.reason)
        for i in ImportIssue.objects.filter(batch=batch, severity="error")
    ]


def _notes(batch):
    return [(i.row, i.column, i.reason) for i in ImportIssue.objects.filter(batch=batch, severity="note")]


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def callcentre_source(code: str = "cc-export", **options):
    return services.save_source(
        code,
        name="95xxx 呼叫中心导出",
        mapping={
            "external_id": ["工单号"],
            "received_at": ["受理时间"],
            "channel": ["渠道"],
            "category": ["投诉类别"],
            "customer_name": ["客户姓名"],
            "customer_phone": ["联系电话"],
            "description": ["投诉内容"],
            "demands": ["客户诉求"],
            "claimed_amount": ["涉及金额"],
            "status": ["状态"],
            "closed_at": ["结案时间"],
            "outcome": ["结案方式"],
            "satisfaction": ["满意度"],
        },
        value_maps={
            "channel": {"热线": "phone", "网站": "web"},
            "category": {"质量": "product.defect", "账单": "billing.wrong"},
            "status": {"在办": "registered", "已办结": "closed"},
            "outcome": {"已解决": "accepted", "依法维持": "lawful"},
            "satisfaction": {"满意": "5", "一般": "3", "未回访": ""},
        },
        options={"system": "callcentre", "required": ["category"], **options},
    )


def cc_row(no: str, *, phone="13900000001", category="质量", status="在办", closed="", outcome="", sat=""):
    return [no, "2025-03-01 09:00", "热线", category, f"客户{no}", phone, f"工单{no}：热水器漏水。",
            "退货退款", "1,200.50", status, closed, outcome, sat]  # fmt: skip


def test_gb18030_call_centre_export_phones_codes_and_required_category(org, tmp_path):
    source = callcentre_source()
    rows = [
        cc_row("CC001", phone="0086 13017598020"),
        cc_row(
            "CC002",
            phone="１３８１２３４５６７８",
            status="已办结",
            closed="2025-03-02 10:00",
            outcome="已解决",
            sat="未回访",
        ),  # fmt: skip
        cc_row("CC003", phone="1.38123E+10"),
        cc_row("CC004", phone="1381234567"),
        cc_row("CC005", category=""),
        cc_row("CC006", status="已办结", closed="2025-03-02 10:00", outcome="转办"),
        cc_row("CC007", status="已办结", closed="2062-01-01 10:00", outcome="已解决"),
        cc_row("CC008", phone="(+86) 130-1759-8020"),
        cc_row("CC009", status="已办结", closed="2025-03-02 10:00", outcome="已解决", sat="6"),
        cc_row(
            "CC010",
            phone="010-6234 5678",
            status="已办结",
            closed="2025-03-02 10:00",
            outcome="依法维持",
            sat="满意",
        ),  # fmt: skip
        cc_row("CC011", category="已调解"),
    ]
    path = write_csv(tmp_path / "呼叫中心.csv", rows, encoding="gb18030", header=CC_HEADER)
    batch = services.run_import(source, path)
    assert batch.state == "completed", batch.error
    assert batch.encoding == "gb18030"
    assert (batch.total_rows, batch.created, batch.rejected) == (11, 4, 7)
    assert _errors(batch) == [
        (
            4,
            "联系电话",
            "1.38123E+10",
            "电话号码被 Excel 转成了科学计数法，原号码已丢失，请把该列设为文本后重新导出",
        ),  # fmt: skip
        (5, "联系电话", "1381234567", "电话号码无效"),
        (6, "投诉类别", "", "缺少必填项「分类」"),
        (7, "结案方式", "转办", "未知结案方式「转办」"),
        (8, "结案时间", "2062-01-01 10:00", "结案时间晚于当前时间"),
        (10, "满意度", "6", "满意度须为 1–5 的整数（与回访评分一致）"),
        (12, "投诉类别", "已调解", "未知分类代码「已调解」"),
    ]
    cases = {c.external_id: c for c in Case.objects.select_related("customer")}
    assert set(cases) == {"CC001", "CC002", "CC008", "CC010"}
    assert all(c.external_source == "callcentre" for c in cases.values())  # the system, not the file
    assert cases["CC001"].customer.phone == "13017598020"
    assert cases["CC001"].claimed_amount == Decimal("1200.50")
    assert cases["CC002"].customer.phone == "13812345678"
    assert cases["CC002"].status == "closed" and cases["CC002"].closing_criterion == "accepted"
    assert cases["CC002"].satisfaction is None  # 未回访 maps to "no score"
    assert cases["CC010"].customer.phone == "01062345678" and cases["CC010"].satisfaction == 5
    # The same person whichever way the number was written.
    assert cases["CC008"].customer_id == cases["CC001"].customer_id


def test_unknown_codes_can_be_imported_with_a_warning_instead(org, tmp_path):
    source = callcentre_source("cc-lenient", unknown_codes="warn")
    rows = [cc_row("W1", status="已办结", closed="2025-03-02 10:00", outcome="转办")]
    batch = services.run_import(source, write_csv(tmp_path / "w.csv", rows, header=CC_HEADER))
    assert (batch.created, batch.rejected) == (1, 0)
    assert _notes(batch) == [(2, "结案方式", "未知结案方式「转办」，已留空导入")]
    case = Case.objects.get(external_id="W1")
    assert case.status == "closed" and case.closing_criterion == ""


LEGACY_HEADER = ["工单号", "受理时间", "渠道", "联系电话", "投诉内容", "状态", "结案时间", "结案方式"]


def legacy_source(code="legacy", **options):
    return services.save_source(
        code,
        name="旧客服系统",
        mapping={"outcome": ["结案方式"]},
        value_maps={
            "channel": {"热线": "phone"},
            "status": {"在办": "registered", "已办结": "closed"},
            "outcome": {"已解决": "accepted"},
        },
        options=options,
    )


def _bom_csv(path, header, rows):
    return write_csv(path, rows, encoding="utf-8-sig", header=header)


def test_utf8_bom_month_first_and_full_width_dates_and_same_day_closing(org, tmp_path):
    source = legacy_source(date_order="mdy")
    rows = [
        ["L1", "12/01/2025 09:30", "热线", "13900000001", "漏水", "在办", "", ""],
        ["L2", "２０２５－０１－０２　１１：１８：０２", "热线", "13900000002", "漏水", "在办", "", ""],
        ["L3", "2025.02.05 08:55:41", "热线", "13900000003", "漏水", "已办结", "20250205", "已解决"],
        ["L4", "02/05/2025 10:00", "热线", "13900000004", "漏水", "已办结", "02/04/2025", "已解决"],
        ["L5", "13/01/2025", "热线", "13900000005", "漏水", "在办", "", ""],
        ["L6", "１２/０１/２０２５", "热线", "13900000006", "漏水", "在办", "", ""],
        ["L7", "2025-02-05 10:00", "热线", "13900000007", "漏水", "已办结", "2025-02-05 09:00", "已解决"],
    ]
    path = _bom_csv(tmp_path / "legacy.csv", LEGACY_HEADER, rows)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    batch = services.run_import(source, path)
    assert batch.encoding == "utf-8-sig"
    assert (batch.created, batch.rejected) == (4, 3), _errors(batch)
    assert _errors(batch) == [
        (5, "结案时间", "02/04/2025", "结案日期早于接收日期"),
        (6, "受理时间", "13/01/2025", "无法识别的日期时间"),
        (8, "结案时间", "2025-02-05 09:00", "结案时间早于接收时间"),
    ]
    got = {c.external_id: c for c in Case.objects.all()}
    assert got["L1"].received_at == _at("2025-12-01 09:30")  # month first, as the source says
    assert got["L2"].received_at == _at("2025-01-02 11:18:02")
    assert got["L6"].received_at == _at("2025-12-01 00:00")
    # Closed on the day of receipt, the closing known to the day only: accepted, at the receipt time.
    assert got["L3"].status == "closed" and got["L3"].closed_at == got["L3"].received_at

    # The same file from a source that does not state its order: year-last dates are not guessed.
    ymd = services.run_import(legacy_source("legacy-ymd"), path)
    rejected = {row: reason for row, _col, _val, reason in _errors(ymd)}
    assert rejected[2].startswith("无法识别的日期时间（年份在后的日期须在来源选项 date_order 中说明")
    assert 3 not in rejected and 4 not in rejected  # full-width and year-first dates still read


def test_date_order_reads_year_last_dates_by_the_source_convention_only():
    assert parse_datetime("12/01/2025", "mdy") == _at("2025-12-01 00:00")
    assert parse_datetime("12/01/2025", "dmy") == _at("2025-01-12 00:00")
    assert parse_datetime("12/01/2025") is None
    assert parse_datetime("2025/12/01", "dmy") == _at("2025-12-01 00:00")  # year first: unambiguous
    assert parse_datetime("２０２５年１月２日") == _at("2025-01-02 00:00")


@pytest.mark.parametrize("fallback", ["reject", "received_at"])
def test_closed_status_without_a_closing_time_column(org, tmp_path, fallback):
    source = legacy_source(f"legacy-{fallback.replace('_', '-')}", closed_without_time=fallback)
    header = ["工单号", "受理时间", "渠道", "联系电话", "投诉内容", "状态"]
    rows = [["H1", "2024-05-06 10:00", "热线", "13900000001", "漏水", "已办结"]]
    batch = services.run_import(source, write_csv(tmp_path / "h.csv", rows, header=header))
    if fallback == "reject":
        assert batch.rejected == 1 and not Case.objects.exists()
        assert _errors(batch) == [(2, "结案时间", "", "已结案记录缺少结案时间")]
    else:
        assert batch.created == 1
        case = Case.objects.get()
        assert case.status == "closed" and case.closed_at == case.received_at
        assert [e.action for e in case.events.order_by("seq")] == ["register", "close"]
        assert _notes(batch) == [(2, "结案时间", "缺少结案时间，按来源设置以接收时间作为结案时间")]


def test_xlsx_with_merged_header_totals_and_signature_rows(org, tmp_path):
    Progress = importlib.import_module("kesu.intake.management.commands.import").Progress

    source = callcentre_source()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2025年3月投诉工单汇总表"])
    ws.merge_cells("A1:G1")
    ws.append(["工单号", "受理时间", "渠道", "投诉类别", "客户信息", None, "投诉内容"])
    ws.append([None, None, None, None, "客户姓名", "联系电话", None])
    ws.merge_cells("E2:F2")
    for col in "ABCDG":
        ws.merge_cells(f"{col}2:{col}3")
    ws.append(["X1", dt.datetime(2025, 3, 5, 8, 30), "热线", "质量", "王五", 13700001111, "漏水"])
    ws.append(["X2", "2025/03/06 10:15", "网站", "账单", "赵六", "137-0000-2222", "多扣费"])
    ws.append(["X3", "2025/03/06 11:15", "网站", "账单", "钱七", "", "多扣费"])
    ws.append(["合计", None, None, None, None, None, "3 件"])
    ws.append([None] * 7)
    ws.append(["制表人：王芳", None, None, "审核人：李强", None, "日期：2025-04-01"])
    path = tmp_path / "汇总.xlsx"
    wb.save(path)
    stream = io.StringIO()
    batch = services.run_import(source, path, progress=Progress(stream, path.stat().st_size))
    assert batch.state == "completed", batch.error
    assert (batch.total_rows, batch.created, batch.rejected, batch.ignored) == (3, 2, 1, 3)
    assert _errors(batch) == [(6, "客户信息/联系电话", "", "须提供至少一种联系方式（电话、邮箱或地址）")]
    assert _notes(batch) == [
        (1, "", "标题行，已跳过"),
        (2, "", "表头行，已跳过"),
        (3, "", "表头行，已跳过"),
        (7, "", "合计行，已忽略"),
        (8, "", "空行，已忽略"),
        (9, "", "签名行（制表人/审核人等），已忽略"),
    ]
    x1, x2 = Case.objects.get(external_id="X1"), Case.objects.get(external_id="X2")
    assert x1.customer.phone == "13700001111" and x2.customer.phone == "13700002222"
    # The progress line counts what the summary counts.
    assert "数据行         3" in stream.getvalue() and "忽略 3" in stream.getvalue()
    assert "数据行 3：" in batch.summary() and "忽略 3" in batch.summary()


REG_HEADER = ["转办编号", "转办日期", "投诉人", "身份证号", "联系电话", "投诉事项", "办理时限"]


def regulator_source(code="regulator", invalid_id_number="reject"):
    return services.save_source(
        code,
        name="金融监管局转办",
        mapping={
            "external_id": ["转办编号"],
            "received_at": ["转办日期"],
            "customer_name": ["投诉人"],
            "customer_id_number": ["身份证号"],
            "customer_phone": ["联系电话"],
            "description": ["投诉事项"],
            "deadline": ["办理时限"],
        },
        defaults={"channel": "regulator_local"},
        options={"required": ["customer_name"], "invalid_id_number": invalid_id_number},
    )


def _id(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "?")  # the library skips the last character


def test_regulator_csv_with_id_numbers_required_complainant_and_deadline(org, tmp_path):
    good = _id("11010519491231002")  # ends in X
    assert good.endswith("X")
    wrong_check = good[:17] + "1"
    bad_birth = _id("11010519491331002")  # 13th month
    rows = [
        ["R1", "2025-03-01", "张三", good.lower(), "13900000001", "理赔拖延", "15个工作日"],
        ["R2", "2025-03-01", "李四", wrong_check, "13900000002", "理赔拖延", "15"],
        ["R3", "2025-03-01", "王五", good[:17], "13900000003", "理赔拖延", "15"],
        ["R4", "2025-03-01", "赵六", good + "1", "13900000004", "理赔拖延", "15"],
        ["R5", "2025-03-01", "钱七", "1101051949A231002X", "13900000005", "理赔拖延", "15"],
        ["R6", "2025-03-01", "孙八", "3.30108E+17", "13900000006", "理赔拖延", "15"],
        ["R7", "2025-03-01", "", good, "13900000007", "理赔拖延", "15"],
        ["R8", "2025-03-01", "周九", "", "13900000008", "理赔拖延", "见附件"],
        ["R9", "2025-03-01", "吴十", "", "13900000009", "理赔拖延", "0"],
        ["R10", "2025-03-01", "郑一", "", "13900000010", "理赔拖延", "２０２５－０３－２０"],
        ["R11", "2025-03-01", "冯二", bad_birth, "13900000011", "理赔拖延", "15"],
    ]
    path = write_csv(tmp_path / "监管转办.csv", rows, header=REG_HEADER)
    batch = services.run_import(regulator_source(), path)
    assert (batch.created, batch.rejected) == (2, 9), _errors(batch)
    assert _errors(batch) == [
        (3, "身份证号", wrong_check, "证件号码无效（校验位错误）"),
        (4, "身份证号", good[:17], "证件号码无效（位数不是 18 位）"),
        (5, "身份证号", good + "1", "证件号码无效（位数不是 18 位）"),
        (6, "身份证号", "1101051949A231002X", "证件号码无效（含有数字和末位 X 以外的字符）"),
        (
            7,
            "身份证号",
            "3.30108E+17",
            "证件号码被 Excel 转成了科学计数法，原号码已丢失，请把该列设为文本后重新导出",
        ),  # fmt: skip
        (8, "投诉人", "", "缺少必填项「客户姓名」"),
        (9, "办理时限", "见附件", "无法识别的办理时限（须为日期或正整数天数）"),
        (10, "办理时限", "0", "无法识别的办理时限（须为日期或正整数天数）"),
        (12, "身份证号", bad_birth, "证件号码无效（出生日期或地区码无效）"),
    ]
    r1 = Case.objects.get(external_id="R1")
    assert r1.customer.id_number == good and r1.channel.code == "regulator_local"
    assert r1.events.get(seq=1).payload["extra"] == {"deadline": "15个工作日"}
    assert Case.objects.get(external_id="R10").events.get(seq=1).payload["extra"] == {
        "deadline": "2025-03-20"
    }

    # A source that takes an invalid optional ID number with a warning: imported without it.
    lenient = services.run_import(regulator_source("regulator-warn", "warn"), path)
    assert lenient.created == 2 + 6  # rows 3–7 and 12 now imported; 8–10 still rejected
    assert [(r, c) for r, c, _v, _why in _errors(lenient)] == [
        (8, "投诉人"),
        (9, "办理时限"),
        (10, "办理时限"),
    ]
    notes = {row: reason for row, _col, reason in _notes(lenient)}
    assert notes[3] == "证件号码无效（校验位错误），未保存"
    r2 = Case.objects.get(external_source="regulator-warn", external_id="R2")
    assert r2.customer.id_number == ""


def test_source_options_are_checked_when_saved(org):
    with pytest.raises(Invalid) as exc:
        services.save_source("bad", options={"date_order": "ydm", "required": ["nosuch"], "colour": 1})
    assert set(exc.value.details) == {"date_order", "required", "colour"}


def test_cli_unknown_source_is_a_clear_error_not_a_traceback(org, tmp_path, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    Command = importlib.import_module("kesu.intake.management.commands.import").Command

    path = write_csv(tmp_path / "x.csv", [cc_row("N1")], header=CC_HEADER)
    with pytest.raises(CommandError, match="数据来源「nosuch」不存在"):
        call_command("import", str(path), source="nosuch")
    with pytest.raises(SystemExit) as exc:
        Command().run_from_argv(["kesu", "import", str(path), "--source", "nosuch"])
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "数据来源「nosuch」不存在" in err and "Traceback" not in err


def test_two_exports_of_one_system_update_only_their_columns_and_close_what_the_second_closes(org, tmp_path):
    from kesu.analytics.models import CaseCloseTime
    from kesu.cases.models import CaseEvent

    export_a = callcentre_source()  # system "callcentre": 客户诉求, 涉及金额, open work orders
    history = legacy_source("legacy-history", system="callcentre")  # no 客户诉求, no 涉及金额
    a_rows = [cc_row(f"T{i:03d}", phone=f"139{i:08d}") for i in range(1, 41)]
    path_a = write_csv(tmp_path / "a.csv", a_rows, encoding="gb18030", header=CC_HEADER)
    first = services.run_import(export_a, path_a)
    assert (first.created, first.rejected) == (40, 0), _errors(first)
    assert all(c.due_at is not None for c in Case.objects.all())  # open: running on deadlines

    b_rows = [
        [f"T{i:03d}", "2025-03-01 09:00", "热线", f"0086 139{i:08d}", f"工单T{i:03d}：热水器漏水。"]
        + (["已办结", "2025-03-05 16:00", "已解决"] if i <= 30 else ["在办", "", ""])
        for i in range(1, 41)
    ]
    path_b = _bom_csv(tmp_path / "b.csv", LEGACY_HEADER, b_rows)
    second = services.run_import(history, path_b)
    assert second.state == "completed", second.error
    assert (second.created, second.updated, second.unchanged, second.rejected) == (0, 30, 10, 0)
    assert Case.objects.count() == 40  # the same cases, not duplicates

    closed = Case.objects.get(external_id="T007")
    assert closed.external_source == "callcentre"
    assert closed.status == "closed" and closed.closing_criterion == "accepted"
    assert closed.closed_at == _at("2025-03-05 16:00") and closed.replied_at == closed.closed_at
    # Columns the history file does not have are kept.
    assert closed.demands == "退货退款" and closed.claimed_amount == Decimal("1200.50")
    events = list(closed.events.order_by("seq"))
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("register", "", "registered"),
        ("close", "registered", "closed"),
    ]
    assert closed.version == 2 and events[1].created_at == closed.closed_at
    assert events[1].payload["import"]["row"] == 8 and events[1].payload["criterion"] == "accepted"
    from kesu.sla.models import StageDeadline

    assert not StageDeadline.objects.filter(case=closed, state="open").exists()
    assert closed.due_at is None  # its deadlines ended with the closing
    assert CaseCloseTime.objects.filter(case=closed, closed_at=closed.closed_at).exists()
    still_open = Case.objects.get(external_id="T035")
    assert still_open.status == "registered" and still_open.version == 1
    assert still_open.demands == "退货退款" and still_open.claimed_amount == Decimal("1200.50")
    assert Case.objects.filter(status="closed").count() == 30

    events_before = CaseEvent.objects.count()
    state = sorted(Case.objects.values_list("external_id", "status", "version", "demands", "claimed_amount"))
    for source, path in ((history, path_b), (export_a, path_a)):
        again = services.run_import(source, path)
        assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 40, 0)
    assert CaseEvent.objects.count() == events_before
    assert (
        sorted(Case.objects.values_list("external_id", "status", "version", "demands", "claimed_amount"))
        == state
    )
    # the closing events written by the update are chained like any other (kesu audit verify)
    assert chain.verify_cases().ok
