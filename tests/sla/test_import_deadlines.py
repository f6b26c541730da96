"""The importer's memoised registration deadlines (`ImportCalendars.registration_stages`) give exactly
the stages and binding deadline of the general replay (`_recompute_stages`) they shortcut.

Every preset, every level, kind and channel its rules name (and ones they do not), at random receipt
and registration times (with microseconds, across weekends, holidays and years without a calendar)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from kesu.calendar.workcalendar import SHANGHAI, WorkCalendar
from kesu.cases.models import Kind, Status
from kesu.policy.loader import PolicyError
from kesu.policy.selectors import rules_for
from kesu.policy.services import load_preset
from kesu.sla import services as sla

PRESETS = sorted(p.stem for p in (Path(sla.__file__).parent.parent / "policy" / "presets").glob("*.toml"))


def _stand_in(level, kind, channel, branch_id, received, registered):
    case = SimpleNamespace(
        pk=7,
        status=Status.REGISTERED,
        level=level,
        kind=kind,
        channel_id=1 if channel else None,
        channel=SimpleNamespace(code=channel),
        branch_id=branch_id,
        received_at=received,
        last_contact_at=None,
        reopen_count=0,
        handler_id=None,
        due_at=None,
    )
    event = SimpleNamespace(
        action="register", payload={}, from_status="", to_status=Status.REGISTERED, created_at=registered
    )
    return case, event


def _general(case, event, rules, calendars):
    stages: dict = {}
    cal = calendars.for_branch(case.branch_id)
    _dirty, case.due_at = sla._recompute_stages(case, event, rules, stages, cal, sla._unsaved_stage)
    return [s.__dict__ for s in stages.values()], case.due_at


def _differences(got: list[dict], want: list[dict]) -> list:
    if len(got) != len(want):
        return [("stages", [g["stage"] for g in got], [w["stage"] for w in want])]
    return [
        (w["stage"], k, g.get(k), v)
        for g, w in zip(got, want, strict=True)
        for k, v in w.items()
        if g.get(k) != v
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("preset", PRESETS)
def test_registration_stages_equal_the_general_replay(preset):
    try:
        policy = load_preset(preset)
    except PolicyError:  # a regulator layer: over the general preset
        policy = load_preset("general", layers=[preset])
    rules = rules_for(policy)
    calendars = sla.ImportCalendars(rules)
    levels = {"normal", "urgent", "major", "crisis", "general", "nosuch"}
    channels = {"", "phone", "web", "nosuch"}
    for rule in rules.sla_rules:
        levels.update(rule.get("levels") or ())
        channels.update(rule.get("channels") or ())
    rnd = random.Random(preset)
    compared = opened = 0
    for level in sorted(levels):
        for kind in Kind.values:
            for channel in sorted(channels):
                for _ in range(6):
                    received = dt.datetime(2024, 12, 20, tzinfo=SHANGHAI) + dt.timedelta(
                        seconds=rnd.randrange(0, 3 * 365 * 86400), microseconds=rnd.randrange(10**6)
                    )
                    registered = received + rnd.choice(
                        [dt.timedelta(0), dt.timedelta(minutes=rnd.randrange(1, 600)), dt.timedelta(days=3)]
                    )
                    want = _general(
                        *_stand_in(level, kind, channel, None, received, registered), rules, calendars
                    )
                    case, event = _stand_in(level, kind, channel, None, received, registered)
                    assert sla._plain_registration(case, event)
                    got = sla.deadlines_for_imported([(case, event)], rules, calendars)
                    assert ([s.__dict__ for s in got], case.due_at) == want, (
                        level,
                        kind,
                        channel,
                        received,
                        _differences([s.__dict__ for s in got], want[0]),
                    )
                    compared += 1
                    opened += len(got)
    assert compared and opened  # the presets open stages at registration: something was compared


@pytest.mark.django_db
def test_a_registration_with_a_requested_time_takes_the_general_path():
    rules = rules_for(load_preset("hotel"))
    calendars = sla.ImportCalendars(rules)
    received = dt.datetime(2025, 3, 3, 9, 30, tzinfo=SHANGHAI)
    case, event = _stand_in("normal", Kind.COMPLAINT, "phone", None, received, received)
    case.customer_due_at = received + dt.timedelta(hours=5)
    assert not sla._plain_registration(case, event)
    want_case, _ = _stand_in("normal", Kind.COMPLAINT, "phone", None, received, received)
    want_case.customer_due_at = case.customer_due_at
    want = _general(want_case, event, rules, calendars)
    got = sla.deadlines_for_imported([(case, event)], rules, calendars)
    assert ([s.__dict__ for s in got], case.due_at) == want


def test_working_seconds_do_not_depend_on_what_the_calendar_computed_before():
    """A span that reaches back before the running totals' start restarts them: both ends must be read
    from the same start (they were not: -6,659,454 s instead of 819,545 s for this span, so the warning
    time of this insurance answer stage depended on the cases computed before it)."""
    cal = WorkCalendar(exceptions={}, known_years=set())
    a = dt.datetime(2026, 9, 17, 15, 20, 54, 623605, tzinfo=SHANGHAI)
    b = dt.datetime(2026, 11, 4, 23, 59, 59, tzinfo=SHANGHAI)
    fresh = WorkCalendar(exceptions={}, known_years=set()).working_seconds_between(a, b)
    cal.working_seconds_between(
        dt.datetime(2027, 11, 1, tzinfo=SHANGHAI), dt.datetime(2027, 11, 3, tzinfo=SHANGHAI)
    )
    assert cal.working_seconds_between(a, b) == fresh > 0
    late = WorkCalendar(exceptions={}, known_years=set())
    late.add_working_days(dt.datetime(2028, 1, 5, tzinfo=SHANGHAI), 15)  # totals start late
    assert late.working_seconds_between(a, b) == fresh
