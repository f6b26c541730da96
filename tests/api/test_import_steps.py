"""The import screen's steps through the API: sources, upload, describe, validate, commit, report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
from django.core.files.storage import InMemoryStorage, Storage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from kesu.cases.models import Case
from kesu.intake.models import ImportSource, ImportUpload
from kesu.intake.uploads import storage_name
from tests.intake.helpers import HEADER, good_rows, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def imports_dir(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media" / "imports"


def _csv_bytes(tmp_path) -> bytes:
    rows = good_rows(4) + [["WO000009", "2026-03-05 09:00", "07", "A1", "赵六", "13900000009", "热水器漏水", "在办", "", ""]]  # fmt: skip
    return write_csv(tmp_path / "crm.csv", rows).read_bytes()


def test_sources_are_listed_created_and_updated_as_json_documents(api, org):
    a = api(org.intake)
    r = a.post("/intake/sources", {"code": "cc", "name": "呼叫中心", "options": {"date_order": "mdy"}})
    assert r.status_code == 201, r.content
    assert r.json()["system"] == "cc" and r.json()["options"] == {"date_order": "mdy"}
    assert a.post("/intake/sources", {"code": "cc"}).status_code == 409
    bad = a.post("/intake/sources", {"code": "x y"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    r = a.client.put(
        "/api/v1/intake/sources/cc",
        data=json.dumps({"options": {"system": "callcentre", "closed_without_time": "maybe"}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {a.key}"},
    )
    assert r.status_code == 422 and "closed_without_time" in r.json()["details"]
    r = a.client.put(
        "/api/v1/intake/sources/cc",
        data=json.dumps({"name": "95xxx 热线", "options": {"system": "callcentre"}, "mapping": {"external_id": ["单号"]}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {a.key}"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["system"] == "callcentre" and r.json()["name"] == "95xxx 热线"
    assert [s["code"] for s in a.get("/intake/sources").json()] == ["cc"]
    assert a.get("/intake/sources/nope").status_code == 404
    assert api(org.handler).get("/intake/sources").status_code == 403


def test_upload_describe_validate_commit_and_report(api, org, tmp_path, imports_dir):
    a = api(org.intake)
    r = a.upload("/intake/uploads", {"file": SimpleUploadedFile("华东.csv", _csv_bytes(tmp_path))})
    assert r.status_code == 201, r.content
    upload_id = r.json()["id"]
    stored = list(imports_dir.iterdir())
    assert len(stored) == 1 and "华东" not in stored[0].name  # a random name, never the user's
    # Another intake agent cannot reach it.
    assert api(org.supervisor).get(f"/intake/uploads/{upload_id}").status_code == 404

    doc = a.get(f"/intake/uploads/{upload_id}").json()
    assert doc["mapping"]["external_id"] == ["工单号"]  # built-in header names
    assert doc["mapping"]["category"] == ["投诉类别"] and doc["mapping"]["status"] == ["状态"]
    assert {"value": "01", "count": 4} in next(c for c in doc["columns"] if c["name"] == "渠道")["distinct"]
    assert doc["unmapped_values"]["channel"] == ["01", "07"] and doc["unmapped_values"]["category"] == ["A1"]

    # The user completes the value maps and saves the source.
    body = {
        "code": "crm-east",
        "name": "华东 CRM",
        "mapping": doc["mapping"],
        "value_maps": {"channel": {"01": "phone"}, "category": {"A1": "product.defect"},
                       "status": {"在办": "registered"}},
        "options": {"system": "crm"},
    }  # fmt: skip
    assert a.post("/intake/sources", body).status_code == 201
    doc = a.get(f"/intake/uploads/{upload_id}", {"source": "crm-east"}).json()
    assert doc["unmapped_values"] == {"channel": ["07"]} and doc["value_maps"]["channel"] == {"01": "phone"}

    r = a.post(f"/intake/uploads/{upload_id}/validate", {"source": "crm-east"})
    assert r.status_code == 200 and r.json()["mode"] == "validate"
    assert (r.json()["created"], r.json()["rejected"]) == (4, 1)
    assert not Case.objects.exists()

    r = a.post(f"/intake/uploads/{upload_id}/commit", {"source": "crm-east"})
    batch = r.json()
    assert r.status_code == 200 and batch["state"] == "completed" and batch["created"] == 4
    assert Case.objects.filter(external_source="crm").count() == 4
    assert not ImportUpload.objects.exists() and list(imports_dir.iterdir()) == []  # done: file deleted
    assert a.get(f"/intake/uploads/{upload_id}").status_code == 404

    report = a.get(f"/intake/imports/{batch['id']}/report", {"format": "xlsx"})
    assert report.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)))["拒绝明细"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:3] == (6, "WO000009", "渠道") and "07" in rows[1][4]


def test_uploads_only_take_spreadsheets_and_only_from_importing_roles(api, org, imports_dir):
    r = api(org.intake).upload("/intake/uploads", {"file": SimpleUploadedFile("a.exe", b"MZ")})
    assert r.status_code == 422 and r.json()["details"] == {"file": "csv / xlsx"}
    r = api(org.handler).upload("/intake/uploads", {"file": SimpleUploadedFile("a.csv", b"x")})
    assert r.status_code == 403
    assert not ImportUpload.objects.exists() and not any(imports_dir.glob("*"))
    assert not ImportSource.objects.exists()


def test_an_upload_is_kept_under_the_media_dir_only(api, org, tmp_path, imports_dir):
    a = api(org.intake)
    upload_id = a.upload(
        "/intake/uploads", {"file": SimpleUploadedFile("x.csv", _csv_bytes(tmp_path))}
    ).json()["id"]
    path = Path(default_storage.path(storage_name(ImportUpload.objects.get(pk=upload_id))))
    assert path.parent == imports_dir and path.read_bytes().startswith(",".join(HEADER[:2]).encode())


class RemoteStorage(Storage):
    """A storage on no host's disk, as S3: files only through the storage API (no `path`). The
    files live in one in-memory store shared by every instance, as a bucket is by every host."""

    files = InMemoryStorage()

    def _open(self, name, mode="rb"):
        return self.files._open(name, mode)

    def _save(self, name, content):
        return self.files._save(name, content)

    def exists(self, name):
        return self.files.exists(name)

    def delete(self, name):
        self.files.delete(name)

    def size(self, name):
        return self.files.size(name)


def test_the_steps_read_the_upload_through_the_storage_api(api, org, tmp_path, settings):
    """Several hosts: the file goes to the configured storage (here one without local paths, as S3),
    and the later steps, on a host whose local media directory is another, read it from there."""
    settings.MEDIA_ROOT = tmp_path / "web-host"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.api.test_import_steps.RemoteStorage"},
    }
    a = api(org.intake)
    r = a.upload("/intake/uploads", {"file": SimpleUploadedFile("华东.csv", _csv_bytes(tmp_path))})
    assert r.status_code == 201, r.content
    upload_id = r.json()["id"]
    name = storage_name(ImportUpload.objects.get(pk=upload_id))
    assert default_storage.exists(name)
    with pytest.raises(NotImplementedError):  # no local path to fall back on
        default_storage.path(name)

    settings.MEDIA_ROOT = tmp_path / "worker-host"
    doc = a.get(f"/intake/uploads/{upload_id}").json()
    assert doc["mapping"]["external_id"] == ["工单号"]
    body = {
        "code": "crm-east",
        "mapping": doc["mapping"],
        "value_maps": {"channel": {"01": "phone", "07": "web"}, "category": {"A1": "product.defect"},
                       "status": {"在办": "registered"}},
    }  # fmt: skip
    assert a.post("/intake/sources", body).status_code == 201
    r = a.post(f"/intake/uploads/{upload_id}/validate", {"source": "crm-east"})
    assert r.status_code == 200 and r.json()["created"] == 5, r.json()
    r = a.post(f"/intake/uploads/{upload_id}/commit", {"source": "crm-east"})
    assert r.status_code == 200 and r.json()["state"] == "completed" and r.json()["created"] == 5
    assert Case.objects.count() == 5
    assert not default_storage.exists(name)  # committed: deleted from the storage
    assert not (tmp_path / "web-host").exists() and not (tmp_path / "worker-host").exists()
