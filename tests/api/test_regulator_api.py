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
