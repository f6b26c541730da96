"""API, admin form, inbox and the monthly penalty export."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.test import Client

from kesu.calendar.models import CalendarYear
from kesu.calendar.workcalendar import get_calendar
from kesu.cases.models import Accountability
from kesu.sla.models import Notification
from kesu.sla.notify import notify

from .helpers import at, register, to_investigation

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_deadline_endpoint(org):
    r = client_for(org.handler).get(
        "/api/v1/sla/deadline", {"start": "2026-09-30 17:00", "duration": "3 working days", "explain": "true"}
    )
    assert r.status_code == 200, r.content
    assert r.json()["due"] == "2026-10-10T23:59:59+08:00"
    assert any("国庆节" in line for line in r.json()["explain"])


def test_inbox_unread_and_mark_read(org):
    case = register(org, "2026-11-23 09:00")
    notify([org.handler], kind="test", title="测试通知", case=case, key="k1")
    notify([org.handler], kind="test", title="测试通知", case=case, key="k1")  # idempotent
    c = client_for(org.handler)
    data = c.get("/api/v1/sla/inbox").json()
    assert data["unread"] == 1 and data["items"][0]["case"] == case.number
    r = c.post("/api/v1/sla/inbox/read", {"ids": [data["items"][0]["id"]]}, content_type="application/json")
    assert r.status_code == 200 and r.json()["marked"] == 1
    assert c.get("/api/v1/sla/inbox").json()["unread"] == 0
    assert Notification.objects.filter(user=org.handler).count() == 1


def test_case_deadlines_endpoint_respects_scope(org):
    case = register(org, "2026-11-23 09:00")
    ok = client_for(org.supervisor).get(f"/api/v1/sla/cases/{case.number}/deadlines")
    assert ok.status_code == 200 and {r["stage"] for r in ok.json()} >= {"record", "answer"}


def test_admin_form_enters_a_year(org):
    org.admin.is_staff = org.admin.is_superuser = True
    org.admin.save()
    c = client_for(org.admin)
    r = c.post(
        "/admin/calendar/calendaryear/load/",
        {"year": "2027", "holidays": "2027-10-01 2027-10-07 国庆节", "workdays": "2027-10-09 国庆节"},
    )
    assert r.status_code == 302, r.content.decode()[:500]
    assert CalendarYear.objects.get(year=2027).source == "official"
    cal = get_calendar()
    assert not cal.is_workday(at("2027-10-06 10:00").date()) and cal.is_workday(at("2027-10-09 10:00").date())


def test_monthly_penalty_summary_export(org, tmp_path):
    case = register(org, "2026-11-23 09:00", flags=["injury"])
    to_investigation(org, case, "2026-11-23 09:10")
    assert Accountability.objects.filter(case=case).count() == 1
    out = tmp_path / "p.csv"
    call_command(
        "sla", "penalties", "--month", "2026-11", "--out", str(out), "--proposed", stdout=io.StringIO()
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    person = next(r for r in rows if r["工号"] == "handler")
    boss = next(r for r in rows if r["工号"] == "quality_head")
    assert person["罚款合计（元）"] == "100.00" and boss["罚款合计（元）"] == "50.00"
    xlsx = tmp_path / "p.xlsx"
    call_command(
        "sla", "penalties", "--month", "2026-11", "--out", str(xlsx), "--proposed", stdout=io.StringIO()
    )
    from openpyxl import load_workbook

    ws = load_workbook(xlsx).active
    assert ws.max_row == len(rows) + 1
    empty = tmp_path / "e.csv"
    call_command("sla", "penalties", "--month", "2026-10", "--out", str(empty), stdout=io.StringIO())
    assert len(list(csv.DictReader(empty.open(encoding="utf-8-sig")))) == 0


def test_sweep_command_is_idempotent(org):
    case = register(org, "2026-11-02 09:00")
    to_investigation(org, case, "2026-11-02 09:10")
    out = io.StringIO()
    call_command("sla", "sweep", "--now", "2026-11-20 10:00", stdout=out)
    assert "超时 1" in out.getvalue()
    out = io.StringIO()
    call_command("sla", "sweep", "--now", "2026-11-20 10:00", stdout=out)
    assert "检查 0 项" in out.getvalue()
