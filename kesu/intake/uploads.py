"""The steps of an import on screen and through the API: upload → describe → (save the source's
mapping) → validate → commit → report. The file waits between the steps as `imports/<random name>`
in Django's default storage (`settings.STORAGES`: MEDIA_ROOT, a shared NFS directory or an S3
bucket, docs/deploy.md), so the step that runs on another host (a web process, the worker) reads
the same file; reachable only by its uploader (`ImportUpload`), never from a URL.

The readers need a file on disk (the CSV reader seeks, XLSX is a zip, long imports fork a reader):
a storage that has local paths is read in place, any other is copied to a temporary file for the
duration of one step (`local_copy`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
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


PREFIX = "imports/"


def storage_name(upload: ImportUpload) -> str:
    """The upload's name in the default storage."""
    return PREFIX + upload.stored_name


@contextmanager
def local_copy(upload: ImportUpload) -> Iterator[Path]:
    """A path to the upload's bytes on this host for the duration of the block: the storage's own
    file where it has one (filesystem storage), else a temporary copy, removed afterwards."""
    name = storage_name(upload)
    try:
        own = Path(default_storage.path(name))
    except NotImplementedError:  # no local paths (S3 and the like)
        own = None
    if own is not None and own.is_file():
        yield own
        return
    with tempfile.TemporaryDirectory(prefix="kesu-import-") as folder:
        local = Path(folder) / upload.stored_name  # the suffix tells the reader the format
        with default_storage.open(name, "rb") as src, open(local, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        yield local


def stage_upload(actor, name: str, chunks: Iterable[bytes]) -> ImportUpload:
    """Keep an uploaded file for the next steps; only CSV/TXT/XLSX files."""
    services.require_intake_role(actor)
    suffix = Path(name or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise Invalid(_("只支持 CSV 或 XLSX 文件"), details={"file": "csv / xlsx"})
    discard_stale_uploads()
    stored = secrets.token_hex(16) + suffix
    digest, size = hashlib.sha256(), 0
    # Checked (size, emptiness) in a temporary file first: nothing reaches the storage that is refused.
    with tempfile.TemporaryFile(prefix="kesu-upload-") as tmp:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_BYTES:
                raise Invalid(_("文件超过 %(n)d MB") % {"n": MAX_BYTES >> 20}, details={"file": "too large"})
            digest.update(chunk)
            tmp.write(chunk)
        if size == 0:
            raise Invalid(_("文件为空"), details={"file": "empty"})
        tmp.seek(0)
        saved = default_storage.save(PREFIX + stored, File(tmp, name=stored))
    if saved != PREFIX + stored:  # a storage that renamed it: the record must name the bytes
        default_storage.delete(saved)
        raise RuntimeError(f"storage stored {stored} as {saved}")
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
    if upload is None or not default_storage.exists(storage_name(upload)):
        raise NotFound(_("上传的文件不存在或已处理完毕，请重新上传"), code="unknown_upload")
    return upload


def describe_upload(
    actor, upload_id: int, *, source: str | None = None, sheet: str | None = None
) -> dict[str, Any]:
    """The file's columns and the proposed mapping (`kesu.intake.describe`), from `source` if given,
    else the source last used with this file."""
    upload = get_upload(actor, upload_id)
    src = _source_or_none(source) if source else upload.source
    with local_copy(upload) as path:
        doc = describe_file(path, source=src, sheet=sheet, file_name=upload.file_name)
    doc["source"] = src.code if src else None
    return doc


def _source_or_none(code: str) -> ImportSource | None:
    return ImportSource.objects.filter(code=code, is_active=True).first()


def run_upload(actor, upload_id: int, *, source: str, mode: str, sheet: str | None = None) -> ImportBatch:
    """Validate or import the uploaded file with the saved source. A completed import deletes the
    file (the batch and its report stay)."""
    upload = get_upload(actor, upload_id)
    src = services.get_source(source)
    with local_copy(upload) as path:
        batch = services.run_import(
            src, path, mode=mode, actor=actor, sheet=sheet, file_name=upload.file_name
        )
    upload.source, upload.last_batch = src, batch
    upload.save(update_fields=["source", "last_batch"])
    if mode == ImportBatch.Mode.COMMIT and batch.state == ImportBatch.State.COMPLETED:
        discard_upload(upload)
    return batch


def discard_upload(upload: ImportUpload) -> None:
    default_storage.delete(storage_name(upload))
    upload.delete()


def discard_stale_uploads(now: dt.datetime | None = None) -> int:
    stale = list(ImportUpload.objects.filter(created_at__lt=(now or timezone.now()) - STALE_AFTER))
    for upload in stale:
        discard_upload(upload)
    return len(stale)
