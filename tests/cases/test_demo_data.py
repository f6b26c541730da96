"""`kesu demo-data`: a believable company whose complaints went through the real lifecycle."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from kesu.cases.demo.company import DEMO_PASSWORD, KEY_STAFF
from kesu.cases.models import Case, CaseEvent, CollaborationRequest, PanelReview
from kesu.org import roles
from kesu.org.models import Department
from kesu.policy.selectors import active_policy

pytestmark = pytest.mark.django_db(transaction=False)


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


def test_demo_data_builds_a_company_with_people_in_every_role_and_true_timelines():
    output = run_demo("--cases", "60", "--seed", "11")

    assert active_policy().code == "insurance"
    assert Department.objects.filter(code__in=["HQ", "EAST", "SOUTH", "NORTH", "CLAIMS", "RISK"]).count() == 6
    for username, _name, _dept, role_codes, _sup, _title in KEY_STAFF:
        user = authenticate(username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        assert set(role_codes) <= set(user.groups.values_list("name", flat=True))
        assert username in output  # the logins are printed
    assert {g for g in roles.ALL_ROLES} <= {r for row in KEY_STAFF for r in row[3]}

    cases = list(Case.objects.all())
    assert len(cases) == 60
    assert len({c.status for c in cases}) >= 5
    for case in cases:
        events = list(CaseEvent.objects.filter(case=case).order_by("seq"))
        assert [e.seq for e in events] == list(range(1, case.version + 1))
        assert events[0].action == "register"
        assert events[-1].to_status == case.status
        assert all(a.created_at <= b.created_at for a, b in zip(events, events[1:], strict=False))
        assert events[0].created_at >= case.received_at
        assert case.registered_at == events[0].created_at
    # The insurer's rules: the supervisor approves each panel and chairs it, and each 协办 before it goes out.
    panels = list(PanelReview.objects.select_related("chair"))
    assert panels and all(p.chair and p.chair.username.startswith("supervisor") for p in panels)
    assert all(p.approved_by_id for p in panels)
    assert CollaborationRequest.objects.exists()
    assert not CollaborationRequest.objects.filter(decided_by__isnull=True).exists()


def test_running_demo_data_twice_does_not_duplicate():
    run_demo("--cases", "12", "--seed", "3")
    counts = (Case.objects.count(), CaseEvent.objects.count(), Department.objects.count())

    output = run_demo("--cases", "12", "--seed", "3")

    assert "已存在" in output
    assert (Case.objects.count(), CaseEvent.objects.count(), Department.objects.count()) == counts
