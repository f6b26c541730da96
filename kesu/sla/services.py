"""Deadline engine entry points called by the transition service (first cut)."""

from __future__ import annotations

from typing import Any


def after_case_event(case, event, rules) -> None:
    """Recompute the case's deadlines after an event. Runs inside `perform`'s transaction."""
    return None


def apply_extension(ctx) -> dict[str, Any]:
    from kesu.cases.errors import Conflict

    raise Conflict("时限延长尚未启用", code="not_available")
