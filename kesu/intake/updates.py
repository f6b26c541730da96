"""Re-imported rows of cases already in Kesu: updates across the files of one system.

Two exports of one system (the call centre's export, then its legacy history file) share the
cases' identity (`ImportSource.options["system"]`, see kesu.intake.options). A later file:

* changes only the facts it has columns for — a history file without 客户诉求 or 涉及金额 leaves
  them as they are (an empty cell in a column the file has does clear the fact);
* closes the cases it reports closed (status, closing time and outcome) that are still open in
  Kesu, with the closing written to the case's timeline the way the importer writes closed
  history: a closing event at the original closing time, then the case's deadlines and rollups
  follow it as after any event (the case-event subscribers); deadlines still open
  after it (a follow-up) are cancelled, as imported history has none.

Re-importing either file afterwards changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from kesu.cases import chain, subscribers
from kesu.cases.models import Case, CaseEvent, Status
from kesu.intake.bulk.common import FINAL_ACTION, RowOutcome
from kesu.intake.bulk.writer import BulkWriter
from kesu.intake.mapping import Record
from kesu.sla.models import StageDeadline

FINAL_STATUSES = (Status.CLOSED, Status.INVALID, Status.ANSWERED, Status.ARCHIVED)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


class SystemWriter(BulkWriter):
    """`BulkWriter` whose updates are limited to the file's own columns and carry closings."""

    def __init__(self, *, columns: frozenset[str] | set[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.updatable = tuple(name for name in Record.UPDATABLE if name in columns)

    def _update(self, rec: Record, row: dict[str, Any]) -> RowOutcome:
        changes = {}
        for name in self.updatable:
            new, old = getattr(rec, name), row[name]
            if new != old and not (new in (None, "") and old in (None, "")):
                changes[name] = (old, new)
        closes = (
            rec.status in FINAL_ACTION and rec.closed_at is not None and row["status"] not in FINAL_STATUSES
        )
        if not changes and not closes:
            return RowOutcome(rec.row, rec.external_id, "unchanged", number=row["number"])
        version = row["version"]
        fields: dict[str, Any] = {k: v[1] for k, v in changes.items()}
        events: list[CaseEvent] = []
        payload_import = {"source": self.source, "batch": self.batch_id, "row": rec.row}
        if changes:
            events.append(self._import_update_event(rec, row, changes, seq=version + 1))
        if closes:
            final = rec.status
            replied = rec.replied_at or rec.closed_at
            fields.update(
                status=final,
                closed_at=rec.closed_at,
                replied_at=replied,
                last_contact_at=replied,
                closing_criterion=rec.closing_criterion,
                invalid_reason=rec.invalid_reason,
                is_valid=final != Status.INVALID,
                satisfaction=rec.satisfaction,
            )
            closing: dict[str, Any] = {
                "imported": True,
                "original_status": rec.status,
                "import": payload_import,
            }
            if rec.closing_criterion:
                closing["criterion"] = rec.closing_criterion
            if rec.invalid_reason:
                closing["reason"] = rec.invalid_reason
            if rec.outcome_text:
                closing["outcome"] = rec.outcome_text
            if rec.satisfaction is not None:
                closing["satisfaction"] = rec.satisfaction
            events.append(
                CaseEvent(
                    case_id=row["id"],
                    seq=version + len(events) + 1,
                    actor_id=self.actor_id,
                    action=FINAL_ACTION[final],
                    from_status=row["status"],
                    to_status=final,
                    created_at=rec.closed_at,
                    payload=_json(closing),
                    is_public=True,
                )
            )
        done = Case.objects.filter(pk=row["id"], version=version).update(
            version=version + len(events), updated_at=self.now, **fields
        )
        if not done:
            return self._changed_elsewhere(rec)
        if closes:
            # Deadlines settle and the analytics rollups follow, as after any event on the case
            # (the case-event subscribers, settings.KESU_CASE_EVENT_SUBSCRIBERS).
            case = Case.objects.select_related("channel").get(pk=row["id"])
            subscribers.notify(case, events[-1], self.rules)
        # Chained to the case's latest event (the version check above holds the case row), in order.
        prev = chain.last_hash(row["id"])
        for event in events:
            prev = chain.seal(event, prev).hash
        CaseEvent.objects.bulk_create(events)
        if closes:
            # Closed in the other system, like imported history: no live deadlines left (no
            # follow-up due in Kesu for a closing that happened elsewhere, no escalations).
            StageDeadline.objects.filter(case_id=row["id"], state=StageDeadline.State.OPEN).update(
                state=StageDeadline.State.CANCELLED
            )
            Case.objects.filter(pk=row["id"]).update(due_at=None)
        elif changes.keys() & {"product", "region"}:  # dimensions of the analytics day counts
            subscribers.notify_imported(subscribers.ImportedChunk(changed_case_ids=[row["id"]]))
        note = "已按导入文件结案" if closes else ""
        return RowOutcome(rec.row, rec.external_id, "updated", number=row["number"], note=note)
