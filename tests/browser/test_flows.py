"""The acceptance flows of issue 4 in a real browser (Chromium headless, 1366×768)."""

from __future__ import annotations

import datetime as dt
import re

from kesu.cases.models import Case, Status
from kesu.cases.services import perform
from tests import factories


def _number_from_url(url: str) -> str:
    return re.search(r"/cases/([A-Z0-9]+)/", url).group(1)


def fill_intake(page, phone="13900001111"):
    page.goto("/intake/")
    page.fill("#id_phone", phone)
    page.fill("#id_name", "王先生")
    page.select_option("#id_channel", "phone")
    page.select_option("#id_kind", "complaint")
    page.select_option("#id_category", "product.defect")
    page.fill("#id_description", "热水器安装三天后漏水，地板被泡坏，要求上门处理。")
    page.fill("#id_demands", "更换热水器并赔偿地板损失")
    page.fill("#id_claimed_amount", "5000")


def test_complaint_from_intake_to_reopen(session, borg):
    # 1. the intake agent registers a phone complaint; the repeat/level preview shows before saving
    intake = session("intake")
    p = intake.page
    fill_intake(p)
    p.click("text=查询客户历史投诉")
    p.wait_for_selector("#preview-level")
    assert "一般" in p.inner_text("#preview-level")
    intake.shot("01_intake_form")
    with p.expect_navigation():
        p.click("#intake-submit")
    number = _number_from_url(p.url)
    assert "已登记" in p.inner_text(".messages")
    assert p.inner_text("#case-status") == "已分派"
    case = Case.objects.get(number=number)
    assert case.department.code == "QUALITY"

    # 2. the handler takes it: investigation, collaboration, a proposal
    handler = session("handler")
    h = handler.page
    h.goto("/queues/department/")
    assert number in h.inner_text("#queue-table")
    handler.shot("02_queue_department")
    handler.act(number, "start_investigation", note="已电话联系客户，约定上门查看")
    assert h.inner_text("#case-status") == "处理中"
    handler.act(number, "request_collaboration", department="FINANCE", question="请核实客户的付款记录")
    finance = session("finance_handler")
    f = finance.page
    f.goto("/queues/collaboration/")
    assert number in f.inner_text("#queue-table")
    finance.act(number, "answer_collaboration", answer="客户已全额付款 3,000 元")
    handler.act(
        number,
        "propose_remedy",
        remedy_type="compensation",
        amount="5000",
        description="更换热水器并赔偿地板 5000 元",
    )
    assert h.inner_text("#case-status") == "待审批"
    handler.shot("03_case_pending_approval", full_page=True)

    # 3. approvals at their levels: 5,000 yuan needs the supervisor, then the customer-service manager
    supervisor = session("supervisor")
    s = supervisor.page
    s.goto("/queues/approvals/")
    assert number in s.inner_text("#queue-table")
    supervisor.shot("04_queue_approvals")
    supervisor.act(number, "approve", comment="同意，金额在授权内")
    manager = session("manager")
    manager.act(number, "approve", comment="同意")
    assert manager.page.inner_text("#case-status") == "待答复"

    # 4. the reply and closure
    handler.act(number, "reply", method="phone", text="已电话告知客户赔偿方案，客户接受")
    handler.act(number, "close", criterion="accepted")
    assert h.inner_text("#case-status") == "已结案"

    # 5. an unsatisfied follow-up visit reopens the case
    followup = session("followup")
    fu = followup.page
    fu.goto("/queues/follow-ups/")
    assert number in fu.inner_text("#queue-table")
    # The visit is made on day 5 to 7 after closing (001 篇9): the case was closed six days ago.
    closed = Case.objects.get(number=number)
    Case.objects.filter(pk=closed.pk).update(closed_at=closed.closed_at - dt.timedelta(days=6))
    followup.act(number, "follow_up", score="1", comment="客户表示热水器仍有异响")
    assert fu.inner_text("#case-status") == "处理中"
    timeline = fu.inner_text("#timeline")
    for label in (
        "登记",
        "受理",
        "分派",
        "开始处理",
        "发起协办",
        "回复协办",
        "提出处理方案",
        "审批同意",
        "答复客户",
        "结案",
        "回访",
    ):
        assert label in timeline, label
    followup.shot("05_case_reopened", full_page=True)
    case.refresh_from_db()
    assert case.status == Status.INVESTIGATING and case.reopen_count == 1

    # the supervisor board
    s.goto("/board/")
    supervisor.shot("06_board")


def test_customer_submits_through_the_portal_and_checks_progress(session, borg):
    customer = session()
    p = customer.page
    p.goto("/portal/")
    customer.shot("10_portal_home")
    p.click("text=我要投诉 / 咨询 / 建议")
    p.fill("#id_name", "赵女士")
    p.fill("#id_phone", "13812345678")
    p.select_option("#id_category", "delivery")
    p.fill("#id_description", "订购的冰箱两周还没有送到，客服电话一直占线。")
    p.fill("#id_demands", "尽快送货")
    p.check("#id_consent")
    customer.shot("11_portal_submit")
    with p.expect_navigation():
        p.click("button[type=submit]")
    number = p.inner_text("#case-number").strip()
    assert Case.objects.filter(number=number, channel__code="web").exists()
    customer.shot("12_portal_done")
    p.goto("/portal/progress/")
    p.fill("#id_number", number)
    p.fill("#id_phone_last4", "0000")
    with p.expect_navigation():
        p.click("button[type=submit]")
    assert "不正确" in p.inner_text("#progress-error")
    p.fill("#id_number", number)
    p.fill("#id_phone_last4", "5678")
    with p.expect_navigation():
        p.click("button[type=submit]")
    assert p.inner_text("#progress-status") == "已登记"
    customer.shot("13_portal_progress")


def test_other_department_cannot_open_the_case(session, borg):
    case = factories.make_case(borg.intake)
    perform(case, "accept", borg.intake, kind="complaint", category="product.defect")
    perform(case, "assign", borg.intake)
    outsider = session("finance_handler")
    p = outsider.page
    response = p.goto(f"/cases/{case.number}/")
    # A case the reader may not see answers exactly like a missing one (no number is confirmed).
    assert response.status == 404
    assert "案件不存在" in p.inner_text("main")
    outsider.shot("20_forbidden")


def test_double_submitted_intake_form_creates_one_case(session, borg):
    intake = session("intake")
    p = intake.page
    fill_intake(p, phone="13911112222")
    # the very same form posted twice (a double click that slipped through, a retry)
    statuses = p.evaluate(
        """async () => {
            const form = document.getElementById('intake-form');
            const out = [];
            for (let i = 0; i < 2; i++) {
                const r = await fetch(form.action || location.href, {method: 'POST', body: new FormData(form)});
                out.push(r.status);
            }
            return out;
        }"""
    )
    assert statuses == [200, 200]  # both followed their redirect to the case page
    assert Case.objects.filter(customer__phone="13911112222").count() == 1
    # and a real double click on the button
    fill_intake(p, phone="13933334444")
    with p.expect_navigation():
        p.dblclick("#intake-submit")
    assert Case.objects.filter(customer__phone="13933334444").count() == 1


def test_stale_action_form_shows_the_conflict(session, borg):
    case = factories.make_case(borg.intake)
    perform(case, "accept", borg.intake, kind="complaint", category="product.defect")
    perform(case, "assign", borg.intake, department="QUALITY", handler=borg.handler.pk)
    perform(case, "start_investigation", borg.handler)
    handler = session("handler")
    p = handler.page
    p.goto(f"/cases/{case.number}/")
    # meanwhile the department head records a note on the same case
    perform(case, "add_note", borg.quality_head, text="部门负责人：请优先处理")
    # a plain note from the stale page never conflicts: notes change no state
    p.locator("#action-add_note summary").click()
    p.fill("#add_note-text", "我在旧页面上写的记录")
    with p.expect_navigation():
        p.click("button[data-action=add_note]")
    assert case.events.filter(payload__text="我在旧页面上写的记录").exists()
    # a state change from a stale page does: the conflict is shown and what the user typed is kept
    p.goto(f"/cases/{case.number}/")
    perform(case, "add_note", borg.quality_head, text="部门负责人：再次催办")
    p.locator("#action-suspend summary").click()
    p.fill("#suspend-reason", "等待客户补充材料（旧页面）")
    with p.expect_navigation():
        p.click("button[data-action=suspend]")
    conflict = p.inner_text("#conflict")
    assert "案件已被他人更新" in conflict and "部门负责人：再次催办" in conflict
    assert p.input_value("#suspend-reason") == "等待客户补充材料（旧页面）"
    handler.shot("30_conflict")
    case.refresh_from_db()
    assert case.status == "investigating"
