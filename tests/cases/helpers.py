"""Helpers for the case tests: walk a case with the expected version (kesu.cases.walk), snapshot the database."""

from __future__ import annotations

from typing import Any

from kesu.cases import walk
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


class Walk(walk.Walk):
    """The product's walk (kesu.cases.walk) plus the test's check of the stored timeline."""

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
