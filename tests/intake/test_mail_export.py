"""Inbound e-mail (drop folder) and exports (lists and case files, PII masked, recorded)."""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage

import openpyxl
import pytest
from django.core.management import call_command
from django.test import Client

from kesu.cases.models import Attachment, Case
from kesu.cases.selectors import CaseFilters
from kesu.intake import exporters
from kesu.intake.models import ExportLog, InboundMail
from tests.factories import make_case

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _mail(subject: str, body: str, *, msg_id: str, attachments=()) -> bytes:
    msg = EmailMessage()
    msg["From"] = "张先生 <zhang@example.com>"
    msg["To"] = "kefu@company.example"
    msg["Subject"] = subject
    msg["Date"] = "Sun, 22 Nov 2026 10:15:00 +0800"
    msg["Message-ID"] = msg_id
    msg.set_content(body)
    for name, data, maintype, subtype in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_mail_with_attachment_becomes_a_case_and_a_reply_threads_into_it(org, tmp_path):
    drop = tmp_path / "maildrop"
    (drop / "new").mkdir(parents=True)
    (drop / "new" / "1.eml").write_bytes(
        _mail(
            "热水器漏水投诉",
            "我家热水器安装三天就漏水，要求更换。",
            msg_id="<m1@example.com>",
            attachments=[
                ("漏水照片.png", PNG, "image", "png"),
                ("病毒.exe", b"MZ\x90\x00", "application", "octet-stream"),
            ],
        )
    )
    call_command("fetch_mail", maildir=str(drop), user="intake")
    case = Case.objects.get(external_source="email")
    assert case.channel.code == "email" and case.subject == "热水器漏水投诉"
    assert case.customer.email == "zhang@example.com" and case.customer.name == "张先生"
    assert "热水器安装三天就漏水" in case.description
    actions = list(case.events.order_by("seq").values_list("action", flat=True))
    assert actions == ["register", "customer_mail", "attach"]
    mail_event = case.events.get(action="customer_mail")
    assert (
        mail_event.payload["subject"] == "热水器漏水投诉"
        and "zhang@example.com" in mail_event.payload["from"]
    )
    assert list(Attachment.objects.filter(case=case).values_list("original_name", flat=True)) == [
        "漏水照片.png"
    ]
    assert case.version == case.events.count()
    record = InboundMail.objects.get(message_id="<m1@example.com>")
    assert "病毒.exe" in record.error  # the refused attachment is on record, not silently dropped

    # A reply naming the case number in its subject lands on the same case.
    (drop / "new" / "2.eml").write_bytes(
        _mail(f"Re: 【{case.number}】处理进度", "请尽快处理，已经一周了。", msg_id="<m2@example.com>")
    )
    call_command("fetch_mail", maildir=str(drop), user="intake")
    assert Case.objects.count() == 1
    reply = case.events.order_by("-seq").first()
    assert reply.action == "customer_mail" and "已经一周了" in reply.payload["body"]
    # Reading the mailbox again changes nothing.
    before = case.events.count()
    call_command("fetch_mail", maildir=str(drop), user="intake")
    assert Case.objects.count() == 1 and case.events.count() == before


def _export_rows(user, fmt="csv", filters=None):
    out = io.BytesIO()
    log = exporters.export_cases(user, filters, fmt, out)
    if fmt == "csv":
        return log, list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    out.seek(0)
    ws = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    return log, [list(r) for r in ws.iter_rows(values_only=True)]


def test_export_masks_pii_for_analysts_and_is_recorded(org):
    make_case(
        org.intake, customer={"name": "张三", "phone": "13812345678", "id_number": "11010519491231002X"}
    )
    make_case(org.intake, kind="report", is_anonymous=True, customer={})
    log, rows = _export_rows(org.analyst)
    header, data = rows[0], rows[1:]
    assert header[:3] == ["案件编号", "接收时间", "渠道"]
    assert len(data) == 1  # the whistle-blowing report is not visible to an analyst
    row = dict(zip(header, data[0], strict=True))
    assert row["联系电话"] == "138****5678" and row["客户姓名"] == "张*"
    assert row["证件号码"] == "110***********002X"
    assert log.pii_masked and log.row_count == 1 and log.user == org.analyst

    log, rows = _export_rows(org.supervisor, "xlsx", CaseFilters(status=["registered"]))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["联系电话"] == "13812345678" and row["客户姓名"] == "张三"
    assert not log.pii_masked and log.filters == {"status": ["registered"]}
    assert ExportLog.objects.count() == 2


def test_case_file_export_has_facts_timeline_and_attachments(org):
    case = make_case(org.intake, customer={"name": "李四", "phone": "13900001111"})
    resp = Client()
    resp.force_login(org.analyst)
    r = resp.get(f"/api/v1/intake/exports/cases/{case.number}?format=xlsx")
    assert r.status_code == 200, r.content
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True)
    assert wb.sheetnames == ["案件信息", "处理时间线", "附件清单"]
    facts = dict(wb["案件信息"].iter_rows(values_only=True))
    assert facts["案件编号"] == case.number and facts["联系电话"] == "139****1111"
    timeline = list(wb["处理时间线"].iter_rows(values_only=True))
    assert timeline[1][2] == "register"
    assert ExportLog.objects.get().case_number == case.number
    # Someone who may not see the case gets a 404 (as for a missing case) and no file.
    other = Client()
    other.force_login(org.finance_handler)
    assert (
        other.get(f"/api/v1/intake/exports/cases/{case.number}").status_code == 404
    )  # hidden answers like missing


def test_list_export_endpoint_streams_csv_for_excel(org):
    make_case(org.intake)
    c = Client()
    c.force_login(org.supervisor)
    r = c.get("/api/v1/intake/exports/cases?format=csv&status=registered")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    content = b"".join(r.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    assert len(content.decode("utf-8-sig").strip().splitlines()) == 2
