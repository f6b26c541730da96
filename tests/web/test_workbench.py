"""The workbench through Django's test client: pages, intake, queues, the case page's actions."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from kesu.cases.models import Case, CaseEvent, Status
from tests import factories


def act(client, case, action, **data):
    case.refresh_from_db()
    payload = {"expected_version": case.version, **data}
    return client.post(f"/cases/{case.number}/act/{action}/", payload)


def intake_post(**overrides):
    data = {
        "client_key": uuid.uuid4().hex,
        "name": "王先生",
        "phone": "13900001111",
        "channel": "phone",
        "kind": "complaint",
        "category": "product.defect",
        "description": "热水器安装三天后漏水，地板被泡坏。",
        "demands": "更换热水器并赔偿地板",
        "people_count": "1",
        "accept_and_route": "on",
    }
    data.update(overrides)
    return data


def test_every_main_page_renders_in_chinese(client, org):
    case = factories.make_case(org.intake)
    client.force_login(org.supervisor)
    for url in [
        "/",
        "/cases/",
        "/queues/mine/",
        "/queues/department/",
        "/queues/unassigned/",
        "/queues/approvals/",
        "/queues/collaboration/",
        "/queues/follow-ups/",
        "/queues/panels/",
        "/board/",
        f"/cases/{case.number}/",
        "/password/",
    ]:
        r = client.get(url)
        assert r.status_code == 200, url
        assert 'lang="zh-hans"' in r.content.decode(), url


def test_english_can_be_chosen(client, org):
    client.force_login(org.handler)
    r = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True)
    assert 'lang="en"' in r.content.decode()


def test_intake_registers_accepts_and_routes_a_phone_complaint(client, org):
    client.force_login(org.intake)
    r = client.post("/intake/", intake_post())
    case = Case.objects.get()
    assert r.status_code == 302 and r.url == f"/cases/{case.number}/"
    assert case.status == Status.ASSIGNED
    assert case.department.code == "QUALITY"  # 谁主管谁负责: the category's department
    assert case.channel.code == "phone" and case.customer.phone == "13900001111"
    page = client.get(r.url).content.decode()
    assert "已登记" in page and "受理" in page and "分派" in page


def test_double_submitted_intake_form_creates_one_case(client, org):
    client.force_login(org.intake)
    data = intake_post()
    first = client.post("/intake/", data)
    second = client.post("/intake/", data)
    assert Case.objects.count() == 1
    assert first.url == second.url
    page = client.get(second.url).content.decode()
    assert "该登记已提交过" in page


def test_intake_form_errors_are_shown_and_nothing_is_saved(client, org):
    client.force_login(org.intake)
    r = client.post("/intake/", intake_post(phone="", description=""))
    assert r.status_code == 200
    html = r.content.decode()
    assert "须提供至少一种联系方式" in html
    assert Case.objects.count() == 0


def test_consultation_answered_at_first_contact(client, org):
    client.force_login(org.intake)
    client.post(
        "/intake/",
        intake_post(
            kind="consultation", category="", answered_first_contact="on", answer="已告知保修期为三年。"
        ),
    )
    case = Case.objects.get()
    assert case.status == Status.ANSWERED
    assert CaseEvent.objects.filter(case=case, action="answer_first_contact").exists()


def test_intake_preview_flags_a_repeat_and_its_level(client, org):
    factories.make_case(
        org.intake, customer={"name": "李女士", "phone": "13700002222"}, category="product.defect"
    )
    client.force_login(org.intake)
    r = client.post(
        "/intake/preview/", {"phone": "13700002222", "category": "product.defect", "channel": "phone"}
    )
    html = r.content.decode()
    assert "重复投诉：第 2 次" in html
    assert "紧急" in html  # the second complaint on the same matter is urgent (000 第2篇)
    # the earlier complaint is listed
    assert Case.objects.get().number in html
    # without JavaScript the lookup button round-trips through the intake page itself
    r = client.post("/intake/", {**intake_post(phone="13700002222"), "lookup": "1"})
    assert "重复投诉：第 2 次" in r.content.decode()
    assert Case.objects.count() == 1


def test_intake_is_refused_to_roles_that_do_not_register(client, org):
    client.force_login(org.analyst)
    r = client.get("/intake/")
    assert r.status_code == 403 and "无权访问" in r.content.decode()


def test_another_department_gets_the_chinese_404_page_of_a_missing_case(client, org):
    case = factories.make_case(org.intake)
    client.force_login(org.intake)
    act(client, case, "accept", kind="complaint", category="product.defect")
    act(client, case, "assign")
    client.force_login(org.finance_handler)
    r = client.get(f"/cases/{case.number}/")
    assert r.status_code == 404  # not 403: that would confirm the number exists
    assert "案件不存在" in r.content.decode()
    # and a posted action is refused the same way, without changing the case
    version = Case.objects.get().version
    r = client.post(f"/cases/{case.number}/act/add_note/", {"expected_version": version, "text": "x"})
    assert r.status_code == 404 and Case.objects.get().version == version


def test_unknown_case_number_is_404(client, org):
    client.force_login(org.supervisor)
    r = client.get("/cases/TS000000000000/")
    assert r.status_code == 404 and "案件不存在" in r.content.decode()


def _assigned_case(client, org):
    case = factories.make_case(org.intake)
    client.force_login(org.intake)
    act(client, case, "accept", kind="complaint", category="product.defect")
    act(client, case, "assign", department="QUALITY", handler=str(org.handler.pk))
    return Case.objects.get(pk=case.pk)


def test_case_page_offers_only_legal_actions(client, org):
    case = _assigned_case(client, org)
    client.force_login(org.handler)
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert 'id="action-start_investigation"' in html
    assert 'id="action-close"' not in html  # not legal in this status
    assert 'id="action-approve"' not in html  # not this user's role


def test_stale_action_form_shows_the_conflict_and_does_not_overwrite(client, org):
    case = _assigned_case(client, org)
    client.force_login(org.handler)
    stale_version = Case.objects.get().version
    act(client, case, "start_investigation", note="开始")  # someone acts meanwhile
    r = client.post(
        f"/cases/{case.number}/act/suspend/", {"expected_version": stale_version, "reason": "旧页面上写的"}
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert "案件已被他人更新" in html and "开始处理" in html and "handler" in html
    assert not CaseEvent.objects.filter(case=case, action="suspend").exists()
    # what the user typed is kept in the form they used, for them to check and send again
    assert 'id="action-suspend" open' in html and "旧页面上写的</textarea>" in html


def test_service_errors_are_shown_in_the_form(client, org):
    case = _assigned_case(client, org)
    client.force_login(org.handler)
    act(client, case, "start_investigation")
    r = act(client, case, "propose_remedy", remedy_type="refund", amount="abc", description="退款")
    assert r.status_code == 422
    html = r.content.decode()
    assert "不是有效金额" in html and 'id="action-propose_remedy" open' in html


def test_full_lifecycle_through_the_case_page(client, org):
    case = _assigned_case(client, org)
    client.force_login(org.handler)
    assert (
        act(client, case, "start_investigation", note="已联系客户", contacted_customer="1").status_code == 302
    )
    assert (
        act(
            client, case, "request_collaboration", department="FINANCE", question="请核实付款记录"
        ).status_code
        == 302
    )
    # the collaboration request shows in finance's queue, and finance answers it
    client.force_login(org.finance_handler)
    assert case.number in client.get("/queues/collaboration/").content.decode()
    req_id = case.collaborations.get().pk
    assert (
        act(client, case, "answer_collaboration", request_id=str(req_id), answer="已付款 3000 元").status_code
        == 302
    )
    client.force_login(org.handler)
    r = act(
        client, case, "propose_remedy", remedy_type="compensation", amount="5000", description="赔偿 5000 元"
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.PENDING_APPROVAL
    # 5,000 yuan: supervisor, then customer-service manager
    client.force_login(org.manager)
    assert case.number not in client.get("/queues/approvals/").content.decode()
    client.force_login(org.supervisor)
    assert case.number in client.get("/queues/approvals/").content.decode()
    assert act(client, case, "approve", comment="同意").status_code == 302
    client.force_login(org.manager)
    assert case.number in client.get("/queues/approvals/").content.decode()
    assert act(client, case, "approve", comment="同意").status_code == 302
    case.refresh_from_db()
    assert case.status == Status.RESPONDING
    client.force_login(org.handler)
    assert act(client, case, "reply", method="phone", text="已与客户沟通赔偿方案").status_code == 302
    assert act(client, case, "close", criterion="accepted").status_code == 302
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    # follow-up: unsatisfied → back into processing
    client.force_login(org.followup)
    assert case.number in client.get("/queues/follow-ups/").content.decode()
    # The visit is made on day 5 to 7 after closing (001 篇9): the case was closed six days ago.
    Case.objects.filter(pk=case.pk).update(closed_at=case.closed_at - dt.timedelta(days=6))
    assert act(client, case, "follow_up", score="1", comment="客户不满意").status_code == 302
    case.refresh_from_db()
    assert case.status == Status.INVESTIGATING and case.reopen_count == 1
    client.force_login(org.handler)
    html = client.get(f"/cases/{case.number}/").content.decode()
    for label in ("发起协办", "回复协办", "提出处理方案", "审批同意", "答复客户", "结案", "回访"):
        assert label in html


def test_handler_above_authority_sees_the_reason(client, org):
    case = _assigned_case(client, org)
    client.force_login(org.handler)
    act(client, case, "start_investigation")
    act(client, case, "propose_remedy", remedy_type="compensation", amount="20000", description="赔偿")
    # the supervisor is the first step; the manager cannot skip ahead, so the form is not offered
    client.force_login(org.manager)
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert 'id="action-approve"' not in html


def test_queues_filter_sort_and_paginate(client, org):
    for _ in range(35):
        factories.make_case(org.intake)
    client.force_login(org.supervisor)
    r = client.get("/cases/?sort=-received")
    html = r.content.decode()
    assert "第 1 / 2 页" in html
    r = client.get("/cases/?q=" + Case.objects.order_by("pk").first().number)
    assert "共 1 件" in r.content.decode()
    Case.objects.filter(pk=Case.objects.order_by("pk").first().pk).update(
        status=Status.INVESTIGATING, due_at=timezone.now() - dt.timedelta(hours=3)
    )
    r = client.get("/cases/?overdue=1")
    assert "共 1 件" in r.content.decode() and "超时" in r.content.decode()
    assert client.get("/cases/?level=major").status_code == 200
    assert client.get("/cases/?sort=level&status=registered").status_code == 200
    # htmx partial
    r = client.get("/cases/?page=2", HTTP_HX_REQUEST="true")
    assert "<html" not in r.content.decode() and "第 2 / 2 页" in r.content.decode()


def test_queue_page_queries_do_not_grow_with_cases(client, org, django_assert_max_num_queries):
    for _ in range(30):
        factories.make_case(org.intake)
    client.force_login(org.supervisor)
    # 15, plus three that do not grow either: the saved views, the bulk bar's departments and handlers
    with django_assert_max_num_queries(18):
        r = client.get("/cases/")
    assert r.status_code == 200


def test_board_shows_overdue_by_department_and_level(client, org):
    case = _assigned_case(client, org)
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - dt.timedelta(hours=1), level="major")
    client.force_login(org.supervisor)
    html = client.get("/board/").content.decode()
    assert 'id="board-overdue">1<' in html and "质量管理部" in html
    client.force_login(org.handler)
    assert client.get("/board/").status_code == 403


@pytest.mark.parametrize("user", ["handler", "intake"])
def test_login_logout_and_password_change(client, org, user):
    r = client.post("/login/", {"username": user, "password": "kesu-test-pass-1"})
    assert r.status_code == 302
    r = client.post(
        "/password/",
        {
            "old_password": "kesu-test-pass-1",
            "new_password1": "Qz7-long-pass!",
            "new_password2": "Qz7-long-pass!",
        },
    )
    assert r.status_code == 302
    client.post("/logout/")
    assert client.get("/").status_code == 302
    r = client.post("/login/", {"username": user, "password": "wrong"})
    assert "用户名或密码错误" in r.content.decode()
