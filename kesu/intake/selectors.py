"""Reads of kesu.intake for the import screen and the API: sources, batches and their problems."""

from __future__ import annotations

from django.db.models import QuerySet

from kesu.intake.models import ImportBatch, ImportIssue, ImportSource, ImportUpload


def sources(*, active_only: bool = True) -> QuerySet[ImportSource]:
    qs = ImportSource.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def recent_batches(limit: int = 20) -> list[ImportBatch]:
    return list(ImportBatch.objects.select_related("source", "started_by").order_by("-pk")[:limit])


def open_uploads(user, limit: int = 20) -> list[ImportUpload]:
    return list(ImportUpload.objects.filter(uploaded_by=user).select_related("source")[:limit])


def batch_issues(batch: ImportBatch, *, limit: int = 500) -> list[ImportIssue]:
    """The batch's problems by row, rejections and notes (the report file has all of them)."""
    return list(ImportIssue.objects.filter(batch=batch).order_by("row", "pk")[:limit])
