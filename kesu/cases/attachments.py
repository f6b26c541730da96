"""Evidence files of a case: checked, stored outside any web root, served only after a permission check.

Used by the API, the web UI and the complainant portal alike:

* `attach_file(case, actor, name=..., content=...)` checks the size (`settings.KESU_ATTACHMENT_MAX_BYTES`)
  and the type (magic bytes must match the declared extension) in a local temporary file, then stores
  the bytes as `attachments/<random>` in Django's default storage (`settings.STORAGES`: MEDIA_ROOT, a
  shared directory or an S3-compatible bucket, so that every host sees them; never a file path),
  records the sha256, and records the `attach` event through
  `perform` (so the timeline shows it and a stale `expected_version` is refused). A refused file
  leaves nothing behind: no row, no event, no file.
* `open_attachment(user, number, attachment_id)` returns the record and an open file after the
  same visibility check as reading the case (`kesu.cases.selectors.get_case`).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from kesu.cases.models import Attachment, Case
from kesu.errors import DomainError, Invalid, NotFound

CHUNK = 64 * 1024
STORED_NAME_RE = re.compile(r"^[0-9a-f]{32}$")


class AttachmentTooLarge(DomainError):
    status = 413
    code = "attachment_too_large"


class AttachmentTypeNotAllowed(DomainError):
    status = 422
    code = "attachment_type_not_allowed"


class AttachmentTypeMismatch(DomainError):
    status = 422
    code = "attachment_type_mismatch"


@dataclass(frozen=True)
class FileType:
    key: str
    extensions: tuple[str, ...]
    content_type: str


FILE_TYPES: tuple[FileType, ...] = (
    FileType("pdf", (".pdf",), "application/pdf"),
    FileType("png", (".png",), "image/png"),
    FileType("jpeg", (".jpg", ".jpeg"), "image/jpeg"),
    FileType("gif", (".gif",), "image/gif"),
    FileType("webp", (".webp",), "image/webp"),
    FileType("docx", (".docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    FileType("xlsx", (".xlsx",), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    FileType("text", (".txt",), "text/plain; charset=utf-8"),
    FileType("mp3", (".mp3",), "audio/mpeg"),
    FileType("wav", (".wav",), "audio/wav"),
    FileType("amr", (".amr",), "audio/amr"),
    FileType("m4a", (".m4a",), "audio/mp4"),
)
BY_EXTENSION = {ext: ft for ft in FILE_TYPES for ext in ft.extensions}
ALLOWED_EXTENSIONS = tuple(sorted(BY_EXTENSION))


STORAGE_PREFIX = "attachments/"


def storage_name(stored_name: str) -> str:
    """The name of an attachment's bytes in the default storage."""
    return STORAGE_PREFIX + stored_name


def stored_file_exists(stored_name: str) -> bool:
    return bool(STORED_NAME_RE.match(stored_name)) and default_storage.exists(storage_name(stored_name))


def delete_stored(stored_name: str) -> None:
    """Remove an attachment's bytes (a refused upload); a missing file is no error."""
    if STORED_NAME_RE.match(stored_name):
        default_storage.delete(storage_name(stored_name))


def max_bytes() -> int:
    return int(settings.KESU_ATTACHMENT_MAX_BYTES)


def clean_filename(name: str) -> str:
    """The file's base name without directories or control characters (for display and download)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if len(name) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[: 200 - len(ext)] + ext
    return name or "attachment"


# --- type detection ------------------------------------------------------------------------------


def _is_mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def _zip_names(path: Path) -> set[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return set()


def _is_utf8_text(path: Path) -> bool:
    allowed_controls = {9, 10, 12, 13}
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ord(ch) not in allowed_controls for ch in text)


def detect_type(path: Path, head: bytes) -> str | None:
    """The file type key from the content (magic bytes), or None when it is nothing we accept."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "amr"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B ", b"mp42", b"isom", b"mp41", b"3gp4"):
        return "m4a"
    if head.startswith(b"PK\x03\x04"):
        names = _zip_names(path)
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        return None
    if _is_mp3(head):
        return "mp3"
    if _is_utf8_text(path):
        return "text"
    return None


def _describe(key: str | None) -> str:
    if key is None:
        return "无法识别的格式"
    return next(ft for ft in FILE_TYPES if ft.key == key).extensions[0]


# --- storing -------------------------------------------------------------------------------------


@dataclass
class StoredFile:
    original_name: str
    stored_name: str
    content_type: str
    size: int
    sha256: str

    def delete(self) -> None:
        delete_stored(self.stored_name)

    def as_data(self) -> dict[str, Any]:
        return {
            "original_name": self.original_name,
            "stored_name": self.stored_name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def _chunks(content: IO[bytes] | bytes | UploadedFile) -> Iterable[bytes]:
    if isinstance(content, bytes | bytearray):
        for i in range(0, len(content), CHUNK):
            yield bytes(content[i : i + CHUNK])
        return
    if isinstance(content, UploadedFile):
        yield from content.chunks(CHUNK)
        return
    while True:
        block = content.read(CHUNK)
        if not block:
            return
        yield block


def store_file(
    name: str, content: IO[bytes] | bytes | UploadedFile, *, declared_size: int | None = None
) -> StoredFile:
    """Check and store one file; raises (and leaves no file) when it is too large or not what it claims."""
    original = clean_filename(name)
    ext = os.path.splitext(original)[1].lower()
    declared = BY_EXTENSION.get(ext)
    if declared is None:
        raise AttachmentTypeNotAllowed(
            f"不支持的附件类型：{ext or '无扩展名'}",
            details={"file": "允许：" + "、".join(ALLOWED_EXTENSIONS)},
        )
    limit = max_bytes()
    if declared_size is not None and declared_size > limit:
        raise AttachmentTooLarge(
            f"附件超过大小上限 {limit} 字节", details={"max_bytes": limit, "size": declared_size}
        )
    stored_name = secrets.token_hex(16)
    digest = hashlib.sha256()
    size = 0
    head = b""
    # Checked in a private local temporary file (the type checks read it back), then handed to the
    # storage in one piece: a refused file never reaches the shared storage.
    with tempfile.NamedTemporaryFile(prefix="kesu-upload-", suffix=ext) as tmp:
        for block in _chunks(content):
            size += len(block)
            if size > limit:
                raise AttachmentTooLarge(f"附件超过大小上限 {limit} 字节", details={"max_bytes": limit})
            if len(head) < 64:
                head += block[: 64 - len(head)]
            digest.update(block)
            tmp.write(block)
        tmp.flush()
        if size == 0:
            raise Invalid("附件为空", code="attachment_empty", details={"file": "空文件"})
        actual = detect_type(Path(tmp.name), head)
        if actual != declared.key:
            raise AttachmentTypeMismatch(
                f"附件内容（{_describe(actual)}）与扩展名 {ext} 不符",
                details={"declared": ext, "detected": actual},
            )
        tmp.seek(0)
        saved = default_storage.save(storage_name(stored_name), File(tmp, name=stored_name))
    if saved != storage_name(stored_name):  # a storage that renamed it: the record must name the bytes
        default_storage.delete(saved)
        raise RuntimeError(f"storage stored {stored_name} as {saved}")
    return StoredFile(original, stored_name, declared.content_type, size, digest.hexdigest())


def attach_file(
    case: Case | int,
    actor,
    *,
    name: str,
    content: IO[bytes] | bytes | UploadedFile,
    declared_size: int | None = None,
    note: str = "",
    expected_version: int | None = None,
    action: str = "attach",
    **data: Any,
) -> Attachment:
    """Add an evidence file to a case through the `attach` action (an event on the timeline), or through
    another action that records a file (`add_archive_material`, with its `data`).

    Permission, status and version are checked by `perform`; if anything is refused the stored
    file is removed again, so the database and the disk are exactly as before.
    """
    from kesu.cases.services import perform

    stored = store_file(name, content, declared_size=declared_size)
    try:
        event = perform(
            case, action, actor, expected_version=expected_version, file=stored.as_data(), note=note, **data
        )
    except BaseException:
        stored.delete()
        raise
    return Attachment.objects.get(pk=event.payload["attachment_id"])


def open_attachment(user, *, number: str, attachment_id: int) -> tuple[Attachment, IO[bytes]]:
    """The attachment record and its open file, if `user` may read the case (403/404 otherwise)."""
    from kesu.cases.selectors import get_case

    case = get_case(user, number=number)
    attachment = Attachment.objects.filter(pk=attachment_id, case=case).first()
    if attachment is None or not STORED_NAME_RE.match(attachment.stored_name):
        raise NotFound("附件不存在")
    name = storage_name(attachment.stored_name)
    try:
        if not default_storage.exists(name):
            raise FileNotFoundError(name)
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise NotFound("附件文件缺失", code="attachment_file_missing")
    return attachment, handle


def attachments_of(case: Case) -> list[Attachment]:
    return list(case.attachments.select_related("uploaded_by").order_by("created_at", "pk"))
