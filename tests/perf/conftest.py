"""Query counts must not depend on how slow the machine is.

The trust middleware writes the session's last-activity time at most once a minute
(`kesu.trust.security.ACTIVITY_RESOLUTION`). On a loaded machine the minute can pass between the two
sizes a test compares, and the page then counts one session write more at one size (CI saw
{20: 48, 200: 50} on the case page). Here the time stands still, so every request after the first
sees the same session and writes nothing.

The same holds for the working-day calendar, which each process reloads (two queries) when its copy is
a minute old (`kesu.calendar.workcalendar._CACHE_TTL`): CI saw the case page at {31} then {33} queries
for the same person when that minute ended between the warm-up request and the counted one.
"""

from __future__ import annotations

import pytest

from kesu.calendar import workcalendar
from kesu.trust import security


@pytest.fixture(autouse=True)
def _session_activity_never_due(monkeypatch):
    monkeypatch.setattr(security, "ACTIVITY_RESOLUTION", 10**9)


@pytest.fixture(autouse=True)
def _calendar_copy_never_stale(monkeypatch):
    monkeypatch.setattr(workcalendar, "_CACHE_TTL", 10**9)
