"""An archived file goes on living: 报送 to a regulator filed with compliance, and later lawsuit or media
material added with a record — the case stays archived and its event chain stays whole."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kesu.cases import chain
from kesu.cases.models import Attachment, RegulatorSubmission, Status
from kesu.cases.services import perform
from kesu.cases.walk import Cast, Walk, walk_to
from kesu.errors import Forbidden, IllegalTransition
from kesu.sla.models import Notification
from tests import factories

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n"


def archived(o):
    approvers = {"supervisor": o.supervisor, "cs_manager": o.manager, "general_manager": o.gm}
    walk = Walk(factories.make_case(o.intake))
    cast = Cast(
        intake=o.intake,
        handler=o.handler,
        approver=approvers.__getitem__,
        followup=o.followup,
        archivist=o.archivist,
    )
    return walk_to(walk, Status.ARCHIVED, cast).case


def client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_a_regulator_submission_is_filed_with_compliance(org):
    case = archived(org)
    response = client(org.archivist).post(
        f"/api/v1/cases/{case.number}/file_regulator_submission",
        {
            "regulator": "上海金融监管局",
            "sent_at": "2026-12-01T10:00:00+08:00",
            "contents": "投诉处理案卷副本及答复函",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["case"]["status"] == Status.ARCHIVED
    submission = RegulatorSubmission.objects.get(case=case)
    assert (submission.regulator, submission.sent_by) == ("上海金融监管局", org.archivist)
    event = case.events.get(action="file_regulator_submission")
    assert event.payload["regulator"] == "上海金融监管局" and event.payload["contents"].startswith("投诉处理")
    # Compliance hears of it at once and keeps the register: to whom, when, by whom, what.
    assert Notification.objects.filter(user=org.risk, case=case, kind="handoff.regulator_submission").exists()
    register = client(org.risk).get("/regulator-submissions/")
    assert register.status_code == 200
    page = register.content.decode()
    assert case.number in page and "上海金融监管局" in page and "2026-12-01 10:00" in page
    assert "投诉处理案卷副本及答复函" in page and "archivist" in page
    # Others neither keep the register nor file to it.
    assert client(org.handler).get("/regulator-submissions/").status_code == 403
    with pytest.raises(Forbidden):
        perform(case, "file_regulator_submission", org.supervisor, regulator="某局", contents="案卷")
    # The archive keeper sees the submission on the case page.
    assert "上海金融监管局" in client(org.archivist).get(f"/cases/{case.number}/").content.decode()


def test_later_lawsuit_material_joins_the_archive_without_unarchiving_it(org):
    case = archived(org)
    archived_at, version = case.archived_at, case.version
    # The ordinary evidence upload is closed once the file is archived.
    with pytest.raises(IllegalTransition):
        perform(case, "attach", org.handler, file={"stored_name": "0" * 32})
    response = client(org.archivist).post(
        f"/api/v1/cases/{case.number}/archive-materials",
        {
            "file": SimpleUploadedFile("起诉状.pdf", PDF, content_type="application/pdf"),
            "material": "lawsuit",
            "note": "客户向法院起诉，收到起诉状副本",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["archive_material"] == "lawsuit"
    case.refresh_from_db()
    assert case.status == Status.ARCHIVED and case.archived_at == archived_at
    assert case.version == version + 1
    attachment = Attachment.objects.get(case=case, archive_material="lawsuit")
    event = case.events.get(action="add_archive_material")
    assert event.payload["sha256"] == attachment.sha256 and event.payload["material"] == "lawsuit"
    assert event.from_status == event.to_status == Status.ARCHIVED
    # The hash chain runs on through the new event: nothing before it was rewritten.
    assert chain.verify_cases().ok
    assert event.prev_hash == case.events.get(seq=version).hash
    # The case page lists it as material added after archiving.
    page = client(org.archivist).get(f"/cases/{case.number}/").content.decode()
    assert "起诉状.pdf" in page and "归档后补充" in page and "诉讼材料" in page
    assert "材料类别：诉讼材料" in page  # the timeline entry, in words
    # Only the archive keeper and compliance add to an archive.
    for person in (org.supervisor, org.handler):
        denied = client(person).post(
            f"/api/v1/cases/{case.number}/archive-materials",
            {
                "file": SimpleUploadedFile("报道.pdf", PDF, content_type="application/pdf"),
                "material": "media",
            },
        )
        assert denied.status_code in (403, 404), denied.content
    assert not Attachment.objects.filter(case=case, archive_material="media").exists()


def test_the_material_kind_is_required(org):
    case = archived(org)
    response = client(org.archivist).post(
        f"/api/v1/cases/{case.number}/archive-materials",
        {"file": SimpleUploadedFile("x.pdf", PDF, content_type="application/pdf"), "material": "gossip"},
    )
    assert response.status_code == 422 and "material" in response.json()["details"]
    assert not Attachment.objects.filter(case=case).exists()
