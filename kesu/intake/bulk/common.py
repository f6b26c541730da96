"""What the parts of the bulk writer share: the import's constants and the chunk's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from kesu.cases.models import Kind

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_COUNTED_KINDS = (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION)
FINAL_ACTION = {"closed": "close", "invalid": "mark_invalid", "answered": "answer_first_contact"}


@dataclass
class RowOutcome:
    row: int
    external_id: str
    status: str  # updated | unchanged | rejected (created rows are counted in ChunkResult.created)
    number: str = ""
    column: str = ""
    value: str = ""
    reason: str = ""
    note: str = ""


@dataclass
class ChunkResult:
    # Rows updated, unchanged or rejected; created rows are only counted (a million outcome objects
    # would cost seconds and say nothing the case table does not).
    outcomes: list[RowOutcome] = field(default_factory=list)
    created: int = 0
    first_case_id: int | None = None

    def count(self, status: str) -> int:
        if status == "created":
            return self.created
        return sum(1 for o in self.outcomes if o.status == status)
