"""Bulk import of CSV/XLSX files: encodings, mapping, historical records, rejections, idempotency."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from kesu.cases.models import Case, CaseEvent, Customer, DailySequence
from kesu.intake import services
from kesu.intake.models import ImportChunk, ImportIssue
from kesu.intake.parsers import parse_datetime
from kesu.intake.reports import write_issue_report
from tests.intake.helpers import HEADER, crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db


def _issues(batch):
    return [(i.row, i.column, i.reason) for i in ImportIssue.objects.filter(batch=batch, severity="error")]


def test_gbk_csv_imports_with_codes_mapped(org, tmp_path):
    source = crm_source()
    path = write_csv(tmp_path / "十一月.csv", good_rows(5), encoding="gbk")
    batch = services.run_import(source, path)
    assert batch.state == "completed", batch.error
    assert batch.encoding == "gb18030"
    assert (batch.created, batch.rejected) == (5, 0)
    case = Case.objects.get(external_source="crm-east", external_id="WO000001")
    assert case.channel.code == "phone" and case.category.code == "product.defect"
    assert case.customer.name == "客户1" and case.customer.phone == "13900000001"
    assert case.description.startswith("热水器第1台")
    assert case.is_imported and case.status == "registered" and case.version == 1
    assert case.number.startswith("TS20260302")
    event = case.events.get()
    assert event.seq == 1 and event.action == "register" and event.payload["imported"] is True


def test_open_imported_work_orders_run_on_deadlines_from_their_receipt(org, tmp_path):
    from kesu.sla.models import StageDeadline

    path = write_csv(tmp_path / "open.csv", good_rows(2))
    batch = services.run_import(crm_source(), path)
    assert batch.state == "completed", batch.error
    case = Case.objects.get(external_id="WO000001")
    answer = StageDeadline.objects.get(case=case, stage="answer")
    # Anchored at the original receipt (2 March 2026), not at the import: long overdue now.
    assert answer.starts_at == case.received_at and case.due_at == answer.due_at
    assert answer.due_at < parse_datetime("2026-03-10 00:00")
    assert case.version == 1  # deadlines are not events


def test_utf8_bom_csv_and_historical_closed_records(org, tmp_path):
    source = crm_source()
    path = tmp_path / "history.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv_text(good_rows(3, closed=True)).encode("utf-8"))
    batch = services.run_import(source, path)
    assert batch.state == "completed", batch.error
    assert batch.encoding == "utf-8-sig"
    case = Case.objects.get(external_id="WO000002")
    assert case.status == "closed" and case.closing_criterion == "accepted"
    assert case.closed_at == parse_datetime("2026-04-03 10:00")
    assert case.received_at == parse_datetime("2026-03-03 09:02")
    assert case.due_at is None  # no live deadlines for history
    events = list(case.events.order_by("seq"))
    assert [e.action for e in events] == ["register", "close"]
    assert case.version == len(events) == 2
    assert events[1].created_at == case.closed_at and events[1].payload["imported"] is True


def test_mixed_date_formats(org, tmp_path):
    source = crm_source()
    rows = good_rows(5)
    formats = ["2026-11-22", "2026/11/22 14:03", "2026年11月22日", "20261122", "2026年11月22日 下午2时03分"]
    for row, text in zip(rows, formats, strict=True):
        row[1] = text
    batch = services.run_import(source, write_csv(tmp_path / "dates.csv", rows))
    assert batch.created == 5, _issues(batch)
    got = {
        c.external_id: c.received_at
        for c in Case.objects.filter(external_source="crm-east").only("external_id", "received_at")
    }
    assert got["WO000001"] == parse_datetime("2026-11-22 00:00")
    assert got["WO000002"] == parse_datetime("2026-11-22 14:03")
    assert got["WO000003"] == got["WO000004"] == got["WO000001"]
    assert got["WO000005"] == got["WO000002"]
    # Beijing time, stored as UTC
    assert got["WO000002"].astimezone(parse_datetime("2026-01-01").tzinfo).hour == 14


def test_every_bad_row_is_rejected_with_row_column_and_reason(org, tmp_path):
    source = crm_source()
    rows = good_rows(8)
    rows[1][2] = "77"  # unknown channel code (row 3)
    rows[2][3] = "Z9"  # unknown category code (row 4)
    rows[3][6] = ""  # description missing (row 5)
    rows[4][1] = "下周二"  # unreadable date (row 6)
    rows[5][0] = rows[0][0]  # duplicate external id within the file (row 7 duplicates row 2)
    rows[6][7], rows[6][8] = "办结", ""  # closed without a closing time (row 8)
    batch = services.run_import(source, write_csv(tmp_path / "bad.csv", rows))
    assert batch.state == "completed"
    assert (batch.total_rows, batch.created, batch.rejected) == (8, 2, 6)
    assert _issues(batch) == [
        (3, "渠道", "未知渠道代码「77」"),
        (4, "投诉类别", "未知分类代码「Z9」"),
        (5, "投诉内容", "投诉内容为空"),
        (6, "受理时间", "无法识别的日期时间"),
        (7, "外部编号", "与第 2 行外部编号重复"),
        (8, "结案时间", "已结案记录缺少结案时间"),
    ]
    # Nothing lost: every row is accounted for.
    assert batch.created + batch.updated + batch.unchanged + batch.rejected == batch.total_rows
    # The rejection report downloads in Chinese, as CSV and XLSX.
    out = io.BytesIO()
    write_issue_report(batch, "csv", out)
    text = out.getvalue().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:5] == ["行号", "外部编号", "列", "值", "原因"]
    assert ["3", "WO000002", "渠道", "77", "未知渠道代码「77」"] == lines[1][:5]
    out = io.BytesIO()
    write_issue_report(batch, "xlsx", out)
    out.seek(0)
    ws = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    rows_xlsx = list(ws.iter_rows(values_only=True))
    assert rows_xlsx[0][:5] == ("行号", "外部编号", "列", "值", "原因")
    assert rows_xlsx[4][4] == "无法识别的日期时间"


def test_duplicate_against_database_is_updated_or_unchanged_never_duplicated(org, tmp_path):
    source = crm_source()
    path = write_csv(tmp_path / "m1.csv", good_rows(4))
    first = services.run_import(source, path)
    assert first.created == 4
    numbers = set(Case.objects.values_list("number", flat=True))
    # The same file again: nothing changes.
    again = services.run_import(source, path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 0)
    assert set(Case.objects.values_list("number", flat=True)) == numbers
    assert CaseEvent.objects.count() == 4
    # A corrected export: one description changed → updated, with the change on the timeline.
    rows = good_rows(4)
    rows[2][6] = "热水器漏水，已造成地板损坏。"
    fixed = services.run_import(source, write_csv(tmp_path / "m1-fixed.csv", rows))
    assert (fixed.created, fixed.updated, fixed.unchanged) == (0, 1, 3)
    case = Case.objects.get(external_id="WO000003")
    assert case.description == "热水器漏水，已造成地板损坏。" and case.version == 2
    update = case.events.get(seq=2)
    assert update.action == "import_update"
    assert update.payload["changes"]["description"]["new"] == "热水器漏水，已造成地板损坏。"
    assert Case.objects.count() == 4


def test_xlsx_with_title_merged_header_and_totals_row(org, tmp_path):
    source = crm_source()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["华东分公司2026年3月客户投诉清单"])
    ws.merge_cells("A1:H1")
    ws.append(["工单号", "受理时间", "渠道", "客户信息", None, "投诉内容", "责任部门", "原经办人"])
    ws.append([None, None, None, "姓名", "联系电话", None, None, None])
    ws.merge_cells("D2:E2")
    for col in "ABCFGH":
        ws.merge_cells(f"{col}2:{col}3")
    import datetime as dt

    ws.append(
        [
            "X-1",
            dt.datetime(2026, 3, 5, 8, 30),
            "02",
            "王五",
            13700001111,
            "网页下单后一直未发货",
            "D07",
            "李经理",
        ]
    )
    ws.append(["X-2", "2026/03/06 10:15", "01", "赵六", "13700002222", "客服态度恶劣", "D01", ""])
    ws.append(
        ["X-3", 46090, "01", "钱七", "13700003333", "账单多扣费", "D99", ""]
    )  # Excel serial date, bad dept
    ws.append(["合计", None, None, None, None, "3 件", None, None])
    path = tmp_path / "清单.xlsx"
    wb.save(path)
    batch = services.run_import(source, path)
    assert batch.state == "completed", batch.error
    assert (batch.created, batch.rejected, batch.ignored) == (2, 1, 1)
    notes = list(ImportIssue.objects.filter(batch=batch, severity="note").values_list("row", "reason"))
    assert notes == [
        (1, "标题行，已跳过"),
        (2, "表头行，已跳过"),
        (3, "表头行，已跳过"),
        (7, "合计行，已忽略"),
    ]
    assert _issues(batch) == [(6, "责任部门", "未知部门代码「D99」")]
    x1 = Case.objects.get(external_id="X-1")
    assert x1.customer.phone == "13700001111" and x1.customer.name == "王五"
    assert x1.department.code == "CLAIMS" and x1.channel.code == "web"
    assert x1.received_at == parse_datetime("2026-03-05 08:30")
    assert x1.events.get(seq=1).payload["extra"] == {"handler_name": "李经理"}


def test_validate_mode_writes_nothing(org, tmp_path):
    source = crm_source()
    rows = good_rows(3)
    rows[0][2] = "77"
    seq_before = list(DailySequence.objects.values_list("day", "last"))
    batch = services.run_import(source, write_csv(tmp_path / "v.csv", rows), mode="validate")
    assert batch.state == "completed"
    assert (batch.created, batch.rejected) == (2, 1)
    assert Case.objects.count() == 0 and Customer.objects.count() == 0
    assert list(DailySequence.objects.values_list("day", "last")) == seq_before
    assert _issues(batch) == [(2, "渠道", "未知渠道代码「77」")]


def test_repeat_complaints_are_graded_within_the_batch_and_against_the_database(org, tmp_path):
    source = crm_source()
    from tests.factories import make_case

    earlier = make_case(
        org.intake,
        customer={"name": "老客户", "phone": "13911112222"},
        received_at="2026-03-01T09:00:00+08:00",
    )
    rows = good_rows(2)
    for r, day in zip(rows, ("2026-03-02 10:00", "2026-03-03 10:00"), strict=True):
        r[1], r[5] = day, "13911112222"
    batch = services.run_import(source, write_csv(tmp_path / "rep.csv", rows))
    assert batch.created == 2
    first, second = Case.objects.filter(external_source="crm-east").order_by("received_at")
    assert (first.repeat_count, first.level, first.repeat_of_id) == (2, "urgent", earlier.pk)
    assert (second.repeat_count, second.level, second.repeat_of_id) == (3, "major", first.pk)
    assert first.customer_id == second.customer_id == earlier.customer_id


def test_fault_half_way_leaves_whole_chunks_and_rerun_completes_without_duplicates(
    org, tmp_path, monkeypatch
):
    source = crm_source()
    rows = good_rows(23)
    rows[17][2] = "77"  # one bad row in chunk 3 (rows 16–20)
    path = write_csv(tmp_path / "big.csv", rows)

    def boom(batch, index):
        if index == 2:
            raise RuntimeError("数据库连接中断")

    monkeypatch.setattr(services, "_chunk_committing", boom)
    failed = services.run_import(source, path, chunk_size=5)
    assert failed.state == "failed" and "数据库连接中断" in failed.error
    assert failed.chunks_committed == 2 and failed.rows_committed == 11
    assert Case.objects.count() == 10  # chunks 0 and 1 entirely, nothing of chunk 2
    assert ImportChunk.objects.filter(batch=failed).count() == 2

    monkeypatch.setattr(services, "_chunk_committing", lambda batch, index: None)
    resumed = services.run_import(source, path, chunk_size=5)
    assert resumed.pk == failed.pk and resumed.state == "completed"
    assert (resumed.total_rows, resumed.created, resumed.rejected) == (23, 22, 1)
    assert Case.objects.count() == 22
    assert Case.objects.values("external_id").distinct().count() == 22
    assert _issues(resumed) == [(19, "渠道", "未知渠道代码「77」")]
    # Numbers are unique and gap-free per day.
    for day, last in DailySequence.objects.values_list("day", "last"):
        nums = sorted(
            Case.objects.filter(number__startswith=f"TS{day:%Y%m%d}").values_list("number", flat=True)
        )
        assert [int(n[10:]) for n in nums] == list(range(1, last + 1))
    # And a third run changes nothing.
    third = services.run_import(source, path, chunk_size=5)
    assert (third.created, third.unchanged, third.rejected) == (0, 22, 1)
    assert Case.objects.count() == 22


def test_missing_required_column_fails_clearly(org, tmp_path):
    source = crm_source()
    header = [h for h in HEADER if h != "投诉内容"]
    rows = [r[:6] + r[7:] for r in good_rows(2)]
    batch = services.run_import(source, write_csv(tmp_path / "nodesc.csv", rows, header=header))
    assert batch.state == "failed" and "投诉内容" in batch.error
    assert Case.objects.count() == 0


def _csv_text(rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue()


def test_cli_validate_then_import_with_report(org, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    crm_source()
    rows = good_rows(3)
    rows[1][2] = "77"
    path = write_csv(tmp_path / "cli.csv", rows, encoding="gbk")
    report = tmp_path / "拒绝明细.csv"
    out = io.StringIO()
    call_command("import", str(path), source="crm-east", validate=True, report=str(report), stdout=out)
    assert "新建 2" in out.getvalue() and "拒绝 1" in out.getvalue()
    assert Case.objects.count() == 0
    assert "未知渠道代码「77」" in report.read_text(encoding="utf-8-sig")
    call_command("import", str(path), source="crm-east", stdout=io.StringIO())
    assert Case.objects.count() == 2
    with pytest.raises(CommandError):
        call_command("import", str(tmp_path / "missing.csv"), source="crm-east")


@pytest.mark.parametrize(
    "preset", ["general", "insurance"]
)  # insurance: the answer deadline depends on the level
def test_bulk_deadlines_equal_those_of_a_case_registered_one_by_one(org, tmp_path, preset):
    """The importer's deadlines (computed ahead at the likely level, or again in the writer when
    earlier complaints raise the level) give each open case what the per-case hook would."""
    from kesu.policy.selectors import active_rules
    from kesu.policy.services import load_preset
    from kesu.sla.models import StageDeadline
    from kesu.sla.services import after_case_event

    load_preset(preset)
    # The customer of row 1 complains again twice (urgent, then major); one row comes from a regulator.
    again = [[f"WO0001{k}", f"2026-03-1{k} 10:00", "01", "A1", "客户1", "13900000001", "又漏水了。", "在办", "", ""]
             for k in (1, 2)]  # fmt: skip
    regulator = [
        ["WO000200", "2026-03-15 11:00", "09", "B2", "客户200", "13900000200", "监管转办", "在办", "", ""]
    ]
    path = write_csv(tmp_path / "open.csv", good_rows(6) + again + regulator)
    batch = services.run_import(crm_source(), path, chunk_size=4)
    assert batch.state == "completed", batch.error
    assert sorted(Case.objects.values_list("repeat_count", flat=True)) == [1] * 7 + [2, 3]
    assert len(set(Case.objects.values_list("level", flat=True))) >= 3

    def snapshot(case):
        case.refresh_from_db()
        stages = StageDeadline.objects.filter(case=case).order_by("stage", "ref")
        return case.due_at, [
            (s.stage, s.ref, s.state, s.starts_at, s.due_at, s.warn_at, s.next_check_at, s.met_at)
            for s in stages
        ]

    for case in Case.objects.filter(external_source="crm-east").order_by("pk"):
        bulk = snapshot(case)
        assert bulk[1], "an open imported case has stage deadlines"
        StageDeadline.objects.filter(case=case).delete()
        Case.objects.filter(pk=case.pk).update(due_at=None)
        case.refresh_from_db()
        after_case_event(case, case.events.get(seq=1), active_rules())
        assert snapshot(case) == bulk


def test_imported_history_counts_in_the_working_time_to_close(org, tmp_path):
    """Closed history gets its close-time rollup row, equal to what the transition service writes."""
    from kesu.analytics.models import CaseCloseTime
    from kesu.analytics.rollups import case_changed

    path = write_csv(tmp_path / "history.csv", good_rows(3, closed=True))
    batch = services.run_import(crm_source(), path)
    assert batch.state == "completed", batch.error
    cases = list(Case.objects.filter(external_source="crm-east").order_by("pk"))
    imported = {r.case_id: (r.closed_at, r.working_hours) for r in CaseCloseTime.objects.all()}
    assert set(imported) == {c.pk for c in cases}
    assert all(hours > 0 for _closed, hours in imported.values())
    CaseCloseTime.objects.all().delete()
    for case in cases:
        case_changed(case)
    assert {r.case_id: (r.closed_at, r.working_hours) for r in CaseCloseTime.objects.all()} == imported


def test_import_keeps_the_analytics_day_counts_equal_to_a_rebuild_from_the_cases(org, tmp_path):
    """What the importer adds to the day-count rollup per chunk equals recounting the case table."""
    from kesu.analytics import rollups
    from kesu.analytics.models import CaseCountKey, DailyCaseCount

    def snapshot():
        counts = sorted(
            DailyCaseCount.objects.filter(n__gt=0).values_list("day", "kind", "dimension", "key", "n")
        )
        keys = sorted(CaseCountKey.objects.values_list("case_id", "day", "kind", "category_id", "channel_id"))
        return counts, keys

    rows = good_rows(7) + good_rows(5, start=40, closed=True)
    batch = services.run_import(crm_source(), write_csv(tmp_path / "mixed.csv", rows), chunk_size=4)
    assert batch.state == "completed" and batch.created == 12, batch.error
    incremental = snapshot()
    assert len(incremental[1]) == 12 and sum(n for *_k, n in incremental[0] if _k[2] == "") == 12
    assert rollups.accounts_for(None, None)
    assert rollups.rebuild_daily_counts() == 12
    assert snapshot() == incremental


def test_sqlite_import_settings_hold_during_the_import_and_are_restored_after(org, tmp_path, monkeypatch):
    """A task worker keeps its connection: the import's larger page cache and rarer WAL checkpoints end with it."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite connection settings")

    def pragmas():
        out = {}
        with connection.cursor() as cur:
            for name in ("cache_size", "wal_autocheckpoint"):
                cur.execute(f"PRAGMA {name}")
                out[name] = cur.fetchone()[0]
        return out

    before, during = pragmas(), []
    monkeypatch.setattr(services, "_chunk_committing", lambda batch, index: during.append(pragmas()))
    batch = services.run_import(crm_source(), write_csv(tmp_path / "a.csv", good_rows(3)), chunk_size=2)
    assert batch.state == "completed", batch.error
    assert during == [{"cache_size": -262144, "wal_autocheckpoint": 50000}] * 2
    assert pragmas() == before
