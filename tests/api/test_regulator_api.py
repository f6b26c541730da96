"""The regulator layers through the API: a time-barred complaint is refused as JSON with its reason, and a
repeat under NFRA answers with the open case it joined."""

from __future__ import annotations

import pytest

from kesu.cases.models import Case
from kesu.policy.services import load_preset
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(db):
    return factories.org("telecom", ["miit_telecom"])


def test_a_time_barred_fee_dispute_is_refused_with_the_reason(api, org):
    body = factories.complaint_data(category="fee.package", occurred_on="2000-01-05")
    r = api(org.intake).post("/cases", body)
    assert r.status_code == 422
    error = r.json()
    assert error["code"] == "fee_time_barred"
    assert "话费争议发生时距申诉超过五个月" in error["message"]
    assert set(error["details"]) == {"occurred_on"}
    assert Case.objects.count() == 0


def test_under_nfra_a_repeat_answers_with_the_open_case(api, org):
    load_preset("insurance", layers=["nfra"])  # the same people, the insurer's rules with the NFRA layer
    customer = {"name": "赵六", "phone": "13900002222"}
    first = api(org.intake).post(
        "/cases", factories.complaint_data(category="claims.delay", customer=customer)
    )
    assert first.status_code == 201
    again = api(org.intake).post(
        "/cases", factories.complaint_data(category="claims.delay", customer=customer, new_facts=True)
    )
    assert again.status_code == 200, again.content
    assert again.json()["merged"] is True and again.json()["created"] is False
    assert again.json()["case"]["number"] == first.json()["case"]["number"]
    assert Case.objects.count() == 1


def test_under_nfra_recusal_and_the_supervised_panel_through_the_api(api, org):
    load_preset("insurance", layers=["nfra"])
    body = factories.complaint_data(category="claims.delay", involved_staff=["claims_head"])
    created = api(org.intake).post("/cases", body)
    assert created.status_code == 201, created.content
    number = created.json()["case"]["number"]
    assert [u["username"] for u in created.json()["case"]["involved_staff"]] == ["claims_head"]
    api(org.intake).act(number, "accept", {"category": "claims.delay"})
    # The staff member recorded as involved is refused as handler, as JSON naming the rule.
    r = api(org.intake).post(f"/cases/{number}/assign", {"department": "CLAIMS", "handler": "claims_head"})
    assert r.status_code == 403
    error = r.json()
    assert error["code"] == "recusal"
    assert error["message"].startswith("涉事人员须回避，不得担任本案的经办人（银保监会令2020年第3号")
    assert error["details"]["handler"] == "涉事人员须回避"
    api(org.intake).act(number, "assign", {"department": "CLAIMS", "handler": "claims_handler"})
    api(org.claims_handler).act(number, "start_investigation", {})
    # The panel: without the manager level refused; with it, a proposal the supervisor approves and chairs.
    r = api(org.claims_handler).post(
        f"/cases/{number}/convene_panel", {"topic": "赔付", "participants": ["handler2", "finance_handler"]}
    )
    assert r.status_code == 422 and r.json()["code"] == "panel_needs_manager"
    proposed = api(org.claims_handler).act(
        number, "convene_panel", {"topic": "赔付", "participants": ["manager", "finance_handler"]}
    )
    review_id = proposed["event"]["payload"]["review_id"]
    assert proposed["event"]["payload"]["awaiting_approval"] is True
    approved = api(org.supervisor).act(
        number, "decide_panel_request", {"review_id": review_id, "approve": True}
    )
    assert approved["event"]["payload"]["chair"] == org.supervisor.pk
    (panel,) = api(org.claims_handler).get(f"/cases/{number}").json()["panel_reviews"]
    assert panel["state"] == "convened" and panel["chair"]["username"] == "supervisor"
    deadlines = api(org.supervisor).get(f"/sla/cases/{number}/deadlines")
    assert deadlines.status_code == 200
    assert "panel_decision" in deadlines.content.decode()
