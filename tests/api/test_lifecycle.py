"""One complaint through the API from registration to archive, and the read endpoints."""

from __future__ import annotations

import datetime as dt

from django.db.models import F

from kesu.cases.models import Case
from kesu.cases.transitions import TRANSITIONS
from kesu.org.models import ApiToken
from tests import factories


def test_complaint_walks_from_registration_to_archive(api, org):
    intake, handler = api(org.intake), api(org.handler)

    r = intake.post("/cases", factories.complaint_data(claimed_amount="5000"))
    assert r.status_code == 201, r.content.decode()
    number = r.json()["case"]["number"]
    assert r.json()["case"]["status"] == "registered"
    assert r.json()["reporter_token"] is None

    intake.act(number, "accept", {"category": "product.defect"})
    out = intake.act(number, "assign", {"handler": "handler"})
    assert out["case"]["department"] == "QUALITY"
    assert out["case"]["handler"]["username"] == "handler"
    assert out["event"]["action"] == "assign"

    handler.act(number, "start_investigation", {"contacted_customer": True})
    out = handler.act(
        number, "propose_remedy", {"remedy_type": "compensation", "amount": "5000", "description": "赔偿损失"}
    )
    assert out["case"]["status"] == "pending_approval"
    assert out["event"]["payload"]["required_roles"] == ["supervisor", "cs_manager"]

    detail = handler.get(f"/cases/{number}").json()
    proposal = detail["proposals"][0]
    assert proposal["next_role"] == "supervisor" and proposal["state"] == "pending"

    out = api(org.supervisor).act(number, "approve", {"proposal_id": proposal["id"], "comment": "同意"})
    assert out["case"]["status"] == "pending_approval"
    out = api(org.manager).act(number, "approve", {"proposal_id": proposal["id"]})
    assert out["case"]["status"] == "responding"

    handler.act(number, "reply", {"text": "已同意赔偿 5000 元", "method": "phone"})
    handler.act(number, "close", {"criterion": "accepted"})
    # The follow-up is made on day 5 to 7 after closing (001 篇9): the case was closed six days ago.
    Case.objects.filter(number=number).update(closed_at=F("closed_at") - dt.timedelta(days=6))
    out = api(org.followup).act(number, "follow_up", {"score": 5, "comment": "满意"})
    assert out["case"]["status"] == "closed"
    out = api(org.archivist).act(number, "archive")
    assert out["case"]["status"] == "archived"

    detail = api(org.archivist).get(f"/cases/{number}")
    assert detail.status_code == 200
    body = detail.json()
    assert [e["action"] for e in body["events"]] == [
        "register",
        "accept",
        "assign",
        "start_investigation",
        "propose_remedy",
        "approve",
        "approve",
        "reply",
        "close",
        "follow_up",
        "archive",
    ]
    assert [e["seq"] for e in body["events"]] == list(range(1, 12))
    assert body["version"] == 11
    steps = body["proposals"][0]["steps"]
    assert [(s["role"], s["approver"]["username"]) for s in steps] == [
        ("supervisor", "supervisor"),
        ("cs_manager", "manager"),
    ]
    assert body["proposals"][0]["state"] == "approved"
    assert body["follow_ups"][0]["score"] == 5 and body["follow_ups"][0]["satisfied"] is True
    assert detail["ETag"] == '"11"'
    # Archived: the handler may no longer read the file without an approved access request.
    r = handler.get(f"/cases/{number}")
    assert r.status_code == 403 and r.json()["code"] == "archive_access_required"
    # ... so they ask the archive keeper, who approves.
    out = handler.act(number, "request_archive_access", {"reason": "客户再次来电，需查阅原处理记录"})
    assert out["case"]["status"] == "archived"
    request_id = out["event"]["payload"]["request_id"]
    api(org.archivist).act(
        number, "decide_archive_access", {"request_id": request_id, "approve": True, "days": 3}
    )
    r = handler.get(f"/cases/{number}")
    assert r.status_code == 200
    assert r.json()["archive_requests"][0]["state"] == "approved"


def test_detail_shows_timeline_allowed_actions_and_collaboration(api, org):
    case = factories.make_case(org.intake)
    intake, handler = api(org.intake), api(org.handler)
    intake.act(case.number, "accept")
    intake.act(case.number, "assign", {"handler": "handler"})
    handler.act(case.number, "start_investigation")
    out = handler.act(
        case.number, "request_collaboration", {"department": "CLAIMS", "question": "请核实理赔记录"}
    )
    request_id = out["event"]["payload"]["request_id"]
    api(org.claims_handler).act(
        case.number, "answer_collaboration", {"request_id": request_id, "answer": "已核实"}
    )

    body = handler.get(f"/cases/{case.number}").json()
    assert body["collaborations"][0]["state"] == "answered"
    assert body["collaborations"][0]["answer"] == "已核实"
    assert "propose_remedy" in body["allowed_actions"]
    assert "accept" not in body["allowed_actions"]
    assert "approve" not in body["allowed_actions"]  # a handler has no approval role
    assert "due_at" in body["deadlines"]
    assert body["customer"]["phone"].startswith("139") and "*" not in body["customer"]["phone"]


def test_panel_review_through_the_api(api, org):
    case = factories.make_case(org.intake, flags=["injury"])  # injury → major → panel required
    intake, handler = api(org.intake), api(org.handler)
    intake.act(case.number, "accept")
    intake.act(case.number, "assign", {"handler": "handler"})
    handler.act(case.number, "start_investigation")
    r = handler.post(
        f"/cases/{case.number}/propose_remedy",
        {"remedy_type": "compensation", "amount": "100", "description": "赔偿"},
    )
    assert r.status_code == 409 and r.json()["code"] == "panel_required"
    out = handler.act(
        case.number, "convene_panel", {"topic": "赔偿方案", "participants": ["handler", "quality_head"]}
    )
    review_id = out["event"]["payload"]["review_id"]
    handler.act(
        case.number, "decide_panel", {"review_id": review_id, "minutes": "讨论记录", "decision": "赔偿"}
    )
    handler.act(case.number, "confirm_panel", {"review_id": review_id})
    api(org.quality_head).act(case.number, "confirm_panel", {"review_id": review_id, "opinion": "同意"})
    review = handler.get(f"/cases/{case.number}").json()["panel_reviews"][0]
    assert review["state"] == "confirmed"
    assert all(p["confirmed_at"] for p in review["participants"])


def test_anonymous_whistle_blowing_returns_the_reporter_token_once(api, org):
    risk = api(org.risk)
    data = {"channel": "web", "kind": "report", "description": "有员工收受回扣", "is_anonymous": True}
    r = risk.post("/cases", data, headers={"Idempotency-Key": "wb-1"})
    assert r.status_code == 201
    token = r.json()["reporter_token"]
    assert token and len(token) > 20
    assert r.json()["case"]["customer"] is None
    retry = risk.post("/cases", data, headers={"Idempotency-Key": "wb-1"})
    assert retry.status_code == 200
    assert retry.json()["reporter_token"] is None  # shown once only
    number = r.json()["case"]["number"]
    # Visible only to risk/compliance.
    assert api(org.supervisor).get(f"/cases/{number}").status_code == 404
    assert number not in [c["number"] for c in api(org.supervisor).get("/cases").json()["items"]]


def test_pii_is_masked_for_analysts(api, org):
    case = factories.make_case(
        org.intake, customer={"name": "王五", "phone": "13812345678", "id_number": "110101199001011234"}
    )
    body = api(org.analyst).get(f"/cases/{case.number}").json()
    assert body["customer"]["phone"] == "138****5678"
    assert body["customer"]["id_number"] == "110***********1234"
    assert body["customer"]["masked"] is True
    body = api(org.supervisor).get(f"/cases/{case.number}").json()
    assert body["customer"]["phone"] == "13812345678" and body["customer"]["masked"] is False


def test_openapi_lists_one_operation_and_schema_per_action(client, org):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    operations = {op["operationId"]: (path, op) for path, ops in doc["paths"].items() for op in ops.values()}
    schemas = doc["components"]["schemas"]
    for action in TRANSITIONS:
        if TRANSITIONS[action].scope == "system" or action in ("attach", "add_archive_material"):
            continue  # multipart uploads with their own operations (listed below)
        path, op = operations[f"case_{action}"]
        assert path == f"/api/v1/cases/{{number}}/{action}"
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in schemas
    refs = {
        operations[f"case_{a}"][1]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for a in ("accept", "approve", "follow_up", "close")
    }
    assert len(refs) == 4  # distinct schemas per action
    for name in (
        "create_case",
        "list_cases",
        "get_case",
        "upload_attachment",
        "download_attachment",
        "add_archive_material",
    ):
        assert name in operations
    assert "bearer" in str(doc["components"]["securitySchemes"]).lower()


def test_policy_and_org_reads(api, org):
    me = api(org.handler)
    policy = me.get("/policy").json()
    assert policy["code"] == "general" and policy["version"] >= 1
    categories = me.get("/policy/categories").json()
    by_code = {c["code"]: c for c in categories}
    assert by_code["product.defect"]["parent"] == "product"
    assert by_code["product"]["is_leaf"] is False
    channels = {c["code"]: c for c in me.get("/policy/channels").json()}
    assert "phone" in channels and channels["phone"]["is_crisis"] is False
    departments = {d["code"]: d for d in me.get("/org/departments").json()}
    assert departments["QUALITY"]["parent"] == "HQ"
    body = me.get("/org/me").json()
    assert body["username"] == "handler"
    assert [r["code"] for r in body["roles"]] == ["handler"]
    assert body["department"]["code"] == "QUALITY"
    assert body["supervisor"] == "quality_head"
    assert body["auth"] == "token"
    assert ApiToken.objects.get(pk=me.token.pk).last_used_at is not None


def test_if_match_header_is_an_expected_version(api, org):
    case = factories.make_case(org.intake)
    intake = api(org.intake)
    r = intake.post(f"/cases/{case.number}/accept", {}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["case"]["version"] == 2
    r = intake.post(f"/cases/{case.number}/assign", {}, headers={"If-Match": '"1"'})
    assert r.status_code == 409 and r.json()["code"] == "version_conflict"
    assert r.json()["details"]["current_version"] == 2
    assert Case.objects.get(pk=case.pk).status == "accepted"


def test_api_docs_use_no_cdn(client, org):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html


def test_accountability_is_proposed_and_confirmed_through_the_api(api, org):
    from tests.api.conftest import walk_to

    case = walk_to(api, org, "investigating")
    out = api(org.supervisor).act(case.number, "propose_accountability", {"person": "handler"})
    record_id = out["event"]["payload"]["accountability_id"]
    api(org.manager).act(
        case.number, "confirm_accountability", {"accountability_id": record_id, "reason": "属实"}
    )
    records = api(org.supervisor).get(f"/cases/{case.number}").json()["accountabilities"]
    assert [(r["person"]["username"], r["supervisor"]["username"], r["state"]) for r in records] == [
        ("handler", "quality_head", "confirmed")
    ]


def test_detail_lists_stage_deadlines(api, org):
    intake = api(org.intake)
    number = intake.post("/cases", factories.complaint_data()).json()["case"]["number"]
    detail = intake.get(f"/cases/{number}").json()
    stages = {row["stage"] for row in detail["deadlines"]["stages"]}
    # Registration opens the record and answer stages of the general preset.
    assert {"record", "answer"} <= stages
    assert detail["deadlines"]["due_at"] is not None
