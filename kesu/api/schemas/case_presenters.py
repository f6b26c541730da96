"""Presenters: cases and their parts as plain dicts for the API.

PII masking lives in `present_customer`, the single place where the API decides what of a complainant
a reader may see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kesu.cases.models import Case, CaseEvent, EmergencyPlan, RegulatorSubmission, RemedyType, TypicalCase
from kesu.cases.selectors import has_part
from kesu.cases.services import Registration, allowed_actions
from kesu.sla.selectors import case_timeliness, registered_stages
from kesu.trust import pii


def present_user(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name() or user.username}


def present_customer(case: Case, viewer) -> dict[str, Any] | None:
    return pii.present_customer(case.customer, viewer)


def present_event(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": present_user(event.actor),
        "created_at": event.created_at,
        "payload": event.payload,
        "is_public": event.is_public,
    }


# The case columns `present_summary` reads (a list reads only these; its relations by id).
SUMMARY_FIELDS = (
    "number",
    "status",
    "kind",
    "level",
    "subject",
    "received_at",
    "due_at",
    "version",
    "is_anonymous",
    "channel_id",
    "category_id",
    "department_id",
    "handler_id",
)


def present_summary(case: Case, *, now: dt.datetime | None = None) -> dict[str, Any]:
    from django.utils import timezone

    now = now or timezone.now()
    return {
        "number": case.number,
        "status": case.status,
        "status_label": str(case.get_status_display()),
        "kind": case.kind,
        "level": case.level,
        "channel": case.channel.code,
        "category": case.category.code if case.category_id else None,
        "department": case.department.code if case.department_id else None,
        "handler": present_user(case.handler) if case.handler_id else None,
        "subject": case.subject,
        "received_at": case.received_at,
        "due_at": case.due_at,
        "overdue": bool(case.is_open and case.due_at and case.due_at < now),
        "version": case.version,
        "is_anonymous": case.is_anonymous,
    }


def present_attachment(att, number: str) -> dict[str, Any]:
    return {
        "id": att.pk,
        "name": att.original_name,
        "content_type": att.content_type,
        "size": att.size,
        "sha256": att.sha256,
        "uploaded_by": present_user(att.uploaded_by),
        "created_at": att.created_at,
        "url": f"/api/v1/cases/{number}/attachments/{att.pk}",
        "archive_material": att.archive_material,
    }


def _deadlines(case: Case, stages=None) -> dict[str, Any]:
    """The current binding deadline and every stage deadline with its timeliness (kesu.sla)."""

    return {
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "stages": [
            {k: _iso(v) if hasattr(v, "isoformat") else v for k, v in row.items() if k != "case_id"}
            for row in case_timeliness(case, stages=stages)
        ],
    }


def _iso(value: dt.date | dt.datetime) -> str:
    # In UTC, as the database gives instants back: stages just computed (the create endpoint presents
    # them unread) may carry the calendar's zone.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.isoformat()


def present_detail(case: Case, viewer, *, registered: Registration | None = None) -> dict[str, Any]:
    """The whole case as the API shows it. `registered`: the registration that created the case in this
    request, so no action has run on it yet and it has no collaboration, panel, proposal, follow-up or
    archive request (registration writes none of them): not read (five queries of the create endpoint);
    its register event, involved staff, attachments and stage deadlines are presented as written."""
    return _detail(case, viewer, registered=registered)


def _detail(case: Case, viewer, *, registered: Registration | None) -> dict[str, Any]:
    none = registered is not None
    stages = registered_stages(case) if none else None

    def empty(part: str) -> bool:
        # Known to have no rows: just registered (see present_detail), or read with
        # `selectors.get_case(parts=True)` and its EXISTS said so. Otherwise the set is read.
        return none or not has_part(case, part)

    data = present_summary(case)
    collaborations = [
        {
            "id": c.pk,
            "from_department": c.from_department.code,
            "to_department": c.to_department.code,
            "question": c.question,
            "requested_by": present_user(c.requested_by),
            "requested_at": c.requested_at,
            "due_at": c.due_at,
            "state": c.state,
            "answer": c.answer,
            "answered_by": present_user(c.answered_by),
            "answered_at": c.answered_at,
            # Where the supervisor approves a 协办 first: who decided and why (state proposed / rejected).
            "decided_by": present_user(c.decided_by),
            "decision_note": c.decision_note,
        }
        for c in (
            []
            if empty("collaborations")
            else case.collaborations.select_related(
                "from_department", "to_department", "requested_by", "answered_by", "decided_by"
            ).order_by("pk")
        )
    ]
    panel_reviews = [
        {
            "id": r.pk,
            "topic": r.topic,
            "convened_by": present_user(r.convened_by),
            "convened_at": r.convened_at,
            "state": r.state,
            "minutes": r.minutes,
            "decision": r.decision,
            "decided_at": r.decided_at,
            "chair": present_user(r.chair),
            "approved_by": present_user(r.approved_by),
            "approval_note": r.approval_note,
            "preliminary_opinion": r.preliminary_opinion,
            "preliminary_at": r.preliminary_at,
            "participants": [
                {"user": present_user(p.user), "confirmed_at": p.confirmed_at, "opinion": p.opinion}
                for p in r.participants.all()
            ],
        }
        for r in (
            []
            if empty("panel_reviews")
            else case.panel_reviews.select_related("convened_by", "chair", "approved_by")
            .prefetch_related("participants__user")
            .order_by("pk")
        )
    ]
    proposals = []
    for p in (
        []
        if empty("proposals")
        else case.proposals.select_related("proposed_by").prefetch_related("steps__approver").order_by("pk")
    ):
        steps = list(p.steps.all())
        approved = sum(1 for s in steps if s.decision == "approved")
        proposals.append(
            {
                "id": p.pk,
                "remedy_type": p.remedy_type,
                "remedy_label": str(RemedyType(p.remedy_type).label),
                "amount": str(p.amount),
                "premium": str(p.premium) if p.premium is not None else None,
                "cash_value": str(p.cash_value) if p.cash_value is not None else None,
                "description": p.description,
                "proposed_by": present_user(p.proposed_by),
                "proposed_at": p.proposed_at,
                "required_roles": p.required_roles,
                "next_role": p.required_roles[approved]
                if p.state == "pending" and approved < len(p.required_roles)
                else None,
                "state": p.state,
                "steps": [
                    {
                        "step": s.step,
                        "role": s.role,
                        "approver": present_user(s.approver),
                        "decision": s.decision,
                        "comment": s.comment,
                        "decided_at": s.decided_at,
                    }
                    for s in steps
                ],
            }
        )
    follow_ups = [
        {
            "id": f.pk,
            "agent": present_user(f.agent),
            "contacted_at": f.contacted_at,
            "score": f.score,
            "satisfied": f.satisfied,
            "comment": f.comment,
        }
        for f in (
            []
            if empty("follow_ups")
            else case.follow_ups.select_related("agent").order_by("contacted_at", "pk")
        )
    ]
    accountabilities = [
        {
            "id": a.pk,
            "person": present_user(a.person),
            "supervisor": present_user(a.supervisor),
            "reason": a.reason,
            "basis": a.basis,
            "person_amount": str(a.person_amount),
            "supervisor_amount": str(a.supervisor_amount),
            "reminder": a.reminder,
            "state": a.state,
            "decided_by": present_user(a.decided_by),
            "decided_at": a.decided_at,
            "decision_reason": a.decision_reason,
            "created_at": a.created_at,
        }
        for a in (
            # Registration proposes one only for a case that already has a handler
            # (kesu.sla.services.propose_graded_accountability): none to read for a new unassigned case.
            []
            if (none and case.handler_id is None) or not has_part(case, "accountabilities")
            else case.accountabilities.select_related("person", "supervisor", "decided_by").order_by("pk")
        )
    ]
    archive_requests = [
        {
            "id": r.pk,
            "requester": present_user(r.requester),
            "reason": r.reason,
            "requested_at": r.requested_at,
            "state": r.state,
            "decided_by": present_user(r.decided_by),
            "decided_at": r.decided_at,
            "expires_at": r.expires_at,
        }
        for r in (
            []
            if empty("archive_requests")
            else case.archive_requests.select_related("requester", "decided_by").order_by("pk")
        )
    ]
    plan = (
        None
        if empty("emergency_plan")
        else EmergencyPlan.objects.filter(case=case).select_related("leader").first()
    )
    typical = (
        None
        if empty("typical")
        else TypicalCase.objects.filter(case=case).select_related("marked_by").first()
    )
    submissions = (
        []
        if empty("regulator_submissions")
        else RegulatorSubmission.objects.filter(case=case).select_related("sent_by").order_by("sent_at", "pk")
    )
    flags = [
        name
        for name, on in (
            ("injury", case.flag_injury),
            ("safety", case.flag_safety),
            ("media", case.flag_media),
            ("lawyer", case.flag_lawyer),
            ("direct", case.flag_direct),
        )
        if on
    ]
    data.update(
        {
            "description": case.description,
            "demands": case.demands,
            "claimed_amount": case.claimed_amount,
            "people_count": case.people_count,
            "subject_no": case.subject_no,
            "product": case.product,
            "region": case.region,
            "business_type": case.business_type,
            # 客人要求的解决时间: where the policy has a customer_time rule, the answer is due then.
            "customer_due_at": case.customer_due_at,
            "respondent_name": case.respondent_name,
            "respondent_staff": present_user(case.respondent_staff),
            "respondent_department": case.respondent_department.code
            if case.respondent_department_id
            else None,
            # 涉事人员: who must recuse themselves under a recusal rule (NFRA).
            "involved_staff": [
                present_user(u)
                for u in (
                    registered.involved_staff
                    if none and registered.involved_staff is not None
                    else []
                    if not has_part(case, "involved_staff")
                    else case.involved_staff.order_by("pk")
                )
            ],
            "flags": flags,
            "level_reasons": case.level_reasons,
            "level_overridden": case.level_overridden,
            "is_valid": case.is_valid,
            "invalid_reason": case.invalid_reason,
            "closing_criterion": case.closing_criterion,
            "is_special_closure": case.is_special_closure,
            "replied_at": case.replied_at,
            "closed_at": case.closed_at,
            "archived_at": case.archived_at,
            "satisfaction": case.satisfaction,
            "repeat_count": case.repeat_count,
            "repeat_of": case.repeat_of.number if case.repeat_of_id else None,
            "reopened_from": case.reopened_from.number if case.reopened_from_id else None,
            "policy_version": case.policy.version,
            "customer": present_customer(case, viewer),
            "deadlines": _deadlines(case, stages),
            "allowed_actions": allowed_actions(case, viewer),
            "events": [
                present_event(e)
                for e in (
                    [registered.event]
                    if none and registered.event is not None
                    else case.events.select_related("actor").order_by("seq")
                )
            ],
            "collaborations": collaborations,
            "panel_reviews": panel_reviews,
            "proposals": proposals,
            "follow_ups": follow_ups,
            "accountabilities": accountabilities,
            "archive_requests": archive_requests,
            "attachments": [
                present_attachment(a, case.number)
                for a in (
                    []  # registered without attachments: none to read
                    if (none and registered.attachments == []) or not has_part(case, "attachments")
                    else case.attachments.select_related("uploaded_by").order_by("created_at", "pk")
                )
            ],
            "emergency_plan": {
                "leader": present_user(plan.leader),
                "measures": plan.measures,
                "contacts": plan.contacts,
                "recorded_at": plan.recorded_at,
            }
            if plan
            else None,
            "typical": {"lesson": typical.lesson, "marked_by": present_user(typical.marked_by)}
            if typical
            else None,
            "regulator_submissions": [
                {
                    "id": s.pk,
                    "regulator": s.regulator,
                    "sent_at": s.sent_at,
                    "sent_by": present_user(s.sent_by),
                    "contents": s.contents,
                }
                for s in submissions
            ],
        }
    )
    return data
