"""A queue for every role: the archivist, the follow-up agent (with the follow-up deadline), the
collaborating department (with the question), the analyst's home; archive access asked from the 403 page."""

from __future__ import annotations

import pytest

from kesu.cases.models import ArchiveAccessRequest, Status
from kesu.sla.models import StageDeadline
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def closed_case(o, **overrides):
    case = factories.make_case(o.intake, **overrides)
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    walk("start_investigation", o.handler, contacted_customer=True)
    walk("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="说明")
    walk("reply", o.handler, text="说明")
    walk("close", o.handler, criterion="accepted", expect=Status.CLOSED)
    return case, walk


def test_the_follow_up_queue_shows_each_cases_follow_up_deadline(client, org):
    case, _ = closed_case(org)
    due = StageDeadline.objects.get(case=case, stage="follow_up", state="open").due_at
    client.force_login(org.followup)
    html = client.get("/queues/follow-ups/").content.decode()
    assert case.number in html and "回访时限" in html
    assert due.astimezone().strftime("%Y-%m-%d %H:%M") in html or "剩" in html
    row = html[html.index(case.number) :]
    row = row[: row.index("</tr>")]
    assert "due-none" not in row  # a deadline, not "—"


def test_the_collaborating_department_sees_the_question(client, org):
    case = factories.make_case(org.intake)
    walk = Walk(case)
    walk("accept", org.intake)
    walk("assign", org.intake, handler=org.handler.pk)
    walk("start_investigation", org.handler, contacted_customer=True)
    walk("request_collaboration", org.handler, department="FINANCE", question="请核实扣款记录")
    client.force_login(org.finance_handler)
    html = client.get("/queues/collaboration/").content.decode()
    assert case.number in html and "请核实扣款记录" in html and "协办时限" in html


def test_the_archivist_has_to_archive_and_access_request_queues(client, org):
    case, walk = closed_case(org)
    walk("follow_up", org.followup, score=5)
    client.force_login(org.archivist)
    assert case.number in client.get("/queues/to-archive/").content.decode()
    walk("archive", org.archivist, expect=Status.ARCHIVED)
    assert case.number not in client.get("/queues/to-archive/").content.decode()

    # a colleague who could see the case is refused its archived file, and asks from the 403 page
    reader = client.__class__()
    reader.force_login(org.handler2)
    page = reader.get(f"/cases/{case.number}/")
    assert page.status_code == 403 and "申请调阅" in page.content.decode()
    assert reader.post(f"/cases/{case.number}/archive-access/", {"reason": "核对口径"}).status_code == 302
    page = reader.get(f"/cases/{case.number}/")
    assert page.status_code == 403 and "等待档案管理员审批" in page.content.decode()

    html = client.get("/queues/archive-access/").content.decode()
    assert case.number in html and "核对口径" in html
    req = ArchiveAccessRequest.objects.get(case=case)
    client.post(
        f"/cases/{case.number}/act/decide_archive_access/",
        {
            "request_id": req.pk,
            "approve": "1",
            "days": "7",
            "expected_version": case.__class__.objects.get(pk=case.pk).version,
        },
    )
    req.refresh_from_db()
    assert req.state == "approved"
    page = reader.get(f"/cases/{case.number}/")
    assert page.status_code == 200 and "档案调阅已获批准，有效期至" in page.content.decode()


def test_the_analysts_home_is_the_dashboard(client, org):
    client.force_login(org.analyst)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/analytics/")
    client.force_login(org.handler)
    assert client.get("/").status_code == 200


def test_the_case_page_names_codes_and_tells_the_reply_went_out(client, org):
    """No raw codes on the case page: the invalidity reason and the closing by their names, the version in
    words; after the reply the status is not 待答复, and the header deadline names its stage."""
    from kesu.cases.services import perform
    from tests import factories

    o = org
    case = factories.make_case(o.intake)
    perform(case, "mark_invalid", o.intake, reason="out_of_remit")
    client.force_login(o.supervisor)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert "out_of_remit" not in page and "不属于公司职责范围" in page
    assert ">invalid<" not in page and "第 2 次更新" in page and f">v{case.version}<" not in page

    case = factories.make_case(o.intake)
    for action, actor, data in [
        ("accept", o.intake, {}),
        ("assign", o.intake, {"handler": o.handler.pk}),
        ("start_investigation", o.handler, {}),
        ("propose_remedy", o.handler, {"remedy_type": "explanation", "amount": "0", "description": "说明"}),
    ]:
        perform(case, action, actor, **data)
        case.refresh_from_db()
    client.force_login(o.handler)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert ">待答复<" in page and "当前时限（" in page
    perform(case, "reply", o.handler, text="已答复")
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert ">待答复<" not in page and ">已答复，待结案<" in page
