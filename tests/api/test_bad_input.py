"""Every bad input of issue 2 through the API: the exact status and code, and nothing changed."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from kesu.org import roles
from tests import factories
from tests.api.conftest import BASE, db_state, stored_files, walk_to


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


# --- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"category": "no.such.category"}, "category", "未知分类"),
        ({"channel": "carrier_pigeon"}, "channel", "未知渠道"),
        ({"customer": {"name": "张三"}}, "customer.phone", "须提供至少一种联系方式（电话、邮箱或地址）"),
    ],
    ids=["unknown_category", "unknown_channel", "missing_contact"],
)
def test_invalid_registration_is_refused_and_creates_nothing(api, org, overrides, field, reason):
    before = db_state()
    r = api(org.intake).post(
        "/cases", factories.complaint_data(**overrides), headers={"Idempotency-Key": "k1"}
    )
    body = assert_error(r, 422, "validation_error")
    assert body["details"][field] == reason
    assert db_state() == before


def test_missing_required_fields_and_wrong_types_give_field_details(api, org):
    before = db_state()
    r = api(org.intake).post("/cases", {"channel": "phone", "people_count": "many", "flags": ["ufo"]})
    body = assert_error(r, 422, "validation_error")
    assert {"description", "people_count", "flags.0"} <= set(body["details"])
    r = api(org.intake).post("/cases", {**factories.complaint_data(), "colour": "red"})
    body = assert_error(r, 422, "validation_error")
    assert "colour" in body["details"]
    assert db_state() == before


def test_duplicate_idempotency_key_with_a_different_body_is_refused(api, org):
    intake = api(org.intake)
    data = factories.complaint_data()
    first = intake.post("/cases", data, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 201
    before = db_state()
    again = intake.post("/cases", data, headers={"Idempotency-Key": "order-42"})
    assert again.status_code == 200
    assert again.json()["case"]["number"] == first.json()["case"]["number"]
    assert again.json()["created"] is False
    different = intake.post(
        "/cases", {**data, "description": "另一件事"}, headers={"Idempotency-Key": "order-42"}
    )
    assert_error(different, 409, "idempotency_key_reused")
    assert db_state() == before


# --- malformed requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"channel": "phone", ', b"\xff\xfe not json", b"{'single': 'quotes'}"],
    ids=["cut", "bytes", "quotes"],
)
def test_malformed_json_is_a_400_and_changes_nothing(api, org, raw):
    case = factories.make_case(org.intake)
    before = db_state(case)
    assert_error(api(org.intake).post("/cases", raw=raw), 400, "malformed_json")
    assert_error(api(org.intake).post(f"/cases/{case.number}/accept", raw=raw), 400, "malformed_json")
    assert db_state(case) == before


def test_json_that_is_not_an_object_is_a_422(api, org):
    case = factories.make_case(org.intake)
    before = db_state(case)
    assert_error(api(org.intake).post(f"/cases/{case.number}/accept", [1, 2]), 422, "validation_error")
    assert db_state(case) == before


def test_unknown_case_action_and_url_are_json_404s(api, org):
    case = factories.make_case(org.intake)
    assert_error(api(org.intake).get("/cases/TS000000000000"), 404, "not_found")
    assert_error(api(org.intake).post("/cases/TS000000000000/accept", {}), 404, "not_found")
    assert_error(api(org.intake).post(f"/cases/{case.number}/teleport", {}), 404, "not_found")
    assert_error(api(org.intake).get("/no/such/endpoint"), 404, "not_found")


def test_bad_cursor_and_filter_values_are_422(api, org):
    assert_error(api(org.supervisor).get("/cases", {"cursor": "not-a-cursor"}), 422, "invalid_cursor")
    body = assert_error(api(org.supervisor).get("/cases", {"status": "sleeping"}), 422, "validation_error")
    assert "status" in body["details"]
    body = assert_error(api(org.supervisor).get("/cases", {"limit": 500}), 422, "validation_error")
    assert "limit" in body["details"]
    body = assert_error(
        api(org.supervisor).get("/cases", {"received_from": "yesterday"}), 422, "validation_error"
    )
    assert "received_from" in body["details"]


# --- the lifecycle -----------------------------------------------------------------------------


def test_illegal_transition_is_a_409(api, org):
    case = factories.make_case(org.intake)
    before = db_state(case)
    body = assert_error(
        api(org.supervisor).post(f"/cases/{case.number}/close", {"criterion": "accepted"}),
        409,
        "illegal_transition",
    )
    assert body["details"] == {"status": "registered", "action": "close"}
    assert db_state(case) == before


def test_stale_version_is_a_409_version_conflict(api, org):
    case = factories.make_case(org.intake)
    intake = api(org.intake)
    intake.act(case.number, "accept", {"expected_version": 1})
    before = db_state(case)
    body = assert_error(
        intake.post(f"/cases/{case.number}/assign", {"handler": "handler", "expected_version": 1}),
        409,
        "version_conflict",
    )
    assert body["details"]["current_version"] == 2
    assert [c["action"] for c in body["details"]["changes"]] == ["accept"]
    assert db_state(case) == before


def test_approval_above_authority_is_a_403(api, org):
    case = walk_to(api, org, "pending_approval")  # 5000 yuan: supervisor, then cs_manager
    api(org.supervisor).act(case.number, "approve")
    before = db_state(case)
    # The second step needs the customer-service manager; another supervisor may not approve it.
    body = assert_error(
        api(org.supervisor2).post(f"/cases/{case.number}/approve", {}), 403, "above_authority"
    )
    assert body["details"] == {"required_role": "cs_manager"}
    assert db_state(case) == before


def test_follow_up_by_the_handler_is_a_403(api, org):
    org.handler.groups.add(Group.objects.get(name=roles.FOLLOWUP))  # the handler also does follow-ups
    case = walk_to(api, org, "pending_approval")
    api(org.supervisor).act(case.number, "approve")
    api(org.manager).act(case.number, "approve")
    api(org.handler).act(case.number, "reply", {"text": "已处理"})
    api(org.handler).act(case.number, "close", {"criterion": "accepted"})
    before = db_state(case)
    assert_error(
        api(org.handler).post(f"/cases/{case.number}/follow_up", {"score": 2}), 403, "involved_in_case"
    )
    assert db_state(case) == before


def test_wrong_department_is_a_404_like_a_missing_case(api, org):
    case = walk_to(api, org, "assigned")  # responsible: QUALITY
    before = db_state(case)
    # A handler of the claims department neither sees nor works on a quality case, and cannot tell it
    # from a number that does not exist.
    hidden = api(org.claims_handler).get(f"/cases/{case.number}")
    assert_error(hidden, 404, "not_found")
    assert hidden.json() == api(org.claims_handler).get("/cases/TS209901010001").json()
    assert_error(
        api(org.claims_handler).post(f"/cases/{case.number}/start_investigation", {}), 404, "not_found"
    )
    assert case.number not in [c["number"] for c in api(org.claims_handler).get("/cases").json()["items"]]
    assert db_state(case) == before


def test_role_without_the_action_is_a_403(api, org):
    case = factories.make_case(org.intake)
    before = db_state(case)
    assert_error(api(org.analyst).post(f"/cases/{case.number}/accept", {}), 403, "role_not_allowed")
    assert db_state(case) == before


def test_invalid_action_body_is_a_422_and_changes_nothing(api, org):
    case = walk_to(api, org, "investigating")
    before = db_state(case)
    handler = api(org.handler)
    body = assert_error(
        handler.post(f"/cases/{case.number}/propose_remedy", {"remedy_type": "bribe", "description": "x"}),
        422,
        "validation_error",
    )
    assert "remedy_type" in body["details"]
    body = assert_error(
        handler.post(
            f"/cases/{case.number}/propose_remedy",
            {"remedy_type": "refund", "amount": "-1", "description": "x"},
        ),
        422,
        "validation_error",
    )
    assert "amount" in body["details"]
    assert_error(
        handler.post(f"/cases/{case.number}/add_note", {"text": "x"}, headers={"If-Match": "abc"}),
        422,
        "validation_error",
    )
    assert db_state(case) == before


# --- authentication ----------------------------------------------------------------------------


def test_unauthenticated_requests_are_401_and_change_nothing(org):
    case = factories.make_case(org.intake)
    before = db_state(case)
    anonymous = Client()
    assert_error(anonymous.get(f"{BASE}/cases"), 401, "not_authenticated")
    assert_error(anonymous.get(f"{BASE}/cases/{case.number}"), 401, "not_authenticated")
    r = anonymous.post(f"{BASE}/cases", factories.complaint_data(), content_type="application/json")
    assert_error(r, 401, "not_authenticated")
    r = anonymous.post(f"{BASE}/cases/{case.number}/accept", {}, content_type="application/json")
    assert_error(r, 401, "not_authenticated")
    r = anonymous.get(f"{BASE}/cases", headers={"Authorization": "Bearer ksu_not-a-real-token"})
    assert_error(r, 401, "not_authenticated")
    assert db_state(case) == before


# --- attachments -------------------------------------------------------------------------------


def _upload(api, user, number, name, content):
    return api(user).upload(f"/cases/{number}/attachments", {"file": _file(name, content)})


def _file(name, content):
    f = io.BytesIO(content)
    f.name = name
    return f


def test_oversized_attachment_is_refused(api, org, media, settings):
    settings.KESU_ATTACHMENT_MAX_BYTES = 1024
    case = factories.make_case(org.intake)
    before = db_state(case)
    r = _upload(api, org.intake, case.number, "scan.pdf", b"%PDF-1.7\n" + b"0" * 2000)
    body = assert_error(r, 413, "attachment_too_large")
    assert body["details"]["max_bytes"] == 1024
    assert db_state(case) == before
    assert stored_files(media) == []


def test_disguised_attachment_is_refused(api, org, media):
    case = factories.make_case(org.intake)
    before = db_state(case)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    body = assert_error(
        _upload(api, org.intake, case.number, "invoice.pdf", exe), 422, "attachment_type_mismatch"
    )
    assert body["details"]["declared"] == ".pdf"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    assert_error(_upload(api, org.intake, case.number, "photo.jpg", png), 422, "attachment_type_mismatch")
    assert_error(_upload(api, org.intake, case.number, "tool.exe", exe), 422, "attachment_type_not_allowed")
    assert db_state(case) == before
    assert stored_files(media) == []


def test_oversized_json_body_is_a_413(api, org, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = db_state()
    r = api(org.intake).post("/cases", factories.complaint_data(description="长" * 20_000))
    assert_error(r, 413, "payload_too_large")
    assert db_state() == before


def test_wrong_method_is_a_json_405(api, org):
    case = factories.make_case(org.intake)
    r = api(org.intake).client.delete(
        f"{BASE}/cases/{case.number}", headers={"Authorization": f"Bearer {api(org.intake).key}"}
    )
    body = assert_error(r, 405, "method_not_allowed")
    assert "GET" in body["details"]["allowed"]


GARBAGE_BODIES = [
    {},
    {"expected_version": "x"},
    {"expected_version": 0},
    {"expected_version": 10**12},
    {"amount": "NaN", "premium": "Infinity", "remedy_type": "refund", "description": "x"},
    {"amount": "1e400", "remedy_type": "refund", "description": "x"},
    {"handler": "nobody", "department": "NOWHERE"},
    {"participants": ["nobody", "ghost"], "topic": "x"},
    {"request_id": 10**9, "review_id": 10**9, "accountability_id": 10**9, "proposal_id": 10**9},
    {"text": None, "reason": ["list"], "answer": {"a": 1}, "score": 99, "level": "apocalyptic"},
    {"criterion": "bribed", "reason": "x" * 6000},
]


def test_no_garbage_body_produces_a_server_error(api, org):
    case = walk_to(api, org, "investigating")
    from kesu.api.schemas.case_requests import ACTION_SCHEMAS

    before = db_state(case)
    for action in ACTION_SCHEMAS:
        for body in GARBAGE_BODIES:
            r = api(org.supervisor).post(f"/cases/{case.number}/{action}", body)
            assert r.status_code < 500, (action, body, r.content.decode())
            assert r.status_code >= 400 or body == {}, (action, body, r.status_code)
            if r.status_code < 400:  # an action that accepts an empty body (e.g. re-route) ran
                before = db_state(case)
            else:
                assert {"code", "message", "details"} <= set(r.json()), (action, body)
    after = db_state(case)
    assert after == before


def test_intake_registering_a_whistle_blowing_report_gets_the_result(api, org):
    data = {"channel": "phone", "kind": "report", "description": "举报销售误导", "is_anonymous": True}
    r = api(org.intake).post("/cases", data)
    assert r.status_code == 201, r.content.decode()
    assert r.json()["reporter_token"]
    assert api(org.intake).get(f"/cases/{r.json()['case']['number']}").status_code == 404


def test_absurd_instants_are_refused_with_422_not_a_server_error(api, org):
    intake = api(org.intake)
    # An offset PostgreSQL refuses and a year whose date arithmetic overflows.
    r = intake.get("/cases?received_from=0277-06-25T02:08:05%2B16:12")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = intake.post(
        "/insight/related", {"text": "退款", "received_at": "0001-01-01T00:00:00Z", "window_days": 100}
    )
    assert r.status_code == 422
    r = intake.post("/cases", {**factories.complaint_data(), "received_at": "1900-01-01T00:00:00+08:00"})
    assert r.status_code == 422


def test_text_no_database_can_store_is_refused_before_any_write(api, org):
    """A NUL character or an unpaired surrogate (both valid JSON escapes) would make PostgreSQL refuse
    the row half-way through a write; the API refuses the request instead, and nothing is stored."""
    intake = api(org.intake)
    before = db_state()
    for path, body in (
        (
            "/cases",
            '{"channel": "phone", "description": "漏水\\u0000", "customer": {"phone": "13900000001"}}',
        ),
        (
            "/cases",
            '{"channel": "phone", "description": "漏水\\ud800", "customer": {"phone": "13900000001"}}',
        ),
        ("/intake/batch", '{"items": [{"\\u0000": 1}]}'),
    ):
        r = intake.post(path, raw=body.encode())
        assert r.status_code == 400 and r.json()["code"] == "malformed_json", r.content
    assert db_state() == before
