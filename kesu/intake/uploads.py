"""The steps of an import on screen and through the API: upload → describe → (save the source's
mapping) → validate → commit → report. The file waits between the steps in `MEDIA_ROOT/imports/`
under a random name (`ImportUpload`), reachable only by its uploader, never from a URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.errors import Invalid, NotFound
from kesu.intake import services
from kesu.intake.describe import describe_file
from kesu.intake.models import ImportBatch, ImportSource, ImportUpload

SUFFIXES = (".csv", ".txt", ".xlsx")
MAX_BYTES = 512 << 20
# An upload nobody carried on with is deleted (file and row) when someone next uploads.
STALE_AFTER = dt.timedelta(days=7)


def upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def upload_path(upload: ImportUpload) -> Path:
    return upload_dir() / upload.stored_name


def stage_upload(actor, name: str, chunks: Iterable[bytes]) -> ImportUpload:
    """Keep an uploaded file for the next steps; only CSV/TXT/XLSX files."""
    services.require_intake_role(actor)
    suffix = Path(name or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise Invalid(_("只支持 CSV 或 XLSX 文件"), details={"file": "csv / xlsx"})
    discard_stale_uploads()
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(16) + suffix
    digest, size = hashlib.sha256(), 0
    path = folder / stored
    try:
        with open(path, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise Invalid(
                        _("文件超过 %(n)d MB") % {"n": MAX_BYTES >> 20}, details={"file": "too large"}
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid(_("文件为空"), details={"file": "empty"})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ImportUpload.objects.create(
        stored_name=stored,
        file_name=Path(name).name[:255],
        file_size=size,
        file_sha256=digest.hexdigest(),
        uploaded_by=actor,
    )


def get_upload(actor, upload_id: int) -> ImportUpload:
    """The actor's own upload (someone else's is as unknown as a missing one)."""
    services.require_intake_role(actor)
    upload = (
        ImportUpload.objects.select_related("source", "last_batch")
        .filter(pk=upload_id, uploaded_by=actor)
        .first()
    )
    if upload is None or not upload_path(upload).is_file():
        raise NotFound(_("上传的文件不存在或已处理完毕，请重新上传"), code="unknown_upload")
    return upload


def describe_upload(
    actor, upload_id: int, *, source: str | None = None, sheet: str | None = None
) -> dict[str, Any]:
    """The file's columns and the proposed mapping (`kesu.intake.describe`), from `source` if given,
    else the source last used with this file."""
    upload = get_upload(actor, upload_id)
    src = _source_or_none(source) if source else upload.source
    doc = describe_file(upload_path(upload), source=src, sheet=sheet, file_name=upload.file_name)
    doc["source"] = src.code if src else None
    return doc


def _source_or_none(code: str) -> ImportSource | None:
    return ImportSource.objects.filter(code=code, is_active=True).first()


def run_upload(actor, upload_id: int, *, source: str, mode: str, sheet: str | None = None) -> ImportBatch:
    """Validate or import the uploaded file with the saved source. A completed import deletes the
    file (the batch and its report stay)."""
    upload = get_upload(actor, upload_id)
    src = services.get_source(source)
    batch = services.run_import(
        src, upload_path(upload), mode=mode, actor=actor, sheet=sheet, file_name=upload.file_name
    )
    upload.source, upload.last_batch = src, batch
    upload.save(update_fields=["source", "last_batch"])
    if mode == ImportBatch.Mode.COMMIT and batch.state == ImportBatch.State.COMPLETED:
        discard_upload(upload)
    return batch


def discard_upload(upload: ImportUpload) -> None:
    upload_path(upload).unlink(missing_ok=True)
    upload.delete()


def discard_stale_uploads(now: dt.datetime | None = None) -> int:
    stale = list(ImportUpload.objects.filter(created_at__lt=(now or timezone.now()) - STALE_AFTER))
    for upload in stale:
        discard_upload(upload)
    return len(stale)
