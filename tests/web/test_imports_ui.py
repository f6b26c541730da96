"""The import screen with Django's test client: upload → proposed mapping → adjust → validate →
commit → report download; and the editor of a saved source."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kesu.cases.models import Case
from kesu.intake.models import ImportBatch, ImportSource, ImportUpload
from kesu.intake.services import save_source
from tests.intake.helpers import HEADER, crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media" / "imports"


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _selected(html: str, name: str) -> str | None:
    """The selected option of a <select name=...> (what the screen proposes)."""
    m = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert m, name
    sel = re.search(r'<option value="([^"]*)" selected>', m.group(1))
    return sel.group(1) if sel else None


def _file(tmp_path):
    # The call centre's own header names and codes: 单号 is no built-in name, 热线/网站 no channel codes.
    header = ["单号", "受理时间", "来源方式", "投诉类别", "客户姓名", "联系电话", "投诉内容", "状态", "结案时间", "处理结果"]  # fmt: skip
    rows = [r[:2] + ["热线" if i % 2 else "网站"] + r[3:] for i, r in enumerate(good_rows(6))]
    rows[5][5] = "1390000"  # not a phone number: rejected, with row and reason
    return write_csv(tmp_path / "呼叫中心.csv", rows, header=header).read_bytes()


def test_upload_map_validate_commit_and_download_the_report(org, tmp_path, media):
    c = _client(org.intake)
    page = c.get("/imports/")
    assert page.status_code == 200 and "数据导入" in page.content.decode()

    r = c.post("/imports/", {"file": SimpleUploadedFile("呼叫中心.csv", _file(tmp_path))})
    upload = ImportUpload.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/imports/uploads/{upload.pk}/"
    assert [p.name for p in media.iterdir()] == [upload.stored_name]

    html = c.get(r["Location"]).content.decode()
    # Proposed: built-in names, and from the values where the header says nothing.
    assert _selected(html, "col-1") == "received_at" and _selected(html, "col-6") == "description"
    assert _selected(html, "col-3") == "category" and _selected(html, "col-0") is None
    assert "代码映射" in html and "热线" in html and "网站" in html  # the file's distinct values
    assert "external_id" in html  # still missing: the user has to map it

    form = {
        "new_code": "cc-daily",
        "name": "95xxx 呼叫中心日报",
        "system": "callcentre",
        "date_order": "ymd",
        "invalid_id_number": "reject",
        "closed_without_time": "reject",
        "unknown_codes": "reject",
        "required": ["category"],
    }
    for i, field in enumerate(["external_id", "received_at", "channel", "category", "customer_name",
                               "customer_phone", "description", "status", "closed_at", "outcome"]):  # fmt: skip
        form[f"col-{i}"] = field
    # Value maps for the distinct values (their order on the page: most frequent first).
    c.post(r["Location"], form)  # a first validation, before the value maps are chosen
    assert ImportSource.objects.filter(code="cc-daily").exists()
    html = c.get(f"/imports/uploads/{upload.pk}/?source=cc-daily").content.decode()
    raws = dict(re.findall(r'name="vmraw-([a-z]+-\d+)" value="([^"]*)"', html))
    for key, raw in raws.items():
        field = key.rsplit("-", 1)[0]
        target = {"热线": "phone", "网站": "web", "A1": "product.defect", "在办": "registered"}.get(raw, "")
        form[f"vm-{key}"] = target
        form[f"vm-{field}-count"] = str(sum(1 for k in raws if k.rsplit("-", 1)[0] == field))
        form[f"vmraw-{key}"] = raw
    form["source"], form["new_code"] = "cc-daily", ""
    r = c.post(f"/imports/uploads/{upload.pk}/", form)
    assert r.status_code == 302 and r["Location"].endswith("?source=cc-daily#result")
    source = ImportSource.objects.get(code="cc-daily")
    assert source.mapping["external_id"] == ["单号"] and source.options["system"] == "callcentre"
    assert source.options["required"] == ["category"]
    assert source.value_maps["channel"] == {"热线": "phone", "网站": "web"}
    assert not Case.objects.exists()

    html = c.get(r["Location"].split("#")[0]).content.decode()
    assert "校验结果" in html and "联系电话" in html and "1390000" in html  # row 7's problem
    assert 'id="import-commit"' in html
    validation = ImportBatch.objects.filter(mode="validate").latest("pk")  # the second, with value maps
    assert (validation.total_rows, validation.rejected) == (6, 1)

    r = c.post(f"/imports/uploads/{upload.pk}/commit/")
    batch = ImportBatch.objects.get(mode="commit")
    assert r.status_code == 302 and r["Location"] == f"/imports/batches/{batch.pk}/"
    assert batch.state == "completed" and batch.created == 5
    assert Case.objects.filter(external_source="callcentre").count() == 5
    assert list(media.iterdir()) == [] and not ImportUpload.objects.exists()

    html = c.get(r["Location"]).content.decode()
    assert "1390000" in html and 'id="import-report"' in html
    report = c.get(f"/imports/batches/{batch.pk}/report/?format=xlsx")
    assert report.status_code == 200 and "attachment" in report["Content-Disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)))["拒绝明细"]
    rejected = [row for row in ws.iter_rows(values_only=True) if row[5] == "拒绝"]
    assert rejected[0][:3] == (7, "WO000006", "联系电话")


def test_a_saved_source_is_edited_on_screen_not_as_json(org):
    source = save_source(
        "legacy", name="旧系统", mapping={"external_id": ["编号"]}, value_maps={"status": {"归档": "closed"}}
    )
    c = _client(org.supervisor)
    html = c.get(f"/imports/sources/{source.pk}/").content.decode()
    assert 'name="map-external_id" value="编号"' in html and 'value="归档"' in html
    r = c.post(
        f"/imports/sources/{source.pk}/",
        {
            "name": "旧客服系统",
            "system": "legacy-crm",
            "date_order": "dmy",
            "invalid_id_number": "warn",
            "closed_without_time": "received_at",
            "unknown_codes": "reject",
            "map-external_id": "编号，原编号",
            "map-received_at": "登记日期",
            "extra-key": ["handler_name", ""],
            "extra-value": ["原经办人", ""],
            "vm-field": ["status", "satisfaction", ""],
            "vm-raw": ["归档", "未回访", ""],
            "vm-target": ["closed", "", ""],
            "default-field": ["channel", ""],
            "default-value": ["letter", ""],
        },
    )
    assert r.status_code == 302
    source.refresh_from_db()
    assert source.name == "旧客服系统"
    assert source.mapping == {"external_id": ["编号", "原编号"], "received_at": ["登记日期"],
                              "extra.handler_name": ["原经办人"]}  # fmt: skip
    assert source.value_maps == {"status": {"归档": "closed"}, "satisfaction": {"未回访": ""}}
    assert source.defaults == {"channel": "letter"}
    assert source.options == {"system": "legacy-crm", "date_order": "dmy", "invalid_id_number": "warn",
                              "closed_without_time": "received_at"}  # fmt: skip
    bad = c.post(f"/imports/sources/{source.pk}/", {"system": "旧 系统", "date_order": "ymd"})
    assert bad.status_code == 422 and "系统编码" in bad.content.decode()


def test_only_importing_roles_see_the_screen_and_only_their_own_uploads(org, tmp_path, media):
    assert _client(org.handler).get("/imports/").status_code == 403
    html = _client(org.handler).get("/").content.decode()
    assert "/imports/" not in html
    assert "/imports/" in _client(org.intake).get("/").content.decode()
    c = _client(org.intake)
    c.post("/imports/", {"file": SimpleUploadedFile("a.csv", _file(tmp_path))})
    upload = ImportUpload.objects.get()
    assert _client(org.supervisor).get(f"/imports/uploads/{upload.pk}/").status_code == 404
    r = c.post("/imports/", {"file": SimpleUploadedFile("a.pdf", b"%PDF")}, follow=True)
    assert "只支持 CSV 或 XLSX 文件" in r.content.decode() and ImportUpload.objects.count() == 1


def test_the_import_screen_in_english(org):
    c = _client(org.intake)
    c.cookies["django_language"] = "en"
    html = c.get("/imports/").content.decode()
    assert "Data import" in html and "Upload and show the columns" in html
    data = {"简体中文", org.service.name}  # the language switch, the user's department (data)
    assert set(re.findall(r"[\u4e00-\u9fff]+", html)) - data == set()


def test_do_not_import_wins_over_a_built_in_header_name(org, tmp_path, media):
    """投诉类别 is a built-in name of `category`; the user's "(不导入)" for it must hold, on this
    file and the next of the same source."""
    maps = crm_source("tmp").value_maps
    save_source("cc", name="呼叫中心", value_maps=maps)  # no mapping: built-in header names apply
    c = _client(org.intake)
    r = c.post(
        "/imports/",
        {"file": SimpleUploadedFile("cc.csv", write_csv(tmp_path / "cc.csv", good_rows(3)).read_bytes())},
    )
    upload = ImportUpload.objects.get()
    html = c.get(f"/imports/uploads/{upload.pk}/?source=cc").content.decode()
    assert HEADER[3] == "投诉类别" and _selected(html, "col-3") == "category"  # proposed by its name

    form = {
        "source": "cc",
        "described_with": "cc",
        "name": "呼叫中心",
        "system": "cc",
        "date_order": "ymd",
        "invalid_id_number": "reject",
        "closed_without_time": "reject",
        "unknown_codes": "reject",
    }
    for i in range(len(HEADER)):
        form[f"col-{i}"] = _selected(html, f"col-{i}") or ""
    form["col-3"] = ""  # (不导入)
    r = c.post(f"/imports/uploads/{upload.pk}/", form)
    assert r.status_code == 302, r.content.decode()[:3000]
    source = ImportSource.objects.get(code="cc")
    assert source.mapping["category"] == []  # "not in this file", not "use the built-in names"
    html = c.get(f"/imports/uploads/{upload.pk}/?source=cc").content.decode()
    assert _selected(html, "col-3") is None and _selected(html, "col-1") == "received_at"

    r = c.post(f"/imports/uploads/{upload.pk}/commit/")
    batch = ImportBatch.objects.get(mode="commit")
    assert batch.state == "completed" and batch.created == 3, batch.summary()
    assert Case.objects.count() == 3 and not Case.objects.filter(category__isnull=False).exists()
