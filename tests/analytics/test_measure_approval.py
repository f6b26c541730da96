"""001 篇9 3.1.2 预防措施制定后由总经理签字批准后实施 (篇8 八): a measure stays 待审批 until the general
manager approves it; the general manager hears of it in the inbox; nobody else approves."""

from __future__ import annotations

import pytest
from django.test import Client

from kesu.analytics import services
from kesu.analytics.models import ImprovementMeasure
from kesu.errors import Conflict, Forbidden
from kesu.sla.models import Notification

pytestmark = pytest.mark.django_db


def client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_a_preventive_measure_waits_for_the_general_manager(org):
    # The analyst files the measure on the page.
    response = client(org.analyst).post(
        "/analytics/measures/",
        {"title": "热水器安装规范培训", "root_cause": "安装人员未按规范打压测试", "due_date": "2026-12-31"},
    )
    assert response.status_code == 302
    measure = ImprovementMeasure.objects.get(title="热水器安装规范培训")
    assert measure.state == ImprovementMeasure.State.PENDING_APPROVAL
    page = client(org.analyst).get(f"/analytics/measures/{measure.pk}/").content.decode()
    assert "待总经理审批，批准前不得实施" in page and 'id="measure-approve"' not in page
    # The general manager finds it in the inbox.
    note = Notification.objects.get(user=org.gm, kind="measure.approval")
    assert "热水器安装规范培训" in note.title
    assert "热水器安装规范培训" in client(org.gm).get("/inbox/").content.decode()
    # It cannot take effect before the approval.
    with pytest.raises(Conflict):
        services.update_state(measure, "in_progress")
    # Others cannot approve: the supervisor on the page, the customer-service manager through the API.
    assert client(org.supervisor).post(f"/analytics/measures/{measure.pk}/approve/").status_code == 403
    refused = client(org.manager).post(f"/api/v1/analytics/measures/{measure.pk}/approve")
    assert refused.status_code == 403
    with pytest.raises(Forbidden):
        services.approve_measure(measure, actor=org.analyst)
    measure.refresh_from_db()
    assert measure.state == ImprovementMeasure.State.PENDING_APPROVAL and measure.approved_by is None
    # The general manager approves on the measure's page.
    assert 'id="measure-approve"' in client(org.gm).get(f"/analytics/measures/{measure.pk}/").content.decode()
    assert client(org.gm).post(f"/analytics/measures/{measure.pk}/approve/").status_code == 302
    measure.refresh_from_db()
    assert measure.state == ImprovementMeasure.State.PLANNED and measure.approved_by == org.gm
    page = client(org.analyst).get(f"/analytics/measures/{measure.pk}/").content.decode()
    assert "gm 于" in page and "批准" in page
    services.update_state(measure, "in_progress")
    assert client(org.analyst).get("/api/v1/analytics/measures").json()[0]["approved_at"]


def test_the_api_approval_and_a_second_approval(org):
    measure = services.create_measure(
        actor=org.analyst, data={"title": "账单核对", "root_cause": "规则不清", "due_date": "2026-12-31"}
    )
    response = client(org.gm).post(f"/api/v1/analytics/measures/{measure.pk}/approve")
    assert response.status_code == 200 and response.json()["state"] == "planned"
    again = client(org.gm).post(f"/api/v1/analytics/measures/{measure.pk}/approve")
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    # A pending measure may still be dropped.
    other = services.create_measure(
        actor=org.analyst, data={"title": "取消的措施", "root_cause": "重复", "due_date": "2026-12-31"}
    )
    services.update_state(other, "cancelled")
    assert ImprovementMeasure.objects.get(pk=other.pk).state == "cancelled"
