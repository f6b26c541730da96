"""`kesu demo-data`: a believable company whose complaints went through the real lifecycle."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.utils import timezone

from kesu.cases.demo import load
from kesu.cases.demo.company import DEMO_PASSWORD, KEY_STAFF
from kesu.cases.demo.load import HISTORICAL_TASKS
from kesu.cases.demo.plans import demo_client_key
from kesu.cases.demo.tasks import load_demo_chunk
from kesu.cases.models import Case, CaseEvent, CollaborationRequest, PanelReview
from kesu.org import roles
from kesu.org.models import Department
from kesu.policy.selectors import active_policy
from kesu.policy.services import load_preset

pytestmark = pytest.mark.django_db(transaction=False)


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


def test_demo_data_builds_a_company_with_people_in_every_role_and_true_timelines():
    output = run_demo("--cases", "60", "--seed", "11")
    assert (
        "未能执行" not in output
    )  # every step of every story went through (a crisis has its emergency plan)

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


def _run_ready_demo_chunks() -> int:
    """Run the queued demo chunks as the worker would (each enqueues the next); how many ran."""
    from django_tasks_db.models import DBTaskResult

    ran = 0
    while True:
        row = (
            DBTaskResult.objects.filter(status="READY", task_path=load_demo_chunk.module_path)
            .order_by("enqueued_at")
            .first()
        )
        if row is None:
            return ran
        row.delete()
        load_demo_chunk.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
        ran += 1


def test_serving_early_loads_a_sample_now_and_the_rest_in_the_worker_through_the_same_services(monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from kesu.cases.demo import tasks

    monkeypatch.setattr(tasks, "CHUNK", 12)
    output = run_demo("--cases", "40", "--seed", "11", "--first", "10")

    sample = list(Case.objects.order_by("received_at"))
    assert len(sample) == 10
    assert "后台" in output
    # Spread over the year, not the oldest ten: the newest is recent, the oldest months old.
    assert (sample[-1].received_at - sample[0].received_at).days > 180
    # The rest waits for the worker (and the clean-up of the sample's notifications did not drop it).
    assert DBTaskResult.objects.filter(status="READY", task_path=load_demo_chunk.module_path).count() == 1

    assert _run_ready_demo_chunks() == 3  # 30 complaints in chunks of 12
    assert Case.objects.count() == 40
    assert not DBTaskResult.objects.filter(status="READY", task_path__in=HISTORICAL_TASKS).exists()
    for case in Case.objects.all():
        events = list(CaseEvent.objects.filter(case=case).order_by("seq"))
        assert [e.seq for e in events] == list(range(1, case.version + 1))
        assert events[0].action == "register" and events[-1].to_status == case.status
        assert case.registered_at == events[0].created_at

    # The same complaints as loading all at once: every planned one, once.
    assert sorted(Case.objects.values_list("client_key", flat=True)) == sorted(
        demo_client_key(11, i) for i in range(40)
    )


def test_the_load_drops_the_made_up_notifications_and_keeps_other_tasks():
    from django_tasks_db.models import DBTaskResult

    from kesu.sla.tasks import send_notification_email, sweep_deadlines

    since = timezone.now()
    send_notification_email.enqueue(1)
    sweep_deadlines.enqueue()
    load_demo_chunk.enqueue(40, 11, since.isoformat(), 10, 0)

    load._drop_historical_notifications(since)

    assert sorted(DBTaskResult.objects.values_list("task_path", flat=True)) == sorted(
        [sweep_deadlines.module_path, load_demo_chunk.module_path]
    )


def test_the_first_part_is_spread_over_the_year_without_repeat_complaints():
    load_preset("insurance")  # its channels
    now = timezone.now()
    plans = load.demo_plans(1500, seed=2025, now=now)

    head, rest = load.split_first(plans, 300)

    assert len(head) == 300 and not any(p.repeat for p in head)
    assert sorted(p.index for p in head + rest) == list(range(1500))
    assert [p.index for p in head] == sorted(p.index for p in head)  # in arrival order
    months = {(now - p.received_at).days // 30 for p in head}
    assert months >= set(range(12))  # every month of the year has some
    assert load.split_first(plans, 2000) == (plans, [])
    assert load.split_first(plans, 0) == ([], plans)
