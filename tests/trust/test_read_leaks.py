"""Regression tests for the read leaks of "Trust, attacked" (part 1): what an attacker read through
idempotent replays, the related-cases lookups, the list search, 403-versus-404, invisible reasons and the
registration roles. Each test fails without its fix."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from kesu.cases.demo.plans import CLIENT_KEY_PREFIX, demo_client_key
from kesu.cases.models import Case, Status
from kesu.cases.services import perform, register_case
from kesu.cases.text import is_blank, meaningful
from kesu.errors import Conflict, Invalid
from kesu.org import roles
from kesu.org.models import Department
from kesu.trust.models import AuditEntry
from kesu.trust.pii import mask_name, mask_phone
from kesu.trust.privacy import reveal
from tests import factories

ZW = "\u200b\u200b\u200b\u200b\u200b\u200b"  # zero-width spaces only


def _in_quality(case: Case) -> Case:
    """Routed to the quality department (outside the claims department and the intake's scope)."""
    Case.objects.filter(pk=case.pk).update(department=Department.objects.get(code="QUALITY"))
    case.refresh_from_db()
    return case


def _secret(response) -> str:
    return response.content.decode()


# --- idempotent replay ------------------------------------------------------------------------------


def test_a_client_key_is_the_creators_own_another_persons_same_key_never_returns_their_case(api, org):
    data = factories.complaint_data(client_key="form-1", customer={"name": "甄秘密", "phone": "15800005558"})
    first = api(org.intake).post("/cases", data)
    assert first.status_code == 201
    number = first.json()["case"]["number"]
    other = api(org.claims_handler).post("/cases", data)
    assert other.status_code == 201, other.content.decode()  # their own key: a case of their own
    assert other.json()["case"]["number"] != number
    # The creator's retry is a replay.
    again = api(org.intake).post("/cases", data)
    assert again.status_code == 200 and again.json()["case"]["number"] == number


def test_the_same_client_key_with_another_body_is_a_409_not_a_dropped_complaint(api, org):
    data = factories.complaint_data(client_key="form-2")
    assert api(org.intake).post("/cases", data).status_code == 201
    before = Case.objects.count()
    changed = api(org.intake).post("/cases", {**data, "description": "另一件投诉：理赔拖延"})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    assert Case.objects.count() == before


def test_an_external_id_replay_answers_only_with_a_case_the_caller_may_read(api, org):
    data = factories.complaint_data(
        external_source="crm", external_id="CRM-7", customer={"name": "甄秘密", "phone": "15800005558"}
    )
    first = api(org.intake).post("/cases", data)
    case = _in_quality(Case.objects.get(number=first.json()["case"]["number"]))
    refused = api(org.claims_handler).post("/cases", data)
    assert refused.status_code == 409 and refused.json()["code"] == "idempotency_key_reused"
    for secret in (case.number, "15800005558", "甄秘密", "0005558"):
        assert secret not in _secret(refused)
    # The same answer with another body: nothing tells the two apart.
    other = api(org.claims_handler).post("/cases", {**data, "description": "别的内容"})
    assert other.json() == refused.json()
    # Someone who may read it gets the replay.
    replay = api(org.handler).post("/cases", data)
    assert replay.status_code == 200, replay.content.decode()
    assert replay.json()["case"]["number"] == case.number


def test_an_archived_case_and_a_whistle_blowing_report_are_not_replayed(api, org):
    data = factories.complaint_data(external_source="crm", external_id="CRM-8")
    first = api(org.intake).post("/cases", data)
    case = _in_quality(Case.objects.get(number=first.json()["case"]["number"]))
    assert api(org.handler).post("/cases", data).status_code == 200  # readable: a replay
    Case.objects.filter(pk=case.pk).update(status=Status.ARCHIVED)
    # The handler of the department sees the case but may not read the archived file without approval.
    assert api(org.handler).post("/cases", data).status_code == 409
    report = factories.complaint_data(
        kind="report", category=None, client_key="wb-9", customer={"name": "举报人甲", "phone": "13600009999"}
    )
    assert api(org.intake).post("/cases", report).status_code == 201
    retry = api(org.intake).post("/cases", report)  # the intake agent may not read reports
    assert retry.status_code == 409 and "举报人甲" not in _secret(retry)


def test_demo_client_keys_are_not_sequential_but_stable():
    keys = [demo_client_key(3, i) for i in range(3)]
    assert all(k.startswith(f"{CLIENT_KEY_PREFIX}3:") for k in keys)
    assert keys[0] != f"{CLIENT_KEY_PREFIX}3:0" and len(set(keys)) == 3
    assert len(keys[1].rsplit(":", 1)[1]) >= 32
    assert demo_client_key(3, 1) == keys[1]


# --- who may register -------------------------------------------------------------------------------


def test_the_api_and_the_web_refuse_registration_to_the_same_roles(api, org):
    # One person per role from tests/factories.py; the risk officer also handles, so use a plain one.
    people = {
        roles.INTAKE: org.intake,
        roles.HANDLER: org.handler,
        roles.SUPERVISOR: org.supervisor,
        roles.CS_MANAGER: org.manager,
        roles.GENERAL_MANAGER: org.gm,
        roles.FOLLOWUP: org.followup,
        roles.ANALYST: org.analyst,
        roles.ARCHIVIST: org.archivist,
        roles.ADMIN: org.admin,
        roles.RISK: factories.person("risk_only", org.risk_dept, roles.RISK),
    }
    for role, user in people.items():
        r = api(user).post("/cases", factories.complaint_data())
        web = Client()
        web.force_login(user)
        web_ok = web.get("/intake/").status_code == 200
        assert (r.status_code == 201) == web_ok, (role, r.status_code, web_ok)
        if role in (roles.ANALYST, roles.ARCHIVIST, roles.FOLLOWUP):
            assert r.status_code == 403 and r.json()["code"] == "role_not_allowed", role


# --- related cases ----------------------------------------------------------------------------------


def test_related_cases_and_the_intake_preview_list_only_cases_the_caller_may_see(api, org):
    phone = "13600001111"
    report = register_case(
        actor=org.intake,
        data=factories.complaint_data(
            kind="report",
            category=None,
            description="经理收受回扣，热水器采购",
            customer={"name": "举报人乙", "phone": phone},
        ),
    ).case
    quality = _in_quality(
        factories.make_case(
            org.intake, description="热水器漏水无人处理", customer={"name": "质量客户", "phone": phone}
        )
    )
    body = {"text": "热水器漏水 采购 回扣", "customer": {"phone": phone}}
    found = api(org.claims_handler).post("/insight/related", body)
    assert found.status_code == 200, found.content.decode()
    for hidden in (report.number, quality.number):
        assert hidden not in _secret(found)
    # Someone who sees the quality case finds it (the lookup itself works).
    assert quality.number in _secret(api(org.handler).post("/insight/related", body))
    # A masked identifier is no lookup key for a role that sees it masked.
    assert api(org.analyst).post("/insight/related", body).status_code == 403

    web = Client()
    web.force_login(org.claims_handler)
    page = web.get("/intake/preview/", {"phone": phone}).content.decode()
    for secret in (report.number, quality.number, "举报人乙", "质量客户"):
        assert secret not in page


# --- search by masked identifiers -------------------------------------------------------------------


def test_a_masked_phone_cannot_be_recovered_through_the_search_and_searches_are_audited(api, org):
    case = factories.make_case(org.intake, customer={"name": "甄秘密", "phone": "15800005558"})
    shown = api(org.analyst).get(f"/cases/{case.number}").json()["customer"]
    assert shown["phone"] == mask_phone("15800005558")
    # The analyst sees the case but cannot confirm the full number (nor the full name) by searching it.
    for query in ("15800005558", "甄秘密"):
        assert api(org.analyst).get("/cases", {"text": query}).json()["items"] == []
    web = Client()
    web.force_login(org.analyst)
    assert case.number not in web.get("/cases/", {"q": "15800005558"}).content.decode()
    # A role that sees it unmasked finds it, and the search is audited.
    before = AuditEntry.objects.filter(action="pii.search").count()
    items = api(org.intake).get("/cases", {"text": "15800005558"}).json()["items"]
    assert [c["number"] for c in items] == [case.number]
    entries = AuditEntry.objects.filter(action="pii.search").order_by("seq")
    assert entries.count() == before + 1
    assert entries.last().actor_id == org.intake.pk and "15800005558" not in str(entries.last().details)
    # Plain text searches are not identifier searches: no audit entry.
    api(org.intake).get("/cases", {"text": "漏水"})
    assert AuditEntry.objects.filter(action="pii.search").count() == before + 1


# --- masking ----------------------------------------------------------------------------------------


def test_the_customers_name_is_masked_on_the_api_and_the_web_as_in_exports(api, org):
    case = factories.make_case(org.intake, customer={"name": "欧阳娜娜", "phone": "13812345678"})
    customer = api(org.analyst).get(f"/cases/{case.number}").json()["customer"]
    assert customer["name"] == mask_name("欧阳娜娜") and customer["masked"] is True
    web = Client()
    web.force_login(org.analyst)
    page = web.get(f"/cases/{case.number}/").content.decode()
    assert "欧阳娜娜" not in page and "13812345678" not in page
    assert api(org.intake).get(f"/cases/{case.number}").json()["customer"]["name"] == "欧阳娜娜"


# --- hidden is missing ------------------------------------------------------------------------------


def test_a_hidden_case_answers_like_a_missing_one_on_the_api_and_the_web(api, org):
    case = _in_quality(factories.make_case(org.intake))
    hidden = api(org.claims_handler).get(f"/cases/{case.number}")
    missing = api(org.claims_handler).get("/cases/TS209912310999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"code": "not_found", "message": "案件不存在", "details": None}
    acted = api(org.claims_handler).post(f"/cases/{case.number}/add_note", {"text": "看看"})
    assert acted.status_code == 404 and acted.json() == missing.json()
    web = Client()
    web.force_login(org.claims_handler)
    page, absent = web.get(f"/cases/{case.number}/"), web.get("/cases/TS209912310999/")
    assert page.status_code == absent.status_code == 404

    def bare(response, number):  # the same page but for the number asked for and the CSRF token
        return re.sub(r'value="[A-Za-z0-9]{64}"', "", response.content.decode().replace(number, "X"))

    assert bare(page, case.number) == bare(absent, "TS209912310999")


# --- meaningful reasons -----------------------------------------------------------------------------


def test_meaningful_text_ignores_whitespace_and_format_characters():
    assert meaningful(" 客户\u200b来电\ufeff ") == "客户来电"
    assert is_blank(ZW) and is_blank("\u2060\u200d \u3000") and not is_blank("x")


def test_a_reason_of_zero_width_spaces_is_no_reason(org):
    case = factories.make_case(org.intake)
    with pytest.raises(Invalid):
        reveal(org.supervisor, case.number, "phone", ZW)
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()
    with pytest.raises(Invalid):
        perform(case, "regrade", org.supervisor, level="urgent", reason=ZW)
    with pytest.raises(Invalid):
        register_case(actor=org.intake, data=factories.complaint_data(description=ZW))
    # A real reason still works.
    assert reveal(org.supervisor, case.number, "phone", "核实客户身份") == case.customer.phone


def test_register_case_refuses_a_reused_key_in_the_service_too(org):
    data = factories.complaint_data(client_key="svc-1")
    register_case(actor=org.intake, data=data)
    with pytest.raises(Conflict):
        register_case(actor=org.intake, data={**data, "description": "别的事"})
