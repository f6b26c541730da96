"""Issue "Trust, attacked", part 3: bad input that used to reach a 500 or slip through is a clear 4xx
JSON error, and nothing is written."""

from __future__ import annotations

import io
import json

import pytest

from tests import factories
from tests.api.conftest import BASE, db_state, stored_files
from tests.api.test_bad_input import assert_error

# --- used to be 500s -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        ("9999-12-31T23:00:00", "100000 hours"),
        ("9999-12-31", "3 working days"),
        ("0001-01-01T00:00:00", "1 days"),  # answered +08:05:43, Shanghai's local mean time
        ("1969-12-31T23:59:59+08:00", "1 days"),
        ("2101-01-01", "1 days"),
        ("2026-03-02T09:00:00+16:00", "1 days"),
    ],
)
def test_deadline_start_outside_a_sane_range_is_a_422_naming_start(api, org, start, duration):
    body = assert_error(
        api(org.supervisor).get("/sla/deadline", {"start": start, "duration": duration}),
        422,
        "validation_error",
    )
    assert "start" in body["details"]


@pytest.mark.parametrize(
    "duration",
    ["999999999 hours", "999999999 days", "999999999 months", "99999999999 minutes", "9000 working days"],
)
def test_deadline_duration_past_the_range_is_a_422_naming_duration(api, org, duration):
    body = assert_error(
        api(org.supervisor).get("/sla/deadline", {"start": "2100-06-01T09:00:00", "duration": duration}),
        422,
        "validation_error",
    )
    assert "duration" in body["details"]


def test_deadline_in_range_still_answers_with_beijing_offset(api, org):
    r = api(org.supervisor).get("/sla/deadline", {"start": "1970-01-05T09:00:00", "duration": "1 days"})
    assert r.status_code == 200, r.content.decode()
    assert r.json()["start"].endswith("+08:00")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"status": "bogus"}, "status"),
        ({"level": "apocalyptic"}, "level"),
        ({"kind": "complaint,ufo"}, "kind"),
        ({"flag": "haunted"}, "flag"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"department": "NOWHERE"}, "department"),
        ({"category": "no.such"}, "category"),
        ({"handler": "someone"}, "handler"),
        ({"region": "华东\x00"}, "region"),
    ],
)
def test_analytics_filters_that_cannot_mean_anything_are_refused(api, org, params, field):
    for path in ("/analytics/counts", "/analytics/hotspots", "/analytics/kpis"):
        body = assert_error(api(org.supervisor).get(path, params), 422, "validation_error")
        assert field in body["details"], (path, body)


def test_analytics_filters_that_mean_something_still_count(api, org):
    factories.make_case(org.intake)
    r = api(org.supervisor).get(
        "/analytics/counts", {"date_from": "2000-01-01", "status": "registered", "channel": "phone"}
    )
    assert r.status_code == 200, r.content.decode()
    assert r.json()["total"] == 1


def _file(name: str, content: bytes) -> io.BytesIO:
    f = io.BytesIO(content)
    f.name = name
    return f


def test_attachment_with_a_10000_character_name_is_a_400(api, org, media):
    case = factories.make_case(org.intake)
    before = db_state(case)
    r = api(org.intake).upload(
        f"/cases/{case.number}/attachments", {"file": _file("长" * 10_000 + ".txt", b"hi")}
    )
    assert_error(r, 400, "malformed_body")
    assert db_state(case) == before
    assert stored_files(media) == []


def test_multipart_without_a_boundary_is_a_400(api, org, media):
    case = factories.make_case(org.intake)
    before = db_state(case)
    client = api(org.intake)
    r = client.client.post(
        f"{BASE}/cases/{case.number}/attachments",
        data=b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nhi\r\n--x--\r\n",
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {client.key}"},
    )
    assert_error(r, 400, "malformed_body")
    assert db_state(case) == before
    assert stored_files(media) == []


# --- used to be accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-32"),
    ],
    ids=["utf8-bom", "utf16", "utf16le-no-bom", "utf32"],
)
def test_json_not_in_plain_utf8_is_a_400(api, org, encode):
    before = db_state()
    raw = encode(json.dumps(factories.complaint_data(), ensure_ascii=False))
    assert_error(api(org.intake).post("/cases", raw=raw), 400, "malformed_json")
    assert db_state() == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "", "application/x-www-form-urlencoded", "application/json; charset=utf-16"],
    ids=["text-plain", "none", "form", "utf16-charset"],
)
def test_json_body_without_a_json_content_type_is_a_415(api, org, content_type):
    client = api(org.intake)
    case = factories.make_case(org.intake)
    before = db_state(case)
    headers = {"Authorization": f"Bearer {client.key}"}
    for path, data in (("/cases", factories.complaint_data()), (f"/cases/{case.number}/accept", {})):
        r = client.client.generic(
            "POST", BASE + path, json.dumps(data).encode(), content_type=content_type, headers=headers
        )
        body = assert_error(r, 415, "unsupported_media_type")
        assert body["details"]["content_type"] == content_type
    assert db_state(case) == before


def test_json_with_a_suffix_media_type_is_accepted(api, org):
    client = api(org.intake)
    r = client.client.post(
        BASE + "/cases",
        json.dumps(factories.complaint_data()),
        content_type="application/vnd.kesu+json; charset=utf-8",
        headers={"Authorization": f"Bearer {client.key}"},
    )
    assert r.status_code == 201, r.content.decode()


@pytest.mark.parametrize(
    ("path_of", "body", "field"),
    [
        (lambda case: "/cases", {**factories.complaint_data(), "people_count": True}, "people_count"),
        (lambda case: f"/cases/{case.number}/accept", {"expected_version": True}, "expected_version"),
        (lambda case: f"/cases/{case.number}/assign", {"handler": True}, "handler"),
        (lambda case: "/cases", {**factories.complaint_data(), "claimed_amount": False}, "claimed_amount"),
    ],
    ids=["people_count", "expected_version", "handler", "claimed_amount"],
)
def test_booleans_are_not_numbers(api, org, path_of, body, field):
    case = factories.make_case(org.intake)
    before = db_state(case)
    response = api(org.intake).post(path_of(case), body)
    assert field in assert_error(response, 422, "validation_error")["details"]
    assert db_state(case) == before


def test_a_declared_boolean_still_takes_true(api, org):
    data = {"channel": "phone", "kind": "report", "description": "举报销售误导", "is_anonymous": True}
    assert api(org.intake).post("/cases", data).status_code == 201


@pytest.mark.parametrize(
    "description",
    ["\u200b\u200c\u200d", "\ufeff \u2060\u200e", " \u3000\u200b\n\t", "\u00ad\u061c"],
    ids=["zero-width", "bom-and-marks", "spaces", "soft-hyphen"],
)
def test_description_of_invisible_characters_only_is_refused(api, org, description):
    before = db_state()
    r = api(org.intake).post("/cases", {**factories.complaint_data(), "description": description})
    assert assert_error(r, 422, "validation_error")["details"]["description"]
    assert db_state() == before


def test_description_with_a_zero_width_joiner_inside_text_is_kept(api, org):
    r = api(org.intake).post("/cases", {**factories.complaint_data(), "description": "漏\u200d水"})
    assert r.status_code == 201, r.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"text": "\x00"}, "text"),
        ({"text": "漏水\x00%"}, "text"),
        ({"department": "\x00"}, "department"),
        ({"category": "product\x00"}, "category"),
        ({"status": "registered\x00"}, "status"),
    ],
)
def test_filters_with_a_nul_are_refused_not_matching_everything(api, org, params, field):
    factories.make_case(org.intake)
    body = assert_error(api(org.supervisor).get("/cases", params), 422, "validation_error")
    assert field in body["details"]


def test_nul_in_a_path_parameter_is_a_422(api, org):
    assert_error(api(org.supervisor).get("/cases/TS%00"), 422, "validation_error")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"channel": "phone,carrier_pigeon"}, "channel"),
        ({"department": "NOWHERE"}, "department"),
        ({"category": "no.such.category"}, "category"),
        ({"received_from": "2026-02-30"}, "received_from"),
        ({"received_to": "2026-13-01"}, "received_to"),
    ],
)
def test_unknown_list_filter_values_are_refused(api, org, params, field):
    body = assert_error(api(org.supervisor).get("/cases", params), 422, "validation_error")
    assert field in body["details"]


def test_known_list_filter_values_still_filter(api, org):
    case = factories.make_case(org.intake)
    r = api(org.supervisor).get("/cases", {"channel": "phone", "status": "registered"})
    assert r.status_code == 200
    assert [c["number"] for c in r.json()["items"]] == [case.number]


def test_case_export_refuses_unknown_filters(api, org):
    body = assert_error(
        api(org.supervisor).get("/intake/exports/cases", {"format": "csv", "channel": "carrier_pigeon"}),
        422,
        "validation_error",
    )
    assert "channel" in body["details"]
