"""API endpoints of kesu.intake (mounted under /api/v1/intake by kesu/api.py).

* `POST /batch` — up to 1,000 complaints from another system, per-item results; `Idempotency-Key`.
* `POST /webhook/{source}` — call-centre webhook, HMAC-SHA256 signed (no bearer token):
  `X-Kesu-Timestamp` (Unix seconds), `X-Kesu-Nonce`, `X-Kesu-Signature: sha256=<hex of
  HMAC(secret, "<timestamp>.<nonce>." + body)>`; refused when stale (±5 min) or replayed.
* `POST /imports` (multipart file), `GET /imports/{id}`, `GET /imports/{id}/report?format=xlsx|csv`.
* The mapping screen's steps (docs/import.md): `GET|POST /sources`, `GET|PUT /sources/{code}`;
  `POST /uploads` (multipart file, kept between the steps), `GET /uploads/{upload_id}` (columns,
  sample and distinct values, proposed mapping), `POST /uploads/{upload_id}/validate` and
  `/commit` (`{"source": code}`), then the report of the batch (`GET /imports/{id}/report`).
* `GET /exports/cases?format=xlsx|csv&status=...`, `GET /exports/cases/{number}?format=...`.
"""

# No `from __future__ import annotations`: ninja reads the annotations at runtime.

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Header, Query, Router, Schema
from ninja import Status as Reply
from ninja.files import UploadedFile

from kesu.api.schemas.common import Instant
from kesu.cases.selectors import CaseFilters, check_filters
from kesu.errors import Forbidden, Invalid, NotFound
from kesu.intake import exporters, selectors, services, uploads
from kesu.intake.models import ImportBatch, ImportSource
from kesu.intake.reports import write_issue_report

router = Router(tags=["intake"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {"xlsx": XLSX, "csv": "text/csv; charset=utf-8"}


class ErrorOut(Schema):
    code: str
    message: str
    details: Any = None


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class BatchIn(Schema):
    items: list[Any]


class ItemResult(Schema):
    index: int
    status: str
    number: str | None = None
    errors: Any = None
    message: str | None = None


class BatchOut(Schema):
    created: int
    existing: int
    rejected: int
    results: list[ItemResult]


class ImportBatchOut(Schema):
    id: int
    source: str
    mode: str
    state: str
    file_name: str
    encoding: str
    total_rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    ignored: int
    chunks_committed: int
    error: str
    summary: str


def _present_batch(batch: ImportBatch) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "source": batch.source.code,
        "mode": batch.mode,
        "state": batch.state,
        "file_name": batch.file_name,
        "encoding": batch.encoding,
        "total_rows": batch.total_rows,
        "created": batch.created,
        "updated": batch.updated,
        "unchanged": batch.unchanged,
        "rejected": batch.rejected,
        "ignored": batch.ignored,
        "chunks_committed": batch.chunks_committed,
        "error": batch.error,
        "summary": batch.summary(),
    }


class SourceIn(Schema):
    code: str
    name: str = ""
    mapping: dict[str, Any] = {}
    value_maps: dict[str, dict[str, str]] = {}
    defaults: dict[str, Any] = {}
    options: dict[str, Any] = {}


class SourceUpdateIn(Schema):
    """Only the keys given change."""

    name: str | None = None
    mapping: dict[str, Any] | None = None
    value_maps: dict[str, dict[str, str]] | None = None
    defaults: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


class SourceOut(Schema):
    code: str
    name: str
    system: str
    mapping: dict[str, Any]
    value_maps: dict[str, Any]
    defaults: dict[str, Any]
    options: dict[str, Any]
    is_active: bool
    webhook_enabled: bool


def _present_source(source: ImportSource) -> dict[str, Any]:
    return {
        "code": source.code,
        "name": source.name,
        "system": (source.options or {}).get("system") or source.code,
        "mapping": source.mapping,
        "value_maps": source.value_maps,
        "defaults": source.defaults,
        "options": source.options,
        "is_active": source.is_active,
        "webhook_enabled": bool(source.webhook_secret),  # never the secret itself
    }


class UploadOut(Schema):
    id: int
    file_name: str
    file_size: int
    file_sha256: str
    source: str | None = None


class RunIn(Schema):
    source: str
    sheet: str | None = None


def _fmt(value: str) -> str:
    if value not in CONTENT_TYPES:
        raise Invalid("格式须为 xlsx 或 csv", details={"format": "xlsx 或 csv"})
    return value


def _file_response(path: Path, name: str, fmt: str) -> FileResponse:
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    path.unlink()  # the open handle keeps the data until the response is sent
    return FileResponse(handle, as_attachment=True, filename=name, content_type=CONTENT_TYPES[fmt])


@router.post(
    "/batch", response={200: BatchOut, **ERRORS}, summary="批量登记（系统对接）", operation_id="intake_batch"
)
def intake_batch(
    request: HttpRequest,
    body: BatchIn,
    source: str | None = None,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),
):
    services.require_intake_role(request.auth)
    return services.intake_batch(request.auth, body.items, idempotency_key=idempotency_key, source=source)


@router.post(
    "/webhook/{source}",
    auth=None,
    response={200: BatchOut, **ERRORS},
    summary="呼叫中心 Webhook（HMAC 签名）",
    operation_id="intake_webhook",
)
def webhook(
    request: HttpRequest,
    source: str,
    timestamp: str | None = Header(None, alias="X-Kesu-Timestamp"),
    nonce: str | None = Header(None, alias="X-Kesu-Nonce"),
    signature: str | None = Header(None, alias="X-Kesu-Signature"),
):
    src = services.verify_webhook(
        source, body=request.body, timestamp=timestamp, nonce=nonce, signature=signature
    )
    return services.receive_webhook(src, request.body)


@router.post(
    "/imports", response={200: ImportBatchOut, **ERRORS}, summary="导入文件", operation_id="intake_import"
)
def upload_import(
    request: HttpRequest,
    file: File[UploadedFile],
    source: Form[str],
    mode: Form[str] = "validate",
):
    services.require_intake_role(request.auth)
    suffix = Path(file.name or "").suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx"):
        raise Invalid("只支持 CSV 或 XLSX 文件", details={"file": "csv / xlsx"})
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp:
        for chunk in file.chunks():
            tmp.write(chunk)
    try:
        batch = services.run_import(source, tmp.name, mode=mode, actor=request.auth, file_name=file.name)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    return _present_batch(batch)


@router.get(
    "/imports/{batch_id}",
    response={200: ImportBatchOut, **ERRORS},
    summary="导入批次",
    operation_id="intake_batch_get",
)
def get_import(request: HttpRequest, batch_id: int):
    services.require_intake_role(request.auth)
    batch = ImportBatch.objects.select_related("source").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("导入批次不存在")
    return _present_batch(batch)


@router.get("/imports/{batch_id}/report", summary="下载导入拒绝报告", operation_id="intake_import_report")
def import_report(request: HttpRequest, batch_id: int, format: str = "xlsx"):
    services.require_intake_role(request.auth)
    fmt = _fmt(format)
    batch = ImportBatch.objects.select_related("source").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("导入批次不存在")
    with tempfile.NamedTemporaryFile(suffix="." + fmt, delete=False) as tmp:
        write_issue_report(batch, fmt, tmp)
    return _file_response(Path(tmp.name), f"导入报告-{batch.pk}.{fmt}", fmt)


# --- sources and the mapping screen's steps -------------------------------------------------------


@router.get(
    "/sources",
    response={200: list[SourceOut], **ERRORS},
    summary="数据来源列表",
    operation_id="intake_sources",
)
def list_sources(request: HttpRequest):
    services.require_intake_role(request.auth)
    return [_present_source(s) for s in selectors.sources()]


@router.post(
    "/sources",
    response={201: SourceOut, **ERRORS},
    summary="新建数据来源",
    operation_id="intake_source_create",
)
def create_source(request: HttpRequest, body: SourceIn):
    services.require_intake_role(request.auth)
    source = services.create_source(
        body.code,
        name=body.name or body.code,
        mapping=body.mapping,
        value_maps=body.value_maps,
        defaults=body.defaults,
        options=body.options,
    )
    return Reply(201, _present_source(source))


@router.get(
    "/sources/{code}",
    response={200: SourceOut, **ERRORS},
    summary="数据来源",
    operation_id="intake_source_get",
)
def get_source(request: HttpRequest, code: str):
    services.require_intake_role(request.auth)
    return _present_source(services.get_source(code))


@router.put(
    "/sources/{code}",
    response={200: SourceOut, **ERRORS},
    summary="修改数据来源（名称、系统、选项、列映射、代码映射）",
    operation_id="intake_source_update",
)
def update_source(request: HttpRequest, code: str, body: SourceUpdateIn):
    services.require_intake_role(request.auth)
    services.get_source(code)  # 404 for an unknown source: PUT never creates one
    source = services.save_source(
        code,
        name=body.name,
        mapping=body.mapping,
        value_maps=body.value_maps,
        defaults=body.defaults,
        options=body.options,
    )
    return _present_source(source)


@router.post(
    "/uploads", response={201: UploadOut, **ERRORS}, summary="上传待导入文件", operation_id="intake_upload"
)
def upload_file(request: HttpRequest, file: File[UploadedFile]):
    upload = uploads.stage_upload(request.auth, file.name or "", file.chunks())
    return Reply(
        201,
        {
            "id": upload.pk,
            "file_name": upload.file_name,
            "file_size": upload.file_size,
            "file_sha256": upload.file_sha256,
            "source": None,
        },
    )


@router.get(
    "/uploads/{upload_id}",
    response={200: dict[str, Any], **ERRORS},
    summary="文件的列、样例值与建议的映射",
    operation_id="intake_upload_describe",
)
def describe_upload(
    request: HttpRequest, upload_id: int, source: str | None = None, sheet: str | None = None
):
    return uploads.describe_upload(request.auth, upload_id, source=source, sheet=sheet)


@router.post(
    "/uploads/{upload_id}/validate",
    response={200: ImportBatchOut, **ERRORS},
    summary="按来源的映射校验（不写入）",
    operation_id="intake_upload_validate",
)
def validate_upload(request: HttpRequest, upload_id: int, body: RunIn):
    batch = uploads.run_upload(request.auth, upload_id, source=body.source, mode="validate", sheet=body.sheet)
    return _present_batch(batch)


@router.post(
    "/uploads/{upload_id}/commit",
    response={200: ImportBatchOut, **ERRORS},
    summary="按来源的映射导入",
    operation_id="intake_upload_commit",
)
def commit_upload(request: HttpRequest, upload_id: int, body: RunIn):
    batch = uploads.run_upload(request.auth, upload_id, source=body.source, mode="commit", sheet=body.sheet)
    return _present_batch(batch)


@router.get("/exports/cases", summary="导出案件清单", operation_id="intake_export_cases")
def export_cases(
    request: HttpRequest,
    format: str = "xlsx",
    status: list[str] = Query(None),
    level: list[str] = Query(None),
    channel: list[str] = Query(None),
    department: str | None = None,
    category: str | None = None,
    received_from: Instant | None = None,
    received_to: Instant | None = None,
    open_only: bool = False,
):
    fmt = _fmt(format)
    if not getattr(request.auth, "is_authenticated", False):
        raise Forbidden("请先登录", code="not_authenticated")
    filters = CaseFilters(
        status=status or None,
        level=level or None,
        channel=channel or None,
        department=department,
        category=category,
        received_from=received_from,
        received_to=received_to,
        open_only=open_only,
    )
    check_filters(filters)  # before the temporary file exists: a refused request leaves nothing behind
    with tempfile.NamedTemporaryFile(suffix="." + fmt, delete=False) as tmp:
        exporters.export_cases(request.auth, filters, fmt, tmp)
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M")
    return _file_response(Path(tmp.name), f"案件清单-{stamp}.{fmt}", fmt)


@router.get("/exports/cases/{number}", summary="导出案件档案", operation_id="intake_export_case_file")
def export_case_file(request: HttpRequest, number: str, format: str = "xlsx"):
    fmt = _fmt(format)
    with tempfile.NamedTemporaryFile(suffix="." + fmt, delete=False) as tmp:
        try:
            exporters.export_case_file(request.auth, number, fmt, tmp)
        except Exception:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)
            raise
    return _file_response(Path(tmp.name), f"案件档案-{number}.{fmt}", fmt)
