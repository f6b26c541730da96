"""Rows imported before: unchanged when the facts are identical, updated when they differ, rejected
when an earlier row of the same file made the case.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from kesu.cases import chain, subscribers
from kesu.cases.models import Case, CaseEvent, Status
from kesu.intake.bulk.common import ChunkResult, RowOutcome
from kesu.intake.bulk.sql import select_in
from kesu.intake.mapping import Record


class ExistingRows:
    """BulkWriter's part that sorts a chunk's records into new ones and rows imported before."""

    def _split_existing(self, records: list[Record], result: ChunkResult) -> tuple[list[Record], dict]:
        first_row: dict[str, int] = {}
        unique: list[Record] = []
        for rec in records:
            earlier = first_row.get(rec.external_id)
            if earlier is not None:
                result.outcomes.append(
                    RowOutcome(
                        rec.row,
                        rec.external_id,
                        "rejected",
                        column="外部编号",
                        value=rec.external_id,
                        reason=f"与第 {earlier} 行外部编号重复",
                    )
                )
                continue
            first_row[rec.external_id] = rec.row
            unique.append(rec)
        fields = ["id", "external_id", "version", "status", "number", *Record.UPDATABLE]
        table = Case._meta.db_table
        cols = ", ".join(f'"{f}"' for f in fields)
        found = select_in(
            f'SELECT {cols} FROM "{table}" WHERE "external_source" = %s AND "external_id" IN ({{in}})',
            [self.source],
            [r.external_id for r in unique],
        )
        existing = {}
        for values in found:
            row = dict(zip(fields, values, strict=True))
            if row["claimed_amount"] is not None and not isinstance(row["claimed_amount"], Decimal):
                row["claimed_amount"] = Decimal(str(row["claimed_amount"])).quantize(Decimal("0.01"))
            existing[row["external_id"]] = row
        if not existing:
            return unique, first_row
        # Cases this batch created from earlier rows of the same file: a duplicate, not an update.
        ours = [e["id"] for e in existing.values() if self.first_case_id and e["id"] >= self.first_case_id]
        rows_of: dict[int, Any] = {}
        if ours:
            for case_id, payload in CaseEvent.objects.filter(case_id__in=ours, seq=1).values_list(
                "case_id", "payload"
            ):
                imp = (payload or {}).get("import") or {}
                if imp.get("batch") == self.batch_id:
                    rows_of[case_id] = imp.get("row")
        fresh = []
        for rec in unique:
            row = existing.get(rec.external_id)
            if row is None:
                fresh.append(rec)
            elif row["id"] in rows_of:
                result.outcomes.append(
                    RowOutcome(
                        rec.row,
                        rec.external_id,
                        "rejected",
                        column="外部编号",
                        value=rec.external_id,
                        reason=f"与第 {rows_of[row['id']]} 行外部编号重复",
                    )
                )
            else:
                result.outcomes.append(self._update(rec, row))
        return fresh, first_row

    def _update(self, rec: Record, row: dict[str, Any]) -> RowOutcome:
        changes = {}
        for name in Record.UPDATABLE:
            new, old = getattr(rec, name), row[name]
            if new != old and not (new in (None, "") and old in (None, "")):
                changes[name] = (old, new)
        note = ""
        if (
            rec.status != "registered"
            and row["status"] != rec.status
            and row["status"]
            not in (
                Status.CLOSED,
                Status.INVALID,
                Status.ANSWERED,
                Status.ARCHIVED,
            )
        ):
            note = "原系统状态已变化，案件状态未同步，请在系统中办理"
        if not changes:
            return RowOutcome(rec.row, rec.external_id, "unchanged", number=row["number"], note=note)
        version = row["version"]
        done = Case.objects.filter(pk=row["id"], version=version).update(
            version=version + 1, updated_at=self.now, **{k: v[1] for k, v in changes.items()}
        )
        if not done:
            return self._changed_elsewhere(rec)
        event = self._import_update_event(rec, row, changes, seq=version + 1)
        # Chained to the case's latest event: the version check above holds the case row.
        chain.seal(event).save(force_insert=True)
        if changes.keys() & {"product", "region"}:  # dimensions of the analytics day counts
            subscribers.notify_imported(subscribers.ImportedChunk(changed_case_ids=[row["id"]]))
        return RowOutcome(rec.row, rec.external_id, "updated", number=row["number"], note=note)

    def _changed_elsewhere(self, rec: Record) -> RowOutcome:
        """The row's case moved on since it was read (its version check failed): refused, to import again."""
        return RowOutcome(
            rec.row,
            rec.external_id,
            "rejected",
            column="外部编号",
            value=rec.external_id,
            reason="案件正被他人修改，请稍后重新导入",
        )

    def _import_update_event(self, rec: Record, row: dict[str, Any], changes: dict, *, seq: int) -> CaseEvent:
        """The `import_update` event of a re-imported row: which columns changed, from what to what."""
        return CaseEvent(
            case_id=row["id"],
            seq=seq,
            actor_id=self.actor_id,
            action="import_update",
            from_status=row["status"],
            to_status=row["status"],
            created_at=self.now,
            payload=json.loads(
                json.dumps(
                    {
                        "imported": True,
                        "import": {"source": self.source, "batch": self.batch_id, "row": rec.row},
                        "changes": {k: {"old": v[0], "new": v[1]} for k, v in changes.items()},
                    },
                    default=str,
                    ensure_ascii=False,
                )
            ),
        )
