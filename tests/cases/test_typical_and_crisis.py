"""The typical-case library (典型案例, 003 第三条(二)7) and a crisis case's emergency plan (000 第2篇 第六条)."""

from __future__ import annotations

import pytest
from django.test import Client

from kesu.cases.models import EmergencyPlan, Status, TypicalCase
from kesu.cases.services import perform
from kesu.cases.walk import Cast, walk_to
from kesu.errors import Conflict, Forbidden, NotFound
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def cast(o) -> Cast:
    approvers = {"supervisor": o.supervisor, "cs_manager": o.manager, "general_manager": o.gm}
    return Cast(
        intake=o.intake,
        handler=o.handler,
        approver=approvers.__getitem__,
        followup=o.followup,
        archivist=o.archivist,
    )


def client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


# --- the typical-case library --------------------------------------------------------------------------


def test_a_supervisor_files_a_typical_case_and_staff_find_it_masked(org):
    case = factories.make_case(
        org.intake,
        subject="热水器漏水索赔",
        description="客户王大锤来电（13912345678）称热水器漏水，身份证110101199001011234，要求三倍赔偿。",
        customer={"name": "王大锤", "phone": "13912345678"},
    )
    walk = walk_to(Walk(case), Status.CLOSED, cast(org))
    walk("mark_typical", org.supervisor, lesson="王大锤一案：先上门核实再答复，避免承诺超出权限。")
    entry = TypicalCase.objects.get(case=case)
    assert entry.marked_by == org.supervisor
    assert case.events.filter(action="mark_typical").exists()
    # The handler (same department) finds it by the lesson's words, with the personal data masked.
    page = client(org.handler).get("/typical-cases/", {"q": "上门核实"}).content.decode()
    assert case.number in page and "先上门核实再答复" in page
    assert "王*" in page and "139****5678" in page
    assert "13912345678" not in page and "110101199001011234" not in page and "王大锤" not in page
    # The API answers the same way.
    shown = client(org.handler).get("/api/v1/cases/library/typical", {"q": "漏水"}).json()
    assert [e["number"] for e in shown] == [case.number]
    assert "13912345678" not in str(shown) and shown[0]["customer"] == "王**"
    # Someone who may not see the case does not find it in the library either.
    assert case.number not in client(org.finance_handler).get("/typical-cases/").content.decode()
    assert client(org.finance_handler).get("/api/v1/cases/library/typical").json() == []
    # The lesson is on the case page.
    assert "先上门核实再答复" in client(org.supervisor).get(f"/cases/{case.number}/").content.decode()


def test_only_supervisors_and_analysts_file_typical_cases_and_never_a_report(org):
    walk = walk_to(Walk(factories.make_case(org.intake)), Status.CLOSED, cast(org))
    with pytest.raises(Forbidden):
        perform(walk.case, "mark_typical", org.handler, lesson="x")
    walk("mark_typical", org.analyst, lesson="分析员选入")
    assert TypicalCase.objects.get(case=walk.case).marked_by == org.analyst
    # Open cases are not typical yet.
    open_case = factories.make_case(org.intake)
    with pytest.raises(Exception) as refused:
        perform(open_case, "mark_typical", org.supervisor, lesson="x")
    assert refused.value.status == 409
    # A whistle-blowing report never enters the library: hidden from supervisors, refused to risk.
    report = factories.make_case(org.intake, kind="report")
    with pytest.raises(NotFound):
        perform(report, "mark_typical", org.supervisor, lesson="x")
    with pytest.raises(Forbidden):
        perform(report, "mark_typical", org.risk, lesson="x")
    # …and if one were there, not even risk/compliance (who may read reports) would find it.
    TypicalCase.objects.create(
        case=report, lesson="举报线索", marked_by=org.supervisor, marked_at=report.received_at
    )
    assert report.number not in client(org.risk).get("/typical-cases/").content.decode()
    assert client(org.risk).get("/api/v1/cases/library/typical", {"q": "举报线索"}).json() == []


# --- the emergency plan of a crisis case ---------------------------------------------------------------


def test_a_crisis_case_is_closed_only_with_its_emergency_plan(org):
    walk = walk_to(Walk(factories.make_case(org.intake)), Status.RESPONDING, cast(org))
    walk("regrade", org.supervisor, level="crisis", reason="媒体介入")
    walk("reply", org.handler, text="已向客户说明处理结果", method="phone")
    with pytest.raises(Conflict) as refused:
        perform(walk.case, "close", org.handler, expected_version=walk.case.version, criterion="accepted")
    assert refused.value.code == "emergency_plan_required"
    # The case page says so and offers the form.
    page = client(org.handler).get(f"/cases/{walk.case.number}/").content.decode()
    assert "危机投诉须记录应急预案后才能结案" in page and 'id="action-record_emergency_plan"' in page
    response = client(org.handler).post(
        f"/api/v1/cases/{walk.case.number}/record_emergency_plan",
        {
            "leader": org.manager.username,
            "measures": "客服经理牵头，媒体口径统一，当日上门致歉",
            "contacts": "客服经理 manager 021-5555 0000（24 小时）",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    walk.case.refresh_from_db()
    walk.expected.append((walk.case.version, "record_emergency_plan", Status.RESPONDING, Status.RESPONDING))
    plan = EmergencyPlan.objects.get(case=walk.case)
    assert (plan.leader, plan.recorded_by) == (org.manager, org.handler)
    walk("close", org.handler, criterion="accepted", expect=Status.CLOSED)
    walk.assert_timeline()
    # The plan is on the case page and in the API.
    page = client(org.supervisor).get(f"/cases/{walk.case.number}/").content.decode()
    assert "当日上门致歉" in page and "021-5555 0000" in page
    detail = client(org.supervisor).get(f"/api/v1/cases/{walk.case.number}").json()
    assert detail["emergency_plan"]["leader"]["username"] == "manager"


def test_an_ordinary_case_needs_no_emergency_plan(org):
    walk = walk_to(Walk(factories.make_case(org.intake)), Status.CLOSED, cast(org))
    assert walk.case.status == Status.CLOSED and not EmergencyPlan.objects.exists()
