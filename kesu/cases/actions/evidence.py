"""Evidence files attached to a case."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases.context import ActionContext, Outcome
from kesu.errors import Invalid


def attach(ctx: ActionContext) -> Outcome:
    """Record an evidence file already checked and stored by `kesu.cases.attachments.attach_file`."""
    return Outcome(None, record_file(ctx))


def record_file(ctx: ActionContext, *, archive_material: str = "") -> dict:
    """The Attachment row of a stored file (`ctx.data["file"]`) and the event payload that names it
    (with its sha256, so the case's event chain vouches for the file's content)."""
    from kesu.cases.attachments import STORED_NAME_RE, stored_file_exists
    from kesu.cases.models import Attachment

    info = ctx.data.get("file")
    if not isinstance(info, dict) or not STORED_NAME_RE.match(str(info.get("stored_name", ""))):
        raise Invalid(_("缺少附件"), details={"file": _("必填")})
    if not stored_file_exists(info["stored_name"]):
        raise Invalid(_("附件文件不存在"), details={"file": _("文件不存在")})
    attachment = Attachment.objects.create(
        case=ctx.case,
        original_name=info["original_name"],
        stored_name=info["stored_name"],
        content_type=info["content_type"],
        size=info["size"],
        sha256=info["sha256"],
        uploaded_by=ctx.actor,
        archive_material=archive_material,
    )
    return {
        "attachment_id": attachment.pk,
        "name": attachment.original_name,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "content_type": attachment.content_type,
        "note": ctx.text("note", required=False),
    }
