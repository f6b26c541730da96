"""An anonymous complaint can be registered and judged invalid with its reason, so it is counted
(003 天翼 第八条; the telecom preset's `intake.anonymous_complaints`)."""

from __future__ import annotations

import pytest

from kesu.analytics.selectors import StatFilters, count_by
from kesu.cases.services import register_case
from kesu.errors import Invalid
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def test_anonymous_complaint_registered_judged_invalid_and_counted():
    o = factories.org("telecom")
    data = factories.complaint_data(
        category="network", description="某营业厅乱收费（来电未留姓名）", is_anonymous=True
    )
    data.pop("customer")
    case = register_case(actor=o.intake, data=data).case
    assert case.is_anonymous and case.customer is None and case.kind == "complaint"
    walk = Walk(case)
    walk("mark_invalid", o.intake, reason="anonymous", note="匿名来电，无法核实", expect="invalid")
    walk.assert_timeline()
    case.refresh_from_db()
    assert (case.is_valid, case.invalid_reason) == (False, "anonymous")
    # the supervisor's statistics count it, as an invalid complaint
    rows = count_by(StatFilters(kind=["complaint"]), ["status"])
    assert {r["status"]: r["count"] for r in rows} == {"invalid": 1}


def test_elsewhere_only_reports_may_be_anonymous(org):
    data = factories.complaint_data(is_anonymous=True)
    data.pop("customer")
    with pytest.raises(Invalid) as exc:
        register_case(actor=org.intake, data=data)
    assert "is_anonymous" in exc.value.details
