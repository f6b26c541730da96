"""The public complainant portal: submit, progress check, whistle-blowing, abuse protection."""

import uuid

from django.test import Client

from kesu.cases.models import Case, Kind, Status
from tests import factories


def submit_data(**overrides):
    data = {
        "client_key": uuid.uuid4().hex,
        "name": "赵女士",
        "phone": "13812345678",
        "kind": "complaint",
        "category": "delivery",
        "description": "订购的冰箱两周还没有送到，客服电话一直占线。",
        "demands": "尽快送货",
        "consent": "on",
    }
    data.update(overrides)
    return data


def test_customer_submits_and_gets_a_case_number(client, org):
    r = client.post("/portal/submit/", submit_data(), follow=True)
    case = Case.objects.get()
    html = r.content.decode()
    assert case.number in html and "提交成功" in html
    assert case.channel.code == "web" and case.created_by is None
    # a reload of the result page does not show it again, a resubmission does not create a second case
    assert client.get("/portal/done/").status_code == 302


def test_resubmitting_the_same_form_creates_one_case(client, org):
    data = submit_data()
    client.post("/portal/submit/", data)
    client.post("/portal/submit/", data)
    assert Case.objects.count() == 1


def test_consent_is_required(client, org):
    r = client.post("/portal/submit/", submit_data(consent=""))
    assert r.status_code == 200 and Case.objects.count() == 0


def test_csrf_is_enforced(org):
    strict = Client(enforce_csrf_checks=True)
    r = strict.post("/portal/submit/", submit_data())
    assert r.status_code == 403 and Case.objects.count() == 0


def test_progress_shows_status_and_public_events_only(client, org):
    case = factories.make_case(org.intake, customer={"name": "钱先生", "phone": "13566667777"})
    staff = Client()
    staff.force_login(org.intake)
    staff.post(
        f"/cases/{case.number}/act/accept/",
        {"expected_version": 1, "kind": "complaint", "category": "product.defect"},
    )
    staff.post(
        f"/cases/{case.number}/act/assign/",
        {"expected_version": 2, "handler": str(org.handler.pk), "department": "QUALITY"},
    )
    staff.force_login(org.handler)
    staff.post(
        f"/cases/{case.number}/act/start_investigation/",
        {"expected_version": 3, "note": "内部备注：客户情绪激动"},
    )
    staff.post(f"/cases/{case.number}/act/add_note/", {"expected_version": 4, "text": "内部记录：供应商责任"})
    r = client.post("/portal/progress/", {"number": case.number, "phone_last4": "7777"})
    html = r.content.decode()
    assert r.status_code == 200 and 'id="progress-status">处理中<' in html
    assert "受理" in html
    for secret in ("内部备注", "内部记录", "handler", "intake", "经办人"):
        assert secret not in html, secret


def test_wrong_digits_and_unknown_number_get_the_same_answer(client, org):
    case = factories.make_case(org.intake, customer={"name": "孙", "phone": "13511112222"})
    wrong_digits = client.post("/portal/progress/", {"number": case.number, "phone_last4": "0000"})
    unknown = client.post("/portal/progress/", {"number": "TS202001019999", "phone_last4": "2222"})
    assert wrong_digits.status_code == unknown.status_code == 200

    def result(resp):
        html = resp.content.decode()
        start = html.index('id="progress-error"')
        return html[start : html.index("</div>", start)]

    assert result(wrong_digits) == result(unknown)
    assert case.number not in unknown.content.decode()


def test_progress_check_is_rate_limited_per_case_number(org):
    case = factories.make_case(org.intake, customer={"name": "周", "phone": "13533334444"})
    statuses = []
    for i in range(7):
        c = Client(REMOTE_ADDR=f"10.0.0.{i + 1}")  # different addresses: the per-case limit still applies
        statuses.append(
            c.post("/portal/progress/", {"number": case.number, "phone_last4": f"{i:04d}"}).status_code
        )
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    # even the right digits are refused now: guessing cannot continue
    r = Client(REMOTE_ADDR="10.0.1.1").post(
        "/portal/progress/", {"number": case.number, "phone_last4": "4444"}
    )
    assert r.status_code == 429


def test_submissions_are_rate_limited_per_address(client, org):
    codes = [client.post("/portal/submit/", submit_data()).status_code for _ in range(7)]
    assert codes[:5] == [302] * 5 and codes[-1] == 429
    assert Case.objects.count() == 5


def test_oversized_request_is_refused(client, org, settings):
    settings.KESU_ATTACHMENT_MAX_BYTES = 1000
    big = b"%PDF-1.4\n" + b"0" * 5_000_000
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = client.post("/portal/submit/", {**submit_data(), "attachments": SimpleUploadedFile("a.pdf", big)})
    assert r.status_code == 413 and Case.objects.count() == 0


def test_anonymous_whistle_blowing_with_a_secret_token(client, org):
    r = client.post(
        "/portal/report/",
        {
            "client_key": uuid.uuid4().hex,
            "anonymous": "on",
            "subject": "采购回扣",
            "consent": "on",
            "description": "某采购经理收受供应商回扣，金额较大。",
        },
        follow=True,
    )
    case = Case.objects.get()
    assert case.kind == Kind.REPORT and case.is_anonymous and case.customer is None
    html = r.content.decode()
    start = html.index('id="reporter-token">') + len('id="reporter-token">')
    token = html[start : html.index("<", start)]
    assert len(token) > 20
    ok = client.post("/portal/report/status/", {"number": case.number, "token": token})
    assert 'id="progress-status">已登记<' in ok.content.decode()
    bad = client.post("/portal/report/status/", {"number": case.number, "token": "guess"})
    assert "查询密钥不正确" in bad.content.decode() and "progress-status" not in bad.content.decode()
    # a report is never shown through the phone-digits check
    assert (
        "progress-status"
        not in client.post(
            "/portal/progress/", {"number": case.number, "phone_last4": "0000"}
        ).content.decode()
    )
    # and ordinary staff cannot open it
    staff = Client()
    staff.force_login(org.supervisor)
    assert staff.get(f"/cases/{case.number}/").status_code == 404
    staff.force_login(org.risk)
    assert staff.get(f"/cases/{case.number}/").status_code == 200


def test_portal_case_is_picked_up_by_intake(client, org):
    client.post("/portal/submit/", submit_data())
    staff = Client()
    staff.force_login(org.intake)
    case = Case.objects.get()
    assert case.status == Status.REGISTERED
    assert case.number in staff.get("/queues/unassigned/").content.decode()


def test_portal_attachment_is_kept_with_the_case(client, org, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = client.post(
        "/portal/submit/",
        {**submit_data(), "attachments": SimpleUploadedFile("发票.png", png, content_type="image/png")},
        follow=True,
    )
    case = Case.objects.get()
    assert "未能保存" not in r.content.decode()
    assert case.attachments.get().original_name == "发票.png"


def test_portal_refuses_a_file_that_is_not_what_it_claims(client, org, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    r = client.post(
        "/portal/submit/",
        {**submit_data(), "attachments": SimpleUploadedFile("x.pdf", b"MZ\x90\x00 not a pdf")},
        follow=True,
    )
    case = Case.objects.get()
    assert "1 个附件未能保存" in r.content.decode()
    assert not case.attachments.exists()
    # A refused file never reaches the storage.
    assert not (tmp_path / "attachments").exists() or not any((tmp_path / "attachments").iterdir())
