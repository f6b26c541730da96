"""Evidence files: upload, download, type checks and permission."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from kesu.cases.models import Attachment
from tests import factories
from tests.api.conftest import db_state, stored_files


def _file(name: str, content: bytes):
    f = io.BytesIO(content)
    f.name = name
    return f


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


SAMPLES = {
    "凭证.pdf": b"%PDF-1.7\n1 0 obj\n",
    "photo.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
    "photo.JPG": b"\xff\xd8\xff\xe0" + b"\x00" * 32,
    "anim.gif": b"GIF89a" + b"\x00" * 32,
    "pic.webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32,
    "合同.docx": _docx(),
    "说明.txt": "客户来电说明：热水器漏水。\n".encode(),
    "call.mp3": b"ID3\x03\x00" + b"\x00" * 32,
    "call.wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32,
    "call.amr": b"#!AMR\n" + b"\x00" * 32,
    "call.m4a": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 32,
}


def test_upload_and_download_an_evidence_file(api, org, media):
    case = factories.make_case(org.intake)
    intake = api(org.intake)
    content = SAMPLES["凭证.pdf"]
    r = intake.upload(
        f"/cases/{case.number}/attachments", {"file": _file("凭证.pdf", content)}, {"note": "发票"}
    )
    assert r.status_code == 201, r.content.decode()
    att = r.json()
    assert att["name"] == "凭证.pdf" and att["size"] == len(content)
    assert att["sha256"] == hashlib.sha256(content).hexdigest()
    stored = Attachment.objects.get(pk=att["id"])
    assert stored_files(media) == [stored.stored_name]
    assert "凭证" not in stored.stored_name

    detail = intake.get(f"/cases/{case.number}").json()
    assert detail["events"][-1]["action"] == "attach"
    assert detail["events"][-1]["payload"]["note"] == "发票"
    assert detail["version"] == 2
    assert [a["id"] for a in detail["attachments"]] == [att["id"]]

    r = intake.get(att["url"].removeprefix("/api/v1"))
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == content
    assert r["Content-Disposition"].startswith("attachment;")
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_allowed_type_is_recognised(api, org, media, name):
    case = factories.make_case(org.intake)
    r = api(org.intake).upload(f"/cases/{case.number}/attachments", {"file": _file(name, SAMPLES[name])})
    assert r.status_code == 201, r.content.decode()


def test_a_zip_that_is_not_a_docx_and_binary_text_are_refused(api, org, media):
    case = factories.make_case(org.intake)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("payload.exe", "MZ")
    intake = api(org.intake)
    before = db_state(case)
    r = intake.upload(f"/cases/{case.number}/attachments", {"file": _file("report.docx", buf.getvalue())})
    assert r.status_code == 422 and r.json()["code"] == "attachment_type_mismatch"
    r = intake.upload(f"/cases/{case.number}/attachments", {"file": _file("notes.txt", b"abc\x00\x01def")})
    assert r.status_code == 422 and r.json()["code"] == "attachment_type_mismatch"
    r = intake.upload(f"/cases/{case.number}/attachments", {"file": _file("empty.pdf", b"")})
    assert r.status_code == 422 and r.json()["code"] == "attachment_empty"
    assert db_state(case) == before
    assert stored_files(media) == []


def test_attachments_are_permission_checked(api, org, media):
    case = factories.make_case(org.intake)
    r = api(org.intake).upload(f"/cases/{case.number}/attachments", {"file": _file("a.txt", b"hello")})
    url = r.json()["url"].removeprefix("/api/v1")
    before = db_state(case)
    # The claims handler cannot see a case that is not theirs: neither download nor upload.
    # (404 like a missing case: a 403 would confirm the number.)
    assert api(org.claims_handler).get(url).status_code == 404
    r = api(org.claims_handler).upload(f"/cases/{case.number}/attachments", {"file": _file("b.txt", b"x")})
    assert r.status_code == 404
    assert api(org.intake).get(f"/cases/{case.number}/attachments/999999").status_code == 404
    assert db_state(case) == before
    assert len(stored_files(media)) == 1


def test_upload_with_a_stale_version_leaves_no_file(api, org, media):
    case = factories.make_case(org.intake)
    api(org.intake).act(case.number, "accept")
    before = db_state(case)
    r = api(org.intake).upload(
        f"/cases/{case.number}/attachments", {"file": _file("a.txt", b"hello")}, {"expected_version": 1}
    )
    assert r.status_code == 409 and r.json()["code"] == "version_conflict"
    assert db_state(case) == before
    assert stored_files(media) == []
