"""Improvement measures (CAPA): created from cases, effect before vs after, overdue escalation; the report command."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from kesu.analytics import services
from kesu.analytics.models import GeneratedReport, ImprovementMeasure
from kesu.errors import Invalid
from tests.analytics.util import at, register

pytestmark = pytest.mark.django_db


def test_measure_from_cases_and_its_effect(org):
    before = [
        register(org, at(2025, 9, d), category="service.attitude", branch="EAST") for d in (3, 8, 15, 22, 28)
    ]
    register(org, at(2025, 9, 10), category="billing.wrong", branch="EAST")  # another series: not counted
    register(org, at(2025, 11, 12), category="service.attitude", branch="EAST")  # after: 1
    measure = services.create_measure(
        actor=org.analyst,
        data={
            "title": "服务态度专项培训",
            "root_cause": "一线人员话术不规范",
            "branch": "EAST",
            "due_date": "2025-10-20",
            "started_on": dt.date(2025, 10, 1),
            "owner": org.quality_head.pk,
        },
        cases=before[:3],
    )
    assert measure.category.code == "service.attitude"  # taken from the cases
    assert measure.cases.count() == 3
    services.approve_measure(
        measure, actor=org.gm
    )  # 001 篇9 3.1.2 (tests/analytics/test_measure_approval.py)
    measure.refresh_from_db()
    with pytest.raises(Invalid):
        services.update_state(measure, "done")  # evidence required
    services.update_state(measure, "done", evidence="培训签到表", on=dt.date(2025, 10, 20))
    effect = services.evaluate_effect(measure, today=dt.date(2025, 12, 1))
    # Before: 1–30 Sep (5 cases); after: 21 Oct – 19 Nov (1 case) → −80 %, effective.
    assert (effect["before"], effect["after"]) == (5, 1)
    assert effect["change_pct"] == -80.0 and effect["effective"] is True
    measure.refresh_from_db()
    assert measure.effective is True and measure.effect_before == 5
    early = services.evaluate_effect(measure, today=dt.date(2025, 11, 1))
    assert early["complete"] is False and "评估期未满" in early["verdict"]


def test_overdue_measure_escalates_once(org, mailoutbox):
    measure = services.create_measure(
        actor=org.analyst,
        data={
            "title": "计费规则梳理",
            "root_cause": "规则不清",
            "due_date": "2025-10-01",
            "owner": org.handler.pk,
        },
    )
    services.approve_measure(measure, actor=org.gm)
    done = services.escalate_overdue_measures(today=dt.date(2025, 10, 5))
    assert done == [measure]
    assert sorted(mailoutbox[0].to) == ["handler@example.test", "quality_head@example.test"]
    assert services.escalate_overdue_measures(today=dt.date(2025, 10, 6)) == []
    assert ImprovementMeasure.objects.get(pk=measure.pk).escalated_at is not None


def test_report_command_archives_a_monthly_report(org, settings, tmp_path, capsys):
    settings.MEDIA_ROOT = tmp_path
    register(org, at(2025, 11, 3), category="service.attitude")
    out = tmp_path / "m.html"
    call_command("report", "monthly", "--month", "2025-11", "--format", "html", "--output", str(out))
    assert "2025年11月投诉分析月报" in capsys.readouterr().out
    assert "本月共接收投诉 1 件" in out.read_text(encoding="utf-8")
    assert GeneratedReport.objects.get().format == "html"
