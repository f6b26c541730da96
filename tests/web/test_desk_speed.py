"""Doing a day's work quickly: bulk actions, saved views, cursor paging and export of any queue, keyboard
shortcuts, reply templates, the intake preview (deadlines, triage, open cases, phone check), panel review,
and a conflict that keeps what the user typed."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook

from kesu.cases.models import Case, CaseEvent, PanelReview, Status
from kesu.intake import exporters
from kesu.intake.models import ExportLog
from kesu.trust.pii import can_see_pii
from kesu.web import selectors as web_selectors
from kesu.web import views
from kesu.web.models import ReplyTemplate, SavedView
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def accepted(o, **overrides) -> Case:
    case = factories.make_case(o.intake, **overrides)
    Walk(case)("accept", o.intake)
    return case


def investigating(o, **overrides) -> tuple[Case, Walk]:
    case = factories.make_case(o.intake, **overrides)
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    walk("start_investigation", o.handler, contacted_customer=True)
    return case, walk


def responding(o, **overrides) -> tuple[Case, Walk]:
    case, walk = investigating(o, **overrides)
    walk("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="说明")
    assert case.status == Status.RESPONDING
    return case, walk


# --- bulk actions ----------------------------------------------------------------------------------


def test_bulk_assign_does_each_case_and_reports_the_refused_one(client, org):
    a, b = accepted(org), accepted(org)
    fresh = factories.make_case(org.intake)  # registered, not accepted: assign is refused
    client.force_login(org.supervisor)
    page = client.get("/queues/unassigned/").content.decode()
    assert 'id="bulk-form"' in page and f'name="case" value="{a.number}"' in page

    r = client.post(
        "/queues/bulk/",
        {
            "bulk_action": "assign",
            "case": [a.number, fresh.number, b.number],
            "department": "QUALITY",
            "handler": str(org.handler.pk),
            "next": "/queues/unassigned/",
        },
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "完成 2 件，未执行 1 件" in html
    refused = html[html.index(fresh.number) :]
    refused = refused[: refused.index("</tr>")]
    assert "不能执行" in refused  # the reason: its status does not allow assigning
    for case in (a, b):
        case.refresh_from_db()
        assert case.handler_id == org.handler.pk and case.status == Status.ASSIGNED
        assert CaseEvent.objects.filter(case=case, action="assign").exists()
    fresh.refresh_from_db()
    assert fresh.status == Status.REGISTERED and fresh.handler_id is None


def test_bulk_actions_go_through_perform_and_its_permissions(client, org):
    a = accepted(org)
    # a handler holds no role for assigning: the bar does not offer it, and perform refuses it per case
    client.force_login(org.handler)
    assert "分派/改派" not in client.get("/cases/").content.decode()
    r = client.post("/queues/bulk/", {"bulk_action": "assign", "case": [a.number], "handler": org.handler.pk})
    assert r.status_code == 200 and "完成 0 件，未执行 1 件" in r.content.decode()
    a.refresh_from_db()
    assert a.status == Status.ACCEPTED
    # an unknown action and an empty selection are refused as a whole, back on the queue page
    assert client.post("/queues/bulk/", {"bulk_action": "delete", "case": [a.number]}).status_code == 302
    assert client.post("/queues/bulk/", {"bulk_action": "assign"}).status_code == 302


def test_bulk_close_hands_the_cases_to_follow_up_and_bulk_archive(client, org):
    c1, w1 = responding(org)
    c2, w2 = responding(org)
    w1("reply", org.handler, text="已说明")
    # c2 has no reply yet: closing is refused for it alone
    client.force_login(org.handler)
    r = client.post(
        "/queues/bulk/", {"bulk_action": "close", "case": [c1.number, c2.number], "criterion": "accepted"}
    )
    html = r.content.decode()
    assert "完成 1 件，未执行 1 件" in html and "结案前须先答复客户" in html
    c1.refresh_from_db()
    assert c1.status == Status.CLOSED
    follow = client.__class__()
    follow.force_login(org.followup)
    assert c1.number in follow.get("/queues/follow-ups/").content.decode()
    # no criterion: nothing is attempted
    r = client.post("/queues/bulk/", {"bulk_action": "close", "case": [c2.number]})
    assert r.status_code == 302

    Walk(c1)("follow_up", org.followup, score=5)
    client.force_login(org.archivist)
    r = client.post("/queues/bulk/", {"bulk_action": "archive", "case": [c1.number, c2.number]})
    assert "完成 1 件，未执行 1 件" in r.content.decode()
    c1.refresh_from_db()
    assert c1.status == Status.ARCHIVED


# --- saved views --------------------------------------------------------------------------------------


def test_saved_views_are_personal_unless_a_supervisor_shares_them(client, org):
    client.force_login(org.handler)
    r = client.post(
        "/queues/views/save/",
        {
            "queue": "all",
            "name": "我的紧急件",
            "query": "level=urgent&page=3&cursor=x&export=csv&status=assigned",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/cases/?level=urgent&status=assigned"
    view = SavedView.objects.get(owner=org.handler)
    assert view.query == "level=urgent&status=assigned" and view.department is None
    assert "我的紧急件" in client.get("/cases/").content.decode()
    # a handler may not share with the department
    client.post("/queues/views/save/", {"queue": "all", "name": "共享", "query": "", "share": "1"})
    assert not SavedView.objects.filter(name="共享").exists()

    colleague = client.__class__()
    colleague.force_login(org.handler2)
    assert "我的紧急件" not in colleague.get("/cases/").content.decode()

    # the head of quality shares one; the department's people see it, another department does not
    head = client.__class__()
    head.force_login(org.quality_head)
    head.post(
        "/queues/views/save/", {"queue": "dept", "name": "本周超时", "query": "overdue=1", "share": "1"}
    )
    assert SavedView.objects.get(name="本周超时").department == org.quality
    assert "本周超时" in colleague.get("/queues/department/").content.decode()
    other = client.__class__()
    other.force_login(org.claims_handler)
    assert "本周超时" not in other.get("/queues/department/").content.decode()
    # only the owner deletes it
    shared = SavedView.objects.get(name="本周超时")
    colleague.post("/queues/views/delete/", {"id": shared.pk, "queue": "dept"})
    assert SavedView.objects.filter(pk=shared.pk).exists()
    head.post("/queues/views/delete/", {"id": shared.pk, "queue": "dept"})
    assert not SavedView.objects.filter(pk=shared.pk).exists()


# --- cursor paging and export ---------------------------------------------------------------------------


def test_lists_go_beyond_the_cap_with_a_cursor(client, org, monkeypatch):
    monkeypatch.setattr(views.CappedPaginator, "cap", 3)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    cases = [factories.make_case(org.intake) for _ in range(7)]
    expected = [c.number for c in sorted(cases, key=lambda c: (c.received_at, c.pk), reverse=True)]
    client.force_login(org.supervisor)
    seen, url = [], "/cases/"
    for _ in range(10):
        html = client.get(url).content.decode()
        seen += [n for n in expected if f'data-case="{n}"' in html and n not in seen]
        marker = 'id="next-page"'
        if marker not in html:
            break
        link = html[: html.index(marker)]
        url = "/cases/" + link[link.rindex('href="') + 6 :].split('"')[0].replace("&amp;", "&")
    assert seen == expected
    assert "cursor=" in url  # the pages after the cap came through the cursor


def test_keyset_order_matches_the_sort_with_empty_deadlines(org):
    cases = [factories.make_case(org.intake) for _ in range(6)]
    Case.objects.filter(pk__in=[cases[1].pk, cases[4].pk]).update(due_at=None)
    qs = web_selectors.list_cases(org.supervisor)
    for sort in ("due", "-due", "level", "-level", "received", "number", "-number"):
        full = [c.pk for c in web_selectors.apply_sort(qs, sort)]
        got, cursor = [], None
        for _ in range(10):
            rows, cursor = web_selectors.keyset_page(qs, sort, cursor, 2)
            got += [c.pk for c in rows]
            if cursor is None:
                break
        assert got == full, sort
    # a forged cursor is ignored, not an error
    rows, _ = web_selectors.keyset_page(qs, "due", "not-a-cursor", 2)
    assert len(rows) == 2


def test_any_queue_exports_with_its_filters_masked_and_audited(client, org):
    keep = factories.make_case(org.intake, description='=HYPERLINK("http://x") 热水器漏水', kind="complaint")
    factories.make_case(org.intake, kind="suggestion", description="建议增加网点")
    client.force_login(org.supervisor)
    r = client.get("/cases/?kind=complaint&export=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [keep.number]
    log = ExportLog.objects.get()
    assert log.filters == {"queue": "all", "query": "kind=complaint"} and log.row_count == 1
    assert log.pii_masked == (not can_see_pii(org.supervisor))
    from kesu.trust.models import AuditEntry

    assert AuditEntry.objects.filter(action="export.list").exists()

    r = client.get("/cases/?kind=complaint&export=xlsx")
    ws = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True).active
    values = [row for row in ws.iter_rows(values_only=True)]
    assert values[1][0] == keep.number and values[1][14].startswith("'=")  # formula neutralised


def test_an_export_never_widens_the_users_view(client, org):
    theirs = factories.make_case(org.intake)
    Walk(theirs)("accept", org.intake)
    Walk(theirs)("assign", org.intake, department="CLAIMS")
    mine = factories.make_case(org.intake)
    Walk(mine)("accept", org.intake)
    Walk(mine)("assign", org.intake, department="QUALITY")
    client.force_login(org.handler)  # quality: may not see a claims case
    r = client.get("/cases/?export=csv")
    text = b"".join(r.streaming_content).decode("utf-8-sig")
    assert mine.number in text and theirs.number not in text
    # even a caller passing every case gets only the visible ones
    out = io.BytesIO()
    log = exporters.export_case_list(org.handler, Case.objects.all(), "csv", out)
    assert log.row_count == 1 and theirs.number not in out.getvalue().decode("utf-8-sig")


# --- keyboard shortcuts ------------------------------------------------------------------------------------


def test_the_help_overlay_lists_the_shortcuts_and_the_script_is_local(client, org):
    client.force_login(org.handler)
    html = client.get("/queues/mine/").content.decode()
    assert 'id="shortcuts-help"' in html and "<kbd>j</kbd>" in html and "答复客户" in html
    assert "cdn" not in html.lower()
    from django.contrib.staticfiles import finders

    js = open(finders.find("web/kesu.js"), encoding="utf-8").read()
    assert 'key === "?"' in js and "kesu.queue" in js


# --- reply templates ---------------------------------------------------------------------------------------


def test_reply_form_offers_templates_filled_in_for_the_case(client, org):
    assert ReplyTemplate.objects.filter(purpose="reply").count() >= 2  # seeded by the data migration
    ReplyTemplate.objects.create(name="仅建议类", kind="suggestion", body="建议 {案件编号}")
    case, _walk = responding(org, customer={"name": "李娜", "phone": "13912345678"})
    client.force_login(org.handler)
    html = client.get(f"/cases/{case.number}/").content.decode()
    picker = html[html.index('id="reply-template"') :]
    picker = picker[: picker.index("</select>")]
    assert "投诉处理结果告知" in picker and "仅建议类" not in picker
    assert f"案件编号 {case.number}" in picker and "{案件编号}" not in picker and "解释说明" in picker
    assert 'data-fill-target="reply-text"' in html


def test_administrators_edit_reply_templates_in_the_admin(client, org):
    org.admin.is_staff = org.admin.is_superuser = True
    org.admin.save()
    client.force_login(org.admin)
    assert client.get("/admin/web/replytemplate/").status_code == 200


# --- intake ----------------------------------------------------------------------------------------------


def intake_data(**overrides):
    data = {
        "client_key": uuid.uuid4().hex,
        "name": "王先生",
        "phone": "13900001111",
        "channel": "phone",
        "kind": "complaint",
        "category": "product.defect",
        "description": "热水器安装三天后漏水，地板被泡坏。",
        "people_count": "1",
    }
    data.update(overrides)
    return data


def test_intake_refuses_a_phone_that_is_no_number(client, org):
    client.force_login(org.intake)
    r = client.post("/intake/", intake_data(phone="abc"))
    assert r.status_code == 200 and not Case.objects.exists()
    assert "电话号码无效" in r.content.decode()
    r = client.post("/intake/", intake_data(phone="+86 139-0000-1111"))
    assert r.status_code == 302
    assert Case.objects.get().customer.phone == "13900001111"


def test_intake_preview_shows_deadlines_suggestion_and_open_cases(client, org):
    same = factories.make_case(org.intake, customer={"name": "王", "phone": "13900001111"})
    other = factories.make_case(
        org.intake, category="service.attitude", customer={"name": "王", "phone": "13900001111"}
    )
    client.force_login(org.intake)
    html = client.post("/intake/preview/", intake_data()).content.decode()
    assert 'id="preview-deadlines"' in html
    table = html[html.index('id="preview-deadlines"') :]
    assert "<td>" in table[: table.index("</table>")]
    assert 'id="preview-suggestion"' in html and "置信度" in html
    assert same.number in html[html.index('id="open-same"') : html.index('id="open-other"')]
    assert other.number in html[html.index('id="open-other"') :]


def test_the_triage_suggestion_is_applied_with_one_click(client, org):
    client.force_login(org.intake)
    r = client.post("/intake/", intake_data(category="", apply_category="service.attitude"))
    html = r.content.decode()
    assert r.status_code == 200 and not Case.objects.exists()
    assert '<option value="service.attitude" selected>' in html


# --- panel review ------------------------------------------------------------------------------------------


def test_panel_members_by_department_meeting_time_opinions(client, org):
    case, walk = investigating(org)
    client.force_login(org.handler)
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert "data-member-filter" in html and 'data-dept="CLAIMS"' in html and "搜索姓名" in html
    walk("convene_panel", org.handler, topic="赔付口径", participants=[org.handler2.pk, org.claims_head.pk])
    review = PanelReview.objects.get()
    case.refresh_from_db()
    r = client.post(
        f"/cases/{case.number}/act/decide_panel/",
        {
            "expected_version": case.version,
            "review_id": review.pk,
            "meeting_at": "2024-05-06T10:30",
            "minutes": "讨论",
            "decision": "按合同赔付",
        },
    )
    assert r.status_code == 302
    review.refresh_from_db()
    assert review.meeting_at is not None and review.meeting_at.year == 2024
    case.refresh_from_db()
    Walk(case)("confirm_panel", org.handler2, review_id=review.pk, opinion="同意，但须书面说明")
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert "2024-05-06 10:30" in html and "同意，但须书面说明" in html and "未确认" in html


# --- conflicts ---------------------------------------------------------------------------------------------


def test_two_plain_notes_never_conflict(client, org):
    case, _walk = investigating(org)
    stale = case.version
    client.force_login(org.handler)
    other = client.__class__()
    other.force_login(org.handler2)
    r1 = client.post(f"/cases/{case.number}/act/add_note/", {"expected_version": stale, "text": "第一条"})
    r2 = other.post(f"/cases/{case.number}/act/add_note/", {"expected_version": stale, "text": "第二条"})
    assert r1.status_code == r2.status_code == 302
    assert CaseEvent.objects.filter(case=case, action="add_note").count() == 2
