"""System-to-system intake: the batch endpoint and the signed webhook."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client

from kesu.cases.models import Case
from kesu.intake.services import save_source, webhook_signature
from kesu.org.models import ApiToken
from tests.factories import complaint_data

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-callcentre-key"


@pytest.fixture
def token(org):
    _token, key = ApiToken.issue(org.intake, "呼叫中心对接")
    return key


def _post_batch(key, items, **headers):
    return Client().post(
        "/api/v1/intake/batch",
        data=json.dumps({"items": items}, ensure_ascii=False),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def test_batch_returns_a_result_per_item_for_a_mixed_batch(token):
    good = complaint_data(external_source="crm", external_id="A-1")
    bad_channel = complaint_data(channel="pigeon", external_source="crm", external_id="A-2")
    no_text = complaint_data(description="", external_source="crm", external_id="A-3")
    resp = _post_batch(token, [good, bad_channel, no_text, "not an object"])
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["created"], body["existing"], body["rejected"]) == (1, 0, 3)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["status"] == "created" and results[0]["number"].startswith("TS")
    assert results[1]["status"] == "rejected" and "channel" in results[1]["errors"]
    assert results[2]["status"] == "rejected" and "description" in results[2]["errors"]
    assert results[3]["status"] == "rejected"
    assert Case.objects.count() == 1
    # Re-sending the good item is idempotent by external id.
    again = _post_batch(token, [good]).json()
    assert again["results"][0] == {**results[0], "status": "existing", "message": None}
    assert Case.objects.count() == 1


def test_batch_idempotency_key_replays_the_first_response(token):
    items = [complaint_data(external_source="crm", external_id=f"K-{i}") for i in range(3)]
    first = _post_batch(token, items, HTTP_IDEMPOTENCY_KEY="batch-7")
    second = _post_batch(token, items, HTTP_IDEMPOTENCY_KEY="batch-7")
    assert first.json() == second.json() and first.json()["created"] == 3
    assert Case.objects.count() == 3
    other = _post_batch(token, items[:1], HTTP_IDEMPOTENCY_KEY="batch-7")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_batch_refuses_more_than_1000_items_and_needs_a_token(token):
    resp = _post_batch(token, [complaint_data()] * 1001)
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error"
    anonymous = Client().post("/api/v1/intake/batch", data="{}", content_type="application/json")
    assert anonymous.status_code == 401


def test_batch_forbidden_for_a_role_that_does_not_load_data(org):
    _t, key = ApiToken.issue(org.analyst, "分析脚本")
    resp = _post_batch(key, [complaint_data()])
    assert resp.status_code == 403 and resp.json()["code"] == "role_not_allowed"


def _signed(body: bytes, *, ts: int | None = None, nonce: str | None = None, secret: str = SECRET):
    ts_text = str(int(time.time()) if ts is None else ts)
    nonce = nonce or uuid.uuid4().hex
    return {
        "HTTP_X_KESU_TIMESTAMP": ts_text,
        "HTTP_X_KESU_NONCE": nonce,
        "HTTP_X_KESU_SIGNATURE": webhook_signature(secret, ts_text, nonce, body),
    }


def _hook(body: bytes, headers):
    return Client().post(
        "/api/v1/intake/webhook/callcentre", data=body, content_type="application/json", **headers
    )


@pytest.fixture
def callcentre(org):
    return save_source(
        "callcentre",
        name="95xxx 呼叫中心",
        value_maps={"channel": {"IVR": "phone"}},
        webhook_secret=SECRET,
    )


def test_webhook_accepts_a_signed_call_and_maps_codes(callcentre):
    body = json.dumps(complaint_data(channel="IVR", external_id="CC-1"), ensure_ascii=False).encode()
    resp = _hook(body, _signed(body))
    assert resp.status_code == 200, resp.content
    result = resp.json()["results"][0]
    assert result["status"] == "created"
    case = Case.objects.get(number=result["number"])
    assert case.external_source == "callcentre" and case.channel.code == "phone"


def test_webhook_refuses_text_no_database_can_store(callcentre):
    body = json.dumps(complaint_data(channel="IVR", external_id="CC-NUL", description="漏水\u0000")).encode()
    assert b"\\u0000" in body  # the JSON escape, which decodes to a NUL character
    resp = _hook(body, _signed(body))
    assert resp.status_code == 422 and resp.json()["code"] == "malformed_json", resp.content
    assert not Case.objects.filter(external_id="CC-NUL").exists()


def test_webhook_rejects_bad_signature_stale_timestamp_and_replay(callcentre):
    body = json.dumps(complaint_data(external_id="CC-2"), ensure_ascii=False).encode()

    forged = _signed(body, secret="wrong-secret")
    resp = _hook(body, forged)
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_signature"

    tampered = _signed(body)
    resp = _hook(body.replace(b"CC-2", b"CC-9"), tampered)
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_signature"

    stale = _signed(body, ts=int(time.time()) - 600)
    resp = _hook(body, stale)
    assert resp.status_code == 401 and resp.json()["code"] == "stale_timestamp"

    headers = _signed(body)
    assert _hook(body, headers).status_code == 200
    replay = _hook(body, headers)
    assert replay.status_code == 409 and replay.json()["code"] == "replayed_request"

    missing = _hook(body, {})
    assert missing.status_code == 401 and missing.json()["code"] == "signature_missing"
    assert Case.objects.filter(external_source="callcentre").count() == 1
