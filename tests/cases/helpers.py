"""Helpers for the case tests: perform with the expected version and remember what was done."""

from __future__ import annotations

from typing import Any

from kesu.cases.models import (
    Accountability,
    ApprovalStep,
    Case,
    CaseEvent,
    CollaborationRequest,
    Customer,
    FollowUp,
    IdempotencyRecord,
    PanelParticipant,
    PanelReview,
    Proposal,
)
from kesu.cases.services import perform


class Walk:
    """Performs actions on one case and keeps the expected timeline (action, from, to)."""

    def __init__(self, case: Case):
        self.case = case
        self.expected: list[tuple[int, str, str, str]] = [(1, "register", "", case.status)]

    def __call__(self, action: str, actor, *, expect: str | None = None, **data: Any) -> CaseEvent:
        before = self.case.status
        event = perform(self.case, action, actor, expected_version=self.case.version, **data)
        after = self.case.status
        if expect is not None:
            assert after == expect, f"{action}: {before} → {after}, expected {expect}"
        self.expected.append((len(self.expected) + 1, action, before, after))
        return event

    def timeline(self) -> list[tuple[int, str, str, str]]:
        return list(
            CaseEvent.objects.filter(case=self.case)
            .order_by("seq")
            .values_list("seq", "action", "from_status", "to_status")
        )

    def assert_timeline(self) -> None:
        assert self.timeline() == self.expected
        self.case.refresh_from_db()
        assert self.case.version == len(self.expected)


def snapshot(case: Case | None = None) -> dict[str, Any]:
    """Everything a failed write could have touched, for 'the database is exactly unchanged'."""
    data: dict[str, Any] = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Customer,
            CaseEvent,
            CollaborationRequest,
            PanelReview,
            PanelParticipant,
            Proposal,
            ApprovalStep,
            FollowUp,
            Accountability,
            IdempotencyRecord,
        )
    }
    data["Case"] = list(Case.objects.order_by("pk").values())
    from kesu.sla.models import StageDeadline

    data["StageDeadline"] = list(StageDeadline.objects.order_by("pk").values())
    from kesu.cases.models import DailySequence

    data["DailySequence"] = list(DailySequence.objects.order_by("pk").values())
    return data
