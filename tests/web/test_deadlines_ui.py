"""The deadline engine in the workbench: working-time countdowns, stage deadlines, extensions, the
in-app inbox, calendar notices for administrators, the board's cached counts and capped queue counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from kesu.calendar import workcalendar as sla_calendar
from kesu.calendar.models import CalendarYear
from kesu.cases.models import Case
from kesu.cases.services import perform
from kesu.sla.models import Notification, StageDeadline
from kesu.sla.selectors import working_seconds, working_time_remaining
from tests import factories
from tests.sla.helpers import at, register, to_investigation


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    sla_calendar.clear_cache()
    yield
    sla_calendar.clear_cache()


def cal(org):
    from kesu.policy.selectors import active_rules

    return sla_calendar.get_calendar(None, active_rules())


# --- working time left --------------------------------------------------------------------------


def test_working_time_left_counts_business_hours_of_working_days(org):
    # Monday 10:00 → Wednesday 24:00: Mon 10–12 + 13:30–18 (6.5 h), Tue and Wed 7.5 h each = 21.5 h,
    # i.e. 2 business days of 7.5 h and 6.5 h.
    left = working_time_remaining(at("2025-06-11 23:59:59"), at("2025-06-09 10:00"))
    assert not left.overdue
    assert left.seconds == pytest.approx(21.5 * 3600, abs=1)
    assert left.parts == (2, 6, 30)
    assert left.text == "剩余 2 个工作日 6 小时"
    assert left.urgency == "ok"


def test_working_time_left_skips_the_national_day_holiday(org):
    # 30 Sep 2025 17:00 → 9 Oct 2025 24:00: 1 h on 30 Sep, 1–8 Oct are holidays, 7.5 h on 9 Oct.
    left = working_time_remaining(at("2025-10-09 23:59:59"), at("2025-09-30 17:00"))
    assert left.parts == (1, 1, 0)
    assert left.text == "剩余 1 个工作日 1 小时"


def test_overdue_is_counted_in_working_time_too(org):
    # Due Monday 24:00; now Wednesday 10:00: Tuesday 7.5 h + Wednesday 09:00–10:00.
    left = working_time_remaining(at("2025-06-09 23:59:59"), at("2025-06-11 10:00"))
    assert left.overdue and left.urgency == "over"
    assert left.text == "已超时 1 个工作日 1 小时"


def test_urgency_follows_the_business_day(org):
    assert working_time_remaining(at("2025-06-10 12:00"), at("2025-06-10 09:00")).urgency == "today"
    assert working_time_remaining(at("2025-06-10 17:00"), at("2025-06-09 17:00")).urgency == "soon"
    # Due tonight after business hours: nothing left in working time, not overdue yet.
    evening = working_time_remaining(at("2025-06-10 23:59:59"), at("2025-06-10 19:00"))
    assert not evening.overdue and evening.text.startswith("23:59 到期")


def test_fast_count_matches_the_calendar_over_a_year(org):
    c = cal(org)
    a, b = at("2025-01-02 10:17"), at("2025-12-30 15:42")
    assert working_seconds(c, a, b) == pytest.approx(c.working_seconds_between(a, b))


# --- the queues show it -------------------------------------------------------------------------


def _due_in(case, delta: dt.timedelta) -> None:
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() + delta)


def test_queue_shows_countdowns_in_working_time_coloured_by_urgency(client, org):
    late = factories.make_case(org.intake, description="逾期的投诉，客户多次来电。")
    fine = factories.make_case(org.intake, description="时间充裕的投诉，正在核实。")
    _due_in(late, -dt.timedelta(days=30))
    _due_in(fine, dt.timedelta(days=30))
    client.force_login(org.supervisor)
    html = client.get("/cases/?sort=due").content.decode()
    spans = dict(re.findall(r'<span class="due (due-\w+)"[^>]*>([^<]+)</span>', html)[:2])
    assert any(t.startswith("已超时") and "个工作日" in t for t in [spans.get("due-over", "")])
    assert spans.get("due-ok", "").startswith("剩余") and "个工作日" in spans["due-ok"]
    # The overdue case comes first when sorted by deadline.
    assert html.index(late.number) < html.index(fine.number)


def test_sorting_by_deadline_puts_cases_without_one_last(client, org):
    none = factories.make_case(org.intake, description="没有时限的案件。")
    soon = factories.make_case(org.intake, description="有时限的案件。")
    Case.objects.filter(pk=none.pk).update(due_at=None)
    _due_in(soon, dt.timedelta(days=2))
    client.force_login(org.supervisor)
    for sort in ("due", "-due"):
        html = client.get(f"/cases/?sort={sort}").content.decode()
        assert html.index(soon.number) < html.index(none.number), sort


def test_queue_count_is_capped(client, org, monkeypatch):
    from kesu.web.views import CappedPaginator

    for i in range(3):
        factories.make_case(org.intake, description=f"第{i}件投诉，内容足够长。")
    client.force_login(org.supervisor)
    assert "共 3 件" in client.get("/cases/").content.decode()
    monkeypatch.setattr(CappedPaginator, "cap", 2)
    html = client.get("/cases/").content.decode()
    assert "超过 2 件" in html and "共 3 件" not in html


# --- the case page: stage deadlines and the extension form ----------------------------------------


def test_case_page_lists_stage_deadlines_with_marks(client, org):
    case = register(org, "2026-11-16 10:00")
    to_investigation(org, case, "2026-11-16 10:30")
    StageDeadline.objects.filter(case=case, stage="answer").update(under_fallback=True)
    client.force_login(org.handler)
    html = client.get(f"/cases/{case.number}/").content.decode()
    table = html[html.index('id="stage-deadlines"') :]
    table = table[: table.index("</table>")]
    assert "规定时限" in table and "个工作日" in table
    assert "按时完成" in table  # the record stage was met at registration
    assert "估算" in table  # the answer deadline computed under the fallback calendar
    assert "stage-open" in table  # open stages show their working time left or overdue


def test_extend_deadline_form_posts_stage_days_and_reason(client, org):
    case = register(org, "2026-11-16 10:00")
    to_investigation(org, case, "2026-11-16 10:30")
    answer = StageDeadline.objects.get(case=case, stage="answer", state="open")
    client.force_login(org.supervisor)
    html = client.get(f"/cases/{case.number}/").content.decode()
    form = html[html.index('action="/cases/' + case.number + '/act/extend_deadline/"') :]
    form = form[: form.index("</form>")]
    assert 'name="stage"' in form and 'name="days"' in form and 'name="reason"' in form
    assert '<option value="answer" selected' in form
    case.refresh_from_db()
    r = client.post(
        f"/cases/{case.number}/act/extend_deadline/",
        {"expected_version": case.version, "stage": "answer", "days": "3", "reason": "需第三方鉴定"},
    )
    assert r.status_code == 302, r.content.decode()[:500]
    answer.refresh_from_db()
    assert answer.extension_days == 3
    c = cal(org)
    assert c.working_days_between(answer.base_due_at, answer.due_at) == 3


# --- in-app inbox -------------------------------------------------------------------------------


def _notify(user, title, case=None):
    from kesu.sla.notify import notify

    return notify([user], kind="warning", title=title, body="请尽快处理", case=case, key=f"t:{title}")


def test_inbox_page_badge_and_mark_read(client, org):
    case = factories.make_case(org.intake)
    _notify(org.handler, "案件即将超时", case)
    _notify(org.handler, "案件已超时")
    _notify(org.handler2, "别人的通知")
    client.force_login(org.handler)
    home = client.get("/").content.decode()
    assert re.search(r'id="inbox-link"[^>]*>[^<]*<span class="count-badge"[^>]*>2</span>', home)
    page = client.get("/inbox/").content.decode()
    assert "案件即将超时" in page and "案件已超时" in page and case.number in page
    assert "别人的通知" not in page
    first = Notification.objects.get(user=org.handler, title="案件即将超时")
    client.post("/inbox/read/", {"id": first.pk})
    first.refresh_from_db()
    assert first.read_at is not None
    assert re.search(r"count-badge[^>]*>1</span>", client.get("/").content.decode())
    # Someone else's notification cannot be marked read through one's own inbox.
    other = Notification.objects.get(user=org.handler2)
    client.post("/inbox/read/", {"id": other.pk})
    other.refresh_from_db()
    assert other.read_at is None
    client.post("/inbox/read/", {"all": "1"})
    assert not Notification.objects.filter(user=org.handler, read_at__isnull=True).exists()
    assert "count-badge" not in client.get("/").content.decode()


# --- calendar notices for administrators ----------------------------------------------------------


def test_administrators_see_a_missing_holiday_schedule(client, org):
    from kesu.calendar.services import ensure_calendar_seeded

    ensure_calendar_seeded()
    year = timezone.localdate().year
    CalendarYear.objects.filter(year=year).delete()
    sla_calendar.clear_cache()
    client.force_login(org.admin)
    html = client.get("/").content.decode()
    assert f"{year} 年国务院放假安排尚未录入" in html
    org.admin.is_staff = org.admin.is_superuser = True
    org.admin.save()
    assert f"{year} 年国务院放假安排尚未录入" in client.get("/admin/").content.decode()
    client.force_login(org.handler)
    assert "放假安排尚未录入" not in client.get("/").content.decode()


# --- supervisor board -----------------------------------------------------------------------------


def test_board_counts_are_cached_for_30_seconds_and_say_when(client, org):
    cache.clear()
    a = factories.make_case(org.intake, description="第一件逾期投诉，内容足够长。")
    _due_in(a, -dt.timedelta(days=3))
    client.force_login(org.supervisor)
    html = client.get("/board/").content.decode()
    assert re.search(r'id="board-overdue">1<', html)
    assert "数据更新于" in html
    b = factories.make_case(org.intake, description="第二件逾期投诉，内容足够长。")
    _due_in(b, -dt.timedelta(days=3))
    assert re.search(r'id="board-overdue">1<', client.get("/board/").content.decode())  # within 30 s
    cache.clear()
    assert re.search(r'id="board-overdue">2<', client.get("/board/").content.decode())


def test_board_tables_count_by_department_and_level(org):
    from kesu.web.selectors import board

    a = factories.make_case(org.intake, description="逾期投诉，内容足够长。")
    perform(a, "accept", org.intake)
    perform(a, "assign", org.intake, department="QUALITY", handler=org.handler.pk)
    _due_in(a, -dt.timedelta(days=1))
    b = factories.make_case(org.intake, description="即将到期的投诉，内容足够长。")
    _due_in(b, dt.timedelta(hours=3))
    data = board(org.supervisor, use_cache=False)
    assert data["overdue_count"] == 1 and data["near_count"] == 1
    quality = [r for r in data["overdue_table"] if r["department"]]
    assert quality and quality[0]["total"] == 1
    assert data["near_table"][0]["department"] == ""  # not routed yet: "（未分派）" on the page
