"""Archiving a finished case and reading archived files (调阅)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.calendar.workcalendar import add_calendar_days
from kesu.cases.actions.evidence import record_file
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    ArchiveAccessRequest,
    ArchiveMaterial,
    Kind,
    RegulatorSubmission,
    Status,
)
from kesu.errors import Conflict, Forbidden, Invalid, NotFound
from kesu.org import roles
from kesu.org.selectors import has_role


def archive(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if not has_role(ctx.actor, roles.ARCHIVIST, roles.SUPERVISOR, roles.ADMIN) and case.kind != Kind.REPORT:
        raise Forbidden(_("风险合规人员只能归档举报案件"), code="role_not_allowed")
    needs_follow_up = (
        case.status == Status.CLOSED
        and case.kind in ctx.rules.follow_up_required_kinds
        and not case.is_special_closure
        and case.closing_criterion != "suspension_expired"
    )
    if needs_follow_up:
        # The follow-up after the latest closing: satisfied, or unsatisfied with the matter continued in a
        # linked new case (an unsatisfied one within the window has reopened the case instead).
        latest = case.follow_ups.filter(contacted_at__gte=case.closed_at).order_by("-contacted_at").first()
        if latest is None or not (latest.satisfied or case.continuations.exists()):
            raise Conflict(_("归档前须完成回访"), code="follow_up_required")
    case.archived_at = ctx.now
    return Outcome(
        Status.ARCHIVED, {"retention_years": ctx.rules.section("archive").get("retention_years", 20)}
    )


def request_archive_access(ctx: ActionContext) -> Outcome:
    req = ArchiveAccessRequest.objects.create(
        case=ctx.case, requester=ctx.actor, reason=ctx.text("reason"), requested_at=ctx.now
    )
    return Outcome(None, {"request_id": req.pk, "reason": req.reason})


def decide_archive_access(ctx: ActionContext) -> Outcome:
    ctx.require("request_id")
    req = ArchiveAccessRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("调阅申请不存在"))
    if req.state != ArchiveAccessRequest.State.PENDING:
        raise Conflict(_("该调阅申请已处理"), code="already_decided")
    approved = bool(ctx.data.get("approve"))
    req.state = ArchiveAccessRequest.State.APPROVED if approved else ArchiveAccessRequest.State.REJECTED
    req.decided_by, req.decided_at = ctx.actor, ctx.now
    if approved:
        req.expires_at = add_calendar_days(ctx.now, int(ctx.data.get("days") or 7))
    req.save()
    return Outcome(None, {"request_id": req.pk, "approved": approved, "requester": req.requester_id})


def file_regulator_submission(ctx: ActionContext) -> Outcome:
    """报送: an archived file was sent to a regulator. Filed with compliance (risk/compliance is told and
    keeps the register, kesu.cases.selectors.regulator_submissions): to whom, when, by whom, what."""
    regulator = ctx.text("regulator", max_length=200)
    contents = ctx.text("contents")
    sent_at = ctx.instant("sent_at") or ctx.now
    submission = RegulatorSubmission.objects.create(
        case=ctx.case,
        regulator=regulator,
        sent_at=sent_at,
        contents=contents,
        sent_by=ctx.actor,
        recorded_at=ctx.now,
    )
    return Outcome(
        None,
        {
            "submission_id": submission.pk,
            "regulator": regulator,
            "sent_at": sent_at.isoformat(),
            "contents": contents,
        },
    )


def add_archive_material(ctx: ActionContext) -> Outcome:
    """Later lawsuit or media material joins an archived file: the case stays archived (archived_at
    unchanged), the file is an event on the case's chain with its sha256, nothing earlier is touched."""
    material = ctx.data.get("material")
    if material not in ArchiveMaterial.values:
        raise Invalid(
            _("请选择材料类别"),
            details={"material": _("可选：") + "、".join(str(label) for label in ArchiveMaterial.labels)},
        )
    payload = record_file(ctx, archive_material=material)
    return Outcome(None, {**payload, "material": material})
