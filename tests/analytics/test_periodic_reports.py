"""Quarterly and annual reports beside the daily, weekly and monthly ones: which a company files and by
when come from the policy (securities: the annual report by 30 April, 000 第7篇 第二十一条; the telecom
regulator's quarterly statistics, 003 电信用户申诉 第七条); the scheduler produces them and makes up
missed periods."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from kesu.analytics import reports, tasks
from kesu.analytics.models import GeneratedReport
from kesu.analytics.periods import Period
from kesu.analytics.tasks import due_reports, generate_periodic_report
from kesu.policy.loader import resolve_preset
from kesu.policy.rules import Rules
from tests import factories
from tests.analytics.util import at, register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_due_dates_come_from_the_policy():
    securities = Rules(resolve_preset("securities"))
    assert securities.report_due_date("annual", dt.date(2026, 12, 31)) == dt.date(2027, 4, 30)
    assert securities.report_due_date("quarterly", dt.date(2026, 12, 31)) is None
    telecom = Rules(resolve_preset("telecom", ["miit_telecom"]))
    assert telecom.report_due_date("quarterly", dt.date(2026, 9, 30)) == dt.date(2026, 10, 15)
    assert telecom.report_due_date("annual", dt.date(2026, 12, 31)) is None
    assert Rules(resolve_preset("general")).periodic_reports() == {}


def test_securities_annual_report_counts_the_year_and_states_its_filing():
    o = factories.org("securities")
    for when in (at(2026, 3, 10), at(2026, 11, 5), at(2026, 12, 31, 23, 30)):
        register(o, when, channel="hotline", category="account")
    register(o, at(2027, 1, 1, 0, 30), channel="hotline", category="account")  # next year: not counted
    due = due_reports(dt.date(2027, 1, 2))
    assert ("annual", "2026") in due
    assert not [k for k, _ in due if k == "quarterly"]  # the securities rules file no quarterly report

    [pk] = generate_periodic_report.call("annual", "2026", formats=["html"])
    report = GeneratedReport.objects.get(pk=pk)
    assert (report.kind, report.period_start, report.period_end) == (
        "annual",
        dt.date(2026, 1, 1),
        dt.date(2027, 1, 1),
    )
    assert report.title == "2026年投诉分析年报" and report.due_on == dt.date(2027, 4, 30)
    html = reports.read_report(report).decode()
    assert "报送：公司住所地及证券营业部所在地证监局，期限 2027-04-30" in html
    assert "000 第7篇 第二十一条" in html and "已超过报送期限" not in html
    data = reports.build_report("annual", Period.parse("2026"), now=at(2027, 1, 2, 6))
    assert data["headline"]["count"] == 3
    # Archived: the next run does not produce it again.
    assert ("annual", "2026") not in due_reports(dt.date(2027, 1, 3))


def test_telecom_quarterly_reports_are_made_up_for_missed_quarters_and_marked_late():
    o = factories.org("telecom", ["miit_telecom"])
    register(o, at(2026, 4, 20), channel="hotline", category="network")
    register(o, at(2026, 8, 3), channel="hotline", category="network")
    today = dt.date(2026, 11, 20)  # Q3 was due on 15 October; the scheduler was down since
    quarterly = [p for k, p in due_reports(today) if k == "quarterly"]
    assert quarterly == ["2026-Q2", "2026-Q3"]
    assert not [k for k, _ in due_reports(today) if k == "annual"]

    fake_now = at(2026, 11, 20, 6)
    tasks_timezone = types.SimpleNamespace(now=lambda: fake_now)
    original = tasks.timezone
    tasks.timezone = tasks_timezone
    try:
        done = tasks.run_report_schedule.call(False)
    finally:
        tasks.timezone = original
    # The scheduler enqueues both missed quarters (the worker then runs generate_periodic_report).
    assert {"quarterly:2026-Q2", "quarterly:2026-Q3"} <= set(done)
    for period in ("2026-Q2", "2026-Q3"):
        generate_periodic_report.call("quarterly", period, formats=["html"])
    q3 = GeneratedReport.objects.get(kind="quarterly", period_start=dt.date(2026, 7, 1))
    assert q3.due_on == dt.date(2026, 10, 15) and q3.title == "2026年第3季度投诉分析季报"
    assert "已超过报送期限" in reports.read_report(q3).decode()
    assert [p for k, p in due_reports(today) if k == "quarterly"] == []
    data = reports.build_report("quarterly", Period.parse("2026-Q3"), now=fake_now)
    assert data["headline"]["count"] == 1
    assert data["filing"]["late"] and data["filing"]["recipient"] == "通信管理局"


def test_without_a_filing_rule_there_is_no_quarterly_or_annual_schedule(org):
    register(org, at(2025, 2, 1))
    kinds = {k for k, _ in due_reports(dt.date(2026, 1, 5))}
    assert kinds == {"daily", "weekly", "monthly"}
    # A quarterly report made by hand is still possible, with no filing line.
    data = reports.build_report("quarterly", Period.parse("2025-Q4"), now=at(2026, 1, 5))
    assert data["filing"] is None and data["title"] == "2025年第4季度投诉分析季报"
