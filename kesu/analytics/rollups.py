"""Rollups kept current by the transition service.

`CaseCloseTime`: each closed case's working hours from receipt to closing (the company calendar),
written when a case is closed and dropped when it is reopened. `kesu.sla.services.after_case_event`
(inside every `perform` and after registration) calls `case_changed`; the bulk importer's
`after_bulk_register` calls `refresh_close_times`. `rebuild_close_times()` fills the table for
existing data (after an upgrade, a bulk load, or a new official holiday schedule).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from kesu.analytics.models import CaseCloseTime
from kesu.analytics.worktime import working_hours


def case_changed(case) -> None:
    """Keep the case's close-time row in step with its closing (inside the transition's transaction)."""
    if case.closed_at is None:
        CaseCloseTime.objects.filter(case_id=case.pk).delete()
        return
    current = CaseCloseTime.objects.filter(case_id=case.pk).values_list("closed_at", flat=True).first()
    if current == case.closed_at:
        return
    CaseCloseTime.objects.update_or_create(
        case_id=case.pk,
        defaults={
            "closed_at": case.closed_at,
            "working_hours": working_hours(case.received_at, case.closed_at),
        },
    )


def refresh_close_times(case_ids: Iterable[int]) -> int:
    """Recompute the rows of these cases (closed: written; not closed: removed). Returns rows written."""
    from kesu.cases.models import Case

    ids = list(case_ids)
    written = 0
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        rows = Case.objects.filter(pk__in=chunk).values_list("pk", "received_at", "closed_at")
        CaseCloseTime.objects.filter(case_id__in=chunk).delete()
        CaseCloseTime.objects.bulk_create(
            [
                CaseCloseTime(case_id=pk, closed_at=closed, working_hours=working_hours(received, closed))
                for pk, received, closed in rows
                if closed is not None
            ],
            batch_size=2000,
        )
        written += sum(1 for _pk, _r, closed in rows if closed is not None)
    return written


def rebuild_close_times(chunk: int = 5000) -> int:
    """Rebuild the whole table from the cases (chunked by primary key; memory stays flat)."""
    from kesu.cases.models import Case

    CaseCloseTime.objects.all().delete()
    written = 0
    last = 0
    while True:
        rows = list(
            Case.objects.filter(pk__gt=last, closed_at__isnull=False)
            .order_by("pk")
            .values_list("pk", "received_at", "closed_at")[:chunk]
        )
        if not rows:
            return written
        with transaction.atomic():
            CaseCloseTime.objects.bulk_create(
                [
                    CaseCloseTime(case_id=pk, closed_at=c, working_hours=working_hours(r, c))
                    for pk, r, c in rows
                ],
                batch_size=chunk,
            )
        written += len(rows)
        last = rows[-1][0]
