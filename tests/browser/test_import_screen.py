"""The import screen in a browser: upload a file → the proposed mapping → one column set to
"（不导入）" although its header is a built-in name → validate → import → download the report."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from kesu.cases.models import Case
from kesu.intake.models import ImportBatch, ImportSource
from kesu.intake.services import save_source
from tests.intake.helpers import HEADER, crm_source, good_rows, write_csv


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_upload_skip_a_column_validate_import_and_download_the_report(session, borg, media, tmp_path):
    save_source("cc", name="呼叫中心", value_maps=crm_source("tmp").value_maps)
    rows = good_rows(4)
    rows[3][5] = "1390000"  # not a phone number: rejected, with its row and reason in the report
    path = write_csv(tmp_path / "呼叫中心.csv", rows)
    assert HEADER[3] == "投诉类别"  # a built-in name of the category field

    p = session("intake").page
    p.goto("/imports/")
    p.set_input_files("#import-file", str(path))
    p.select_option("#import-source", "cc")
    with p.expect_navigation():
        p.click("#import-upload button[type=submit]")
    assert re.search(r"/imports/uploads/\d+/", p.url)

    category = p.locator('select[aria-label="投诉类别"]')
    assert category.input_value() == "category"  # proposed from the header name
    category.select_option(label="（不导入）")
    with p.expect_navigation():
        p.click("#import-validate")
    assert ImportSource.objects.get(code="cc").mapping["category"] == []  # not "the built-in names"
    p.wait_for_selector("#result")
    assert p.locator('select[aria-label="投诉类别"]').input_value() == ""  # the choice holds
    assert "1390000" in p.locator("#result").inner_text()

    with p.expect_navigation():
        p.click("#import-commit")
    batch = ImportBatch.objects.get(mode="commit")
    assert (batch.state, batch.created, batch.rejected) == ("completed", 3, 1), batch.summary()
    assert Case.objects.count() == 3 and not Case.objects.filter(category__isnull=False).exists()

    with p.expect_download() as info:
        p.click("text=下载报告（Excel）")
    ws = openpyxl.load_workbook(io.BytesIO(open(info.value.path(), "rb").read()))["拒绝明细"]
    rejected = [row for row in ws.iter_rows(values_only=True) if row[5] == "拒绝"]
    assert [r[:3] for r in rejected] == [(5, "WO000004", "联系电话")]
