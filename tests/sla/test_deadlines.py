"""Stage deadlines kept by the transition service: opened, met, paused, extended and recomputed."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from kesu.calendar.workcalendar import format_instant
from kesu.cases.models import Accountability, Case, CaseEvent
from kesu.cases.services import perform
from kesu.errors import Invalid
from kesu.sla.models import StageDeadline
from kesu.sla.selectors import case_timeliness, timeliness_summary

from .helpers import at, register, to_investigation

pytestmark = pytest.mark.django_db


def stages(case) -> dict[str, StageDeadline]:
    return {(s.stage + (f"#{s.ref}" if s.ref else "")): s for s in StageDeadline.objects.filter(case=case)}


def test_registration_opens_record_and_answer_and_sets_case_due(org):
    case = register(org, "2026-09-29 10:00")
    st = stages(case)
    assert st["record"].state == "met" and not st["record"].is_breached
    assert format_instant(st["answer"].due_at) == "2026-10-09T23:59:59+08:00"
    assert Case.objects.get(pk=case.pk).due_at == st["answer"].due_at


def test_lifecycle_meets_stages_with_their_ending_actions(org):
    case = register(org, "2026-11-23 09:00")
    perform(case, "accept", org.intake, now=at("2026-11-23 09:10"))
    # 001 篇9 四1.3: handed on within half an hour (clock time).
    assert format_instant(stages(case)["handover"].due_at) == "2026-11-23T09:40:00+08:00"
    perform(
        case, "assign", org.intake, now=at("2026-11-23 09:20"), department="QUALITY", handler=org.handler.pk
    )
    st = stages(case)
    assert st["handover"].state == "met"
    assert format_instant(st["first_contact"].due_at) == "2026-11-23T11:20:00+08:00"
    perform(case, "start_investigation", org.handler, now=at("2026-11-23 13:40"), contacted_customer=True)
    st = stages(case)
    assert st["first_contact"].state == "met" and st["first_contact"].is_breached  # 13:40 > 11:20
    perform(
        case,
        "request_collaboration",
        org.handler,
        now=at("2026-11-23 14:00"),
        department="FINANCE",
        question="请核实扣款记录",
    )
    collab = [s for s in StageDeadline.objects.filter(case=case, stage="collaboration")]
    assert len(collab) == 1 and format_instant(collab[0].due_at) == "2026-11-30T23:59:59+08:00"
    rows = {r["stage"]: r for r in case_timeliness(case, now=at("2026-11-23 15:00"))}
    assert rows["first_contact"]["on_time"] is False
    # "2 小时" is clock time (001 篇9 四2.1): 09:20–13:40 counts whole, lunch included.
    assert rows["first_contact"]["unit"] == "calendar_hours"
    assert rows["first_contact"]["seconds_used"] == (4 * 60 + 20) * 60
    assert rows["first_contact"]["working_seconds_used"] is None
    assert rows["handover"]["on_time"] is True
    summary = timeliness_summary()
    assert summary["handover"]["on_time"] == 1 and summary["first_contact"]["late"] == 1


def test_suspension_pauses_and_resume_never_shortens(org):
    case = register(org, "2026-11-23 09:00")
    to_investigation(org, case, "2026-11-23 09:10")
    before = stages(case)["answer"].due_at
    perform(case, "suspend", org.handler, now=at("2026-11-24 10:00"), reason="等待客户补充材料")
    st = stages(case)
    assert st["answer"].paused_at is not None and st["answer"].next_check_at is None
    assert st["suspension"].state == "open"
    assert Case.objects.get(pk=case.pk).due_at == st["suspension"].due_at  # the only running clock
    perform(case, "resume", org.handler, now=at("2026-11-27 10:00"))
    after = stages(case)["answer"]
    # paused Tue 10:00 → Fri 10:00: three working days (Wed, Thu, Fri) are added back
    assert format_instant(before) == "2026-11-26T23:59:59+08:00"
    assert format_instant(after.due_at) == "2026-12-01T23:59:59+08:00"
    assert stages(case)["suspension"].state == "met"


def test_extension_moves_answer_deadline_within_policy_maximum(org):
    case = register(org, "2026-11-23 09:00")
    to_investigation(org, case, "2026-11-23 09:10")
    event = perform(
        case, "extend_deadline", org.supervisor, now=at("2026-11-24 09:00"), days=5, reason="需鉴定"
    )
    assert event.payload["new_due"] == "2026-12-03T23:59:59+08:00"
    assert event.payload["old_due"] == "2026-11-26T23:59:59+08:00"
    # 3 + 5 + 13 = 21 > 20 working days in total
    with pytest.raises(Invalid):
        perform(case, "extend_deadline", org.supervisor, now=at("2026-11-24 09:10"), days=13, reason="再延")
    perform(case, "extend_deadline", org.supervisor, now=at("2026-11-24 09:10"), days=12, reason="再延")
    assert stages(case)["answer"].extension_days == 17


def test_graded_case_proposes_accountability_with_preset_amounts(org):
    case = register(org, "2026-11-23 09:00", flags=["injury"])
    assert case.level == "major"
    to_investigation(org, case, "2026-11-23 09:10")
    record = Accountability.objects.get(case=case, reason="graded")
    assert record.person == org.handler and record.supervisor == org.quality_head
    assert (record.person_amount, record.supervisor_amount) == (100, 50)


def test_deadline_into_2027_is_recomputed_with_an_event_when_schedule_is_loaded(org, tmp_path):
    case = register(org, "2026-12-29 10:00")
    answer = stages(case)["answer"]
    # fallback: 30, 31 Dec, (1 Jan statutory), 4 Jan
    assert answer.under_fallback and format_instant(answer.due_at) == "2027-01-04T23:59:59+08:00"
    path = tmp_path / "2027.toml"
    path.write_text(
        'year = 2027\n[[holidays]]\nname = "元旦"\nstart = "2027-01-01"\nend = "2027-01-04"\n'
        '[[workdays]]\nname = "元旦"\ndate = "2027-01-09"\n',
        encoding="utf-8",
    )
    call_command("calendar", "load", str(path), stdout=io.StringIO())
    answer.refresh_from_db()
    assert not answer.under_fallback
    assert format_instant(answer.due_at) == "2027-01-05T23:59:59+08:00"
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event.action == "recompute_deadlines" and "2027" in event.payload["reason"]
    assert Case.objects.get(pk=case.pk).due_at == answer.due_at
