"""An expired 暂结案 is closed on schedule, never treated as a breach (003 恒康天安 第五条(五)/第八条(五))."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.cases.models import Accountability, Case, CaseEvent, Status
from kesu.cases.services import perform
from kesu.sla.models import Notification, StageDeadline
from kesu.sla.selectors import timeliness_summary
from kesu.sla.sweeper import sweep

from .helpers import at, register, to_investigation

pytestmark = pytest.mark.django_db


def test_the_sweeper_closes_an_expired_suspension_without_breach_or_escalation(org):
    case = register(org, "2026-05-04 09:00")
    to_investigation(org, case, "2026-05-04 09:10")
    perform(case, "suspend", org.handler, now=at("2026-05-06 10:00"), reason="等待客户补充材料")
    limit = StageDeadline.objects.get(case=case, stage="suspension")
    accountability_before = Accountability.objects.filter(case=case).count()

    # a day before the limit: nothing happens
    report = sweep(limit.due_at - dt.timedelta(days=1))
    assert Case.objects.get(pk=case.pk).status == Status.SUSPENDED and report.expirations == 0

    report = sweep(limit.due_at + dt.timedelta(minutes=5))
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.closing_criterion == "suspension_expired"
    assert report.expirations == 1 and report.breaches == 0 and report.escalations == 0
    last = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert last.action == "expire_suspension" and last.actor is None
    assert not CaseEvent.objects.filter(case=case, action="escalate").exists()
    assert Accountability.objects.filter(case=case).count() == accountability_before
    assert not Notification.objects.filter(kind="sla.escalation").exists()
    limit.refresh_from_db()
    assert limit.state == "met" and limit.breached_at is None
    assert "suspension" not in timeliness_summary()

    # sweeping again changes nothing
    report = sweep(limit.due_at + dt.timedelta(days=3))
    assert report.expirations == 0
    assert CaseEvent.objects.filter(case=case, action="expire_suspension").count() == 1
