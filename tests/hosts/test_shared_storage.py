"""Files every host can read: attachments and reports go through Django's storage API only.

Against a real S3-compatible server (SeaweedFS on loopback, tests/hosts/s3server.py): what one host
stores is in the bucket, not on its disk, and is read back through the storage; a refused upload
leaves nothing in the bucket.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from kesu.analytics import reports
from kesu.analytics.periods import Period
from kesu.cases.attachments import AttachmentTypeMismatch, attach_file, open_attachment
from tests import factories

PDF = b"%PDF-1.7\n1 0 obj\n" + b"0" * 100


class Bucket:
    """The test's own part of the bucket (a key prefix: the server is shared by the module's tests)."""

    def __init__(self, server, prefix: str):
        self.server, self.prefix = server, prefix

    def keys(self, under: str) -> list[str]:
        return [k.removeprefix(self.prefix + "/") for k in self.server.keys(f"{self.prefix}/{under}")]

    def read(self, key: str) -> bytes:
        obj = self.server.client().get_object(Bucket=self.server.bucket, Key=f"{self.prefix}/{key}")
        return obj["Body"].read()


@pytest.fixture
def s3_storage(s3_server, settings, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings.STORAGES = s3_server.storages_setting(location=prefix)
    settings.MEDIA_ROOT = tmp_path / "media-must-stay-empty"
    return Bucket(s3_server, prefix)


def test_attachments_are_written_to_and_read_from_the_s3_bucket(org, s3_storage, settings):
    case = factories.make_case(org.intake)
    attachment = attach_file(case, org.intake, name="凭证.pdf", content=PDF)

    assert s3_storage.keys("attachments/") == [f"attachments/{attachment.stored_name}"]
    body = s3_storage.read(f"attachments/{attachment.stored_name}")
    assert hashlib.sha256(body).hexdigest() == attachment.sha256
    found, handle = open_attachment(org.intake, number=case.number, attachment_id=attachment.pk)
    with handle:
        assert handle.read() == PDF
    assert found.pk == attachment.pk
    assert not settings.MEDIA_ROOT.exists()


def test_a_refused_attachment_leaves_nothing_in_the_bucket(org, s3_storage, settings):
    case = factories.make_case(org.intake)
    with pytest.raises(AttachmentTypeMismatch):
        attach_file(case, org.intake, name="x.pdf", content=b"MZ\x90\x00 not a pdf")
    assert s3_storage.keys("attachments/") == []
    assert not settings.MEDIA_ROOT.exists()


def test_reports_are_archived_in_the_bucket_and_read_back(org, s3_storage, settings):
    report = reports.generate("daily", Period.parse("2025-11-05"), "html")
    assert s3_storage.keys("reports/") == [f"reports/{report.file_name}"]
    content = reports.read_report(report)
    assert hashlib.sha256(content).hexdigest() == report.sha256
    assert "投诉分析日报" in content.decode("utf-8")
    assert not settings.MEDIA_ROOT.exists()


def test_a_backup_holds_the_bucket_and_a_restore_puts_it_back(
    transactional_db, s3_storage, settings, tmp_path
):
    """The backup reads the files through the storage (here the bucket, not a directory), and the
    restore writes them back under their own keys: a lost object returns, a damaged one is replaced."""
    import io

    from django.core.management import call_command

    from kesu.trust.backup import read_manifest, restore
    from tests.trust.test_backup import _fresh_target

    o = factories.org()
    case = factories.make_case(o.intake)
    kept = attach_file(case, o.intake, name="凭证.pdf", content=PDF)
    lost = attach_file(case, o.intake, name="发票.pdf", content=PDF + b"2")
    report = reports.generate("daily", Period.parse("2025-11-05"), "html")
    archive = tmp_path / "kesu.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    names = {
        f"attachments/{kept.stored_name}",
        f"attachments/{lost.stored_name}",
        f"reports/{report.file_name}",
    }
    assert set(read_manifest(archive)["media"]) == names

    client = s3_storage.server.client()
    client.delete_object(
        Bucket=s3_storage.server.bucket, Key=f"{s3_storage.prefix}/attachments/{lost.stored_name}"
    )
    client.put_object(
        Bucket=s3_storage.server.bucket,
        Key=f"{s3_storage.prefix}/attachments/{kept.stored_name}",
        Body=b"damaged",
    )
    url, drop = _fresh_target(tmp_path)
    try:
        result = restore(archive, database_url=url)
    finally:
        drop()
    assert result["files"] == 3
    assert set(s3_storage.keys("")) == names
    assert hashlib.sha256(s3_storage.read(f"attachments/{kept.stored_name}")).hexdigest() == kept.sha256
    assert hashlib.sha256(s3_storage.read(f"attachments/{lost.stored_name}")).hexdigest() == lost.sha256
    assert not settings.MEDIA_ROOT.exists()
