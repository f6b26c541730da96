"""003 恒康天安 第四条: the insurance approval matrix as written, walked through `perform` and the API.

(一) 协议解约: the amount limits apply to the part above the policy's cash value (现金价值), the 70% to the
whole amount against the total premium. (二)–(六): change of agent, late-fee waiver, premium reversal,
advance payment and commission freeze are remedies with their own approvers, whatever the amount.
"""

from __future__ import annotations

import pytest
from django.test import Client

from kesu.cases.models import Proposal, Status
from kesu.cases.services import perform
from kesu.errors import Forbidden, Invalid
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def ins(db):
    return factories.org("insurance")


def investigating(o, **overrides):
    walk = Walk(factories.make_case(o.intake, category="underwriting.surrender", **overrides))
    walk("accept", o.intake)
    walk("assign", o.intake, department="CLAIMS", handler=o.claims_handler.pk)
    walk("start_investigation", o.claims_handler)
    return walk


@pytest.mark.parametrize(
    "amount,cash_value,premium,chain",
    [
        # 12,000 in all but only 1,500 above the cash value, 60% of the premium: the complaint supervisor.
        ("12000", "10500", "20000", ["supervisor"]),
        # The same settlement without a cash value: all 12,000 count as above it (never less strict).
        ("12000", None, "20000", ["supervisor", "cs_manager", "general_manager"]),
        # 1,000 above the cash value but 90% of the total premium: the customer-service manager (第四条(一)2).
        ("9000", "8000", "10000", ["supervisor", "cs_manager"]),
        # 12,000 above the cash value: the general manager (第四条(一)3).
        ("15000", "3000", "100000", ["supervisor", "cs_manager", "general_manager"]),
    ],
)
def test_a_surrender_is_approved_by_the_amount_above_the_cash_value(ins, amount, cash_value, premium, chain):
    walk = investigating(ins)
    data = {"remedy_type": "termination", "amount": amount, "premium": premium, "description": "协议解约"}
    if cash_value is not None:
        data["cash_value"] = cash_value
    event = walk("propose_remedy", ins.claims_handler, expect=Status.PENDING_APPROVAL, **data)
    assert event.payload["required_roles"] == chain
    proposal = Proposal.objects.get(case=walk.case)
    assert proposal.required_roles == chain
    assert (str(proposal.cash_value) if proposal.cash_value is not None else None) == (
        f"{cash_value}.00" if cash_value else None
    )
    approvers = {"supervisor": ins.supervisor, "cs_manager": ins.manager, "general_manager": ins.gm}
    for role in chain:
        walk("approve", approvers[role])
    assert walk.case.status == Status.RESPONDING
    walk.assert_timeline()


@pytest.mark.parametrize(
    "remedy,role",
    [
        ("change_agent", "supervisor"),  # (二) 变更代理人: 咨诉主管
        ("late_fee_waiver", "supervisor"),  # (三) 免滞纳金: 咨诉主管
        ("premium_reversal", "cs_manager"),  # (四) 回调保费: 客服部经理
        ("advance_payment", "cs_manager"),  # (五) 挪用保费案件的公司垫付申请: 客服部经理
        ("commission_freeze", "cs_manager"),  # (六) 冻结或解冻代理人佣金或押金: 客服部经理
    ],
)
def test_insurance_measures_have_their_own_approvers(ins, remedy, role):
    walk = investigating(ins)
    # Even with an amount far above every tier, the seed names one approver.
    event = walk(
        "propose_remedy",
        ins.claims_handler,
        expect=Status.PENDING_APPROVAL,
        remedy_type=remedy,
        amount="50000",
        description="按制度申请",
    )
    assert event.payload["required_roles"] == [role]
    if role == "cs_manager":
        # The complaint supervisor may not approve what the seed gives the customer-service manager.
        with pytest.raises(Forbidden) as refused:
            perform(walk.case, "approve", ins.supervisor, expected_version=walk.case.version)
        assert refused.value.code == "above_authority"
    approver = ins.supervisor if role == "supervisor" else ins.manager
    walk("approve", approver, expect=Status.RESPONDING)


def test_the_handler_and_the_approvers_see_it_through_the_api(ins):
    walk = investigating(ins)
    number = walk.case.number

    def client(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    handler = client(ins.claims_handler)
    response = handler.post(
        f"/api/v1/cases/{number}/propose_remedy",
        {"remedy_type": "premium_reversal", "amount": "800", "description": "回调保费至原缴费日"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["case"]["status"] == Status.PENDING_APPROVAL
    refused = client(ins.supervisor).post(
        f"/api/v1/cases/{number}/approve", {}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "above_authority"
    assert refused.json()["details"] == {"required_role": "cs_manager"}
    assert (
        client(ins.manager)
        .post(f"/api/v1/cases/{number}/approve", {}, content_type="application/json")
        .json()["case"]["status"]
        == Status.RESPONDING
    )
    shown = handler.get(f"/api/v1/cases/{number}").json()["proposals"][0]
    assert shown["remedy_label"] == "回调保费" and shown["required_roles"] == ["cs_manager"]
    assert shown["state"] == "approved"
    # The case page offers the insurance measures and the cash-value field on the proposal form.
    walk2 = investigating(ins)
    page = client(ins.claims_handler).get(f"/cases/{walk2.case.number}/").content.decode()
    assert "冻结/解冻代理人佣金或押金" in page and 'name="cash_value"' in page


def test_a_company_without_these_rules_has_no_such_remedies(org):
    walk = Walk(factories.make_case(org.intake))
    walk("accept", org.intake)
    walk("assign", org.intake, handler=org.handler.pk)
    walk("start_investigation", org.handler)
    with pytest.raises(Invalid):
        perform(
            walk.case,
            "propose_remedy",
            org.handler,
            expected_version=walk.case.version,
            remedy_type="late_fee_waiver",
            amount="0",
            description="免滞纳金",
        )
    c = Client()
    c.force_login(org.handler)
    page = c.get(f"/cases/{walk.case.number}/").content.decode()
    assert "免滞纳金" not in page and 'name="cash_value"' not in page
    # Ordinary remedies keep the tiers on the whole amount.
    walk("propose_remedy", org.handler, remedy_type="compensation", amount="3000", description="赔偿")
    assert Proposal.objects.get(case=walk.case).required_roles == ["supervisor", "cs_manager"]
