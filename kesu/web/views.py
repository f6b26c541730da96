"""Views of the workbench. Thin: they call `kesu.cases` selectors and services, nothing else writes."""

from __future__ import annotations

import tempfile
import uuid
from functools import wraps
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from kesu.calendar.workcalendar import calendar_for_case
from kesu.cases import permissions as case_permissions
from kesu.cases import selectors as case_selectors
from kesu.cases.attachments import attach_file, open_attachment
from kesu.cases.models import (
    FINISHED_STATUSES,
    ApprovalStep,
    ArchiveAccessRequest,
    ArchiveMaterial,
    Kind,
    Level,
    RemedyType,
    Status,
)
from kesu.cases.selectors import CaseFilters
from kesu.cases.services import allowed_actions, perform
from kesu.errors import DomainError, Forbidden, NotFound, VersionConflict
from kesu.insight import selectors as insight_selectors
from kesu.intake import exporters
from kesu.org import roles
from kesu.org.i18n import local_names
from kesu.org.models import Department
from kesu.org.selectors import holds_any_role, user_roles
from kesu.policy.selectors import (
    active_rules,
    category_choices,
    channel_choices,
    rules_for,
    stamps,
    taxonomy,
)
from kesu.sla import selectors as sla_selectors
from kesu.sla.digest import preferences, set_preferences
from kesu.sla.models import NotificationPreference
from kesu.sla.notify import mark_read
from kesu.sla.selectors import calendar_notices
from kesu.trust import audit, pii, privacy
from kesu.trust.privacy import REVEAL_ROLES
from kesu.web import action_forms, replies, selectors
from kesu.web import intake as intake_logic
from kesu.web import services as web_services
from kesu.web.labels import PAYLOAD_LABELS, action_label, duration_text, stage_ref_text
from kesu.web.models import ReplyTemplate

PAGE_SIZE = 30


def domain_errors(view):
    """Show a Chinese 403/404 page for the service layer's Forbidden/NotFound."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Forbidden as exc:
            ctx = {"message": exc.message}
            if exc.code == "archive_access_required" and kwargs.get("number"):
                ctx["archive"] = _archive_access_state(request.user, kwargs["number"])
            return render(request, "web/403.html", ctx, status=403)
        except NotFound as exc:
            return render(request, "web/404.html", {"message": exc.message}, status=404)

    return wrapper


def _approved_archive_access(user, case) -> ArchiveAccessRequest | None:
    """The approved, unexpired request through which this user reads an archived case (its expiry is shown)."""
    if case.status != Status.ARCHIVED:
        return None
    return (
        ArchiveAccessRequest.objects.filter(
            case=case,
            requester=user,
            state=ArchiveAccessRequest.State.APPROVED,
            expires_at__gt=timezone.now(),
        )
        .order_by("-expires_at")
        .first()
    )


def _archive_access_state(user, number: str) -> dict:
    """What the 403 page of an archived case offers: ask for access, or the state of the request."""
    latest = ArchiveAccessRequest.objects.filter(case__number=number, requester=user).order_by("-pk").first()
    return {"number": number, "request": latest}


@login_required
@domain_errors
def archive_access_request(request: HttpRequest, number: str) -> HttpResponse:
    """申请调阅: from the 403 page of an archived case the user may otherwise see; the archivist decides."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    case = case_selectors.get_case(request.user, number=number, archive_check=False)
    try:
        perform(case, "request_archive_access", request.user, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        ctx = {"message": exc.message, "archive": _archive_access_state(request.user, number)}
        ctx["archive"]["error"] = exc.message
        return render(request, "web/403.html", ctx, status=400)
    messages.success(request, _("调阅申请已提交，档案管理员审批后即可查看。"))
    return redirect("web:case", number=number)


def forbidden_page(request, exception=None):
    return render(request, "web/403.html", {"message": _("您无权访问该页面")}, status=403)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if _analyst_only(request.user):
        # An analyst has no work queue: their home is the dashboard, not an empty workbench.
        return redirect("analytics:dashboard")
    counts = selectors.queue_counts(request.user)
    cards = [
        (key, _(selectors.QUEUE_LABELS[key]), reverse(f"web:queue_{key}"), n)
        for key, n in counts.items()
        if n or key in ("mine", "dept")
    ]
    recent = list(selectors.queue_cases(request.user, "mine").cases.order_by(*selectors.SORTS["due"])[:10])
    return render(
        request,
        "web/home.html",
        {
            "nav_active": "home",
            "cards": cards,
            "recent": recent,
            "now": timezone.now(),
            "calendar_notices": _calendar_notices(request.user),
        },
    )


def _analyst_only(user) -> bool:
    mine = user_roles(user)
    return roles.ANALYST in mine and not (mine - {roles.ANALYST})


def _calendar_notices(user) -> list[dict]:
    """Administrators see what the deadline engine needs from them (a year without its official
    holiday schedule: deadlines fall back to the statutory festival dates)."""
    if not (getattr(user, "is_superuser", False) or roles.ADMIN in user_roles(user)):
        return []
    try:
        return calendar_notices()
    except Exception:  # noqa: BLE001 - the home page never fails because of a notice
        return []


# --- queues -----------------------------------------------------------------------------------


class CappedPaginator(Paginator):
    """Counts at most `cap` + 1 rows: "1000+ 件" instead of counting every visible case on every page
    view (a full COUNT over a wide scope costs more than the page itself). The first `cap` rows can
    be paged through; filters narrow the rest."""

    cap = 1000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def _filters_from(request: HttpRequest) -> tuple[CaseFilters, dict]:
    g = request.GET
    f = CaseFilters(
        status=[s for s in g.getlist("status") if s in Status.values] or None,
        level=[s for s in g.getlist("level") if s in Level.values] or None,
        kind=[s for s in g.getlist("kind") if s in Kind.values] or None,
        category=g.get("category") or None,
        channel=[c for c in g.getlist("channel") if c] or None,
        text=(g.get("q") or "").strip()[:100] or None,
    )
    overdue = g.get("overdue")
    if overdue == "1":
        f.overdue = True
    elif overdue == "0":
        f.overdue = False
    due = g.get("due")
    due_hours = {"4h": 4, "24h": 24, "72h": 72}.get(due or "")
    state = {
        "status": g.get("status", ""),
        "level": g.get("level", ""),
        "kind": g.get("kind", ""),
        "category": g.get("category", ""),
        "channel": g.get("channel", ""),
        "q": g.get("q", ""),
        "overdue": overdue or "",
        "due": due or "",
    }
    return f, {"state": state, "due_hours": due_hours}


EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# The move a queue is for: its rows open the case page with that form unfolded (`?act=`; the first of
# the alternatives the reader is offered). My queue and the all-cases list have no single move.
QUEUE_ACT = {
    "dept": "assign,accept",
    "unassigned": "accept,assign",
    "approvals": "approve",
    "collab": "answer_collaboration",
    "followups": "follow_up",
    "panels": "decide_panel,confirm_panel",
    "to_archive": "archive",
    "access": "decide_archive_access",
}


@login_required
def queue(request: HttpRequest, queue: str) -> HttpResponse:
    q = selectors.queue_cases(request.user, queue)
    filters, extra = _filters_from(request)
    # Phone, ID number, e-mail, name only for roles that see them unmasked; audited (kesu.trust.privacy).
    filters.identifiers = privacy.identifier_search(request.user, filters.text, via="web", request=request)
    qs = selectors.filtered(q.cases, filters, due_within_hours=extra["due_hours"])
    sort = request.GET.get("sort") or q.default_sort
    if sort not in selectors.SORTS or (sort == "queue_due" and q.default_sort != "queue_due"):
        sort = q.default_sort
    if request.GET.get("export") in EXPORT_FORMATS:
        return _export_queue(request, q.key, selectors.apply_sort(qs, sort), request.GET["export"])
    qs = selectors.queue_row_columns(qs)
    cursor = request.GET.get("cursor")
    # the taxonomy's and the organisation's tokens in one read: the filters' choices and the bulk bar's
    # pickers come from per-process caches kept under them
    tax_token, org_token = stamps()
    tax = taxonomy(tax_token)
    ctx = {
        "nav_active": f"queue_{q.key}",
        "queue": q.key,
        "queue_act": QUEUE_ACT.get(q.key, ""),
        "title": _(selectors.QUEUE_LABELS[q.key]),
        "sort": sort,
        "queue_due_column": q.default_sort == "queue_due",
        "now": timezone.now(),
        "statuses": Status.choices,
        "levels": Level.choices,
        "kinds": Kind.choices,
        # the filters' choices from the per-process taxonomy (one read of its stamp), not two queries
        "channels": channel_choices(tax),
        "categories": category_choices(tax),
        **extra["state"],
    }
    if cursor:
        # Beyond the offset pager's cap: keyset paging on the sort key + id, any depth at the same cost.
        rows, next_cursor = selectors.keyset_page(qs, sort, cursor, PAGE_SIZE)
        selectors.attach_row_relations(rows, tax_token, org_token)
        ctx.update({"cases": rows, "cursor_mode": True, "next_cursor": next_cursor})
    else:
        page = CappedPaginator(selectors.apply_sort(qs, sort), PAGE_SIZE).get_page(request.GET.get("page"))
        cases = selectors.attach_row_relations(list(page.object_list), tax_token, org_token)
        ctx.update(
            {
                "page": page,
                "count_capped": page.paginator.capped,
                "count_cap": page.paginator.cap,
                "cases": cases,
            }
        )
        if page.paginator.capped and not page.has_next() and cases:
            # The last offset page of a capped list continues with a cursor after its last row.
            ctx["next_cursor"] = selectors.encode_cursor(cases[-1], sort)
    if request.headers.get("HX-Request"):
        return render(request, "web/_queue_table.html", ctx)
    bulk = web_services.bulk_actions_for(request.user)
    ctx.update(
        {
            "saved_views": selectors.saved_views(request.user, q.key),
            "may_share": web_services.may_share(request.user),
            "current_query": web_services.clean_query(request.GET.urlencode()),
            "bulk_actions": bulk,
            # the bar's choices, read only for the actions it offers
            "bulk_departments": action_forms._departments(org_token) if "assign" in bulk else [],
            "bulk_handlers": action_forms._handlers(None, org_token) if "assign" in bulk else [],
            "bulk_criteria": _closing_criteria() if "close" in bulk else [],
        }
    )
    return render(request, "web/queue.html", ctx)


def _closing_criteria() -> list[tuple[str, str]]:
    try:
        rules = active_rules()
    except Exception:  # noqa: BLE001 - no active policy: nothing to close with
        return []
    return [
        (c, rules.closing_criteria[c].get("name", c))
        for c in rules.manual_closing_criteria()
        if c != "invalid"
    ]


def _export_queue(request: HttpRequest, key: str, qs, fmt: str) -> HttpResponse:
    """The queue as the user sees it (filters and sort) through the audited exporter, PII masked by role."""
    query = web_services.clean_query(request.GET.urlencode())
    with tempfile.NamedTemporaryFile(suffix="." + fmt, delete=False) as tmp:
        try:
            exporters.export_case_list(request.user, qs, fmt, tmp, filters={"queue": key, "query": query})
        except Exception:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)
            raise
    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    handle = open(tmp.name, "rb")  # noqa: SIM115 - closed by FileResponse
    Path(tmp.name).unlink()  # the open handle keeps the data until the response is sent (POSIX)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{_(selectors.QUEUE_LABELS[key])}-{stamp}.{fmt}",
        content_type=EXPORT_FORMATS[fmt],
    )


@login_required
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """Bulk action from a queue page: each checked case through perform; the outcome per case."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    action = request.POST.get("bulk_action", "")
    back = request.POST.get("next") or ""
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("web:queue_all")
    try:
        outcomes = web_services.bulk_perform(
            request.user,
            request.POST.getlist("case"),
            action,
            {k: request.POST.get(k, "") for k in ("department", "handler", "note", "criterion")},
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    done = sum(1 for o in outcomes if o.done)
    return render(
        request,
        "web/bulk_result.html",
        {
            "nav_active": "",
            "action_label": web_services.BULK_ACTIONS[action],
            "outcomes": outcomes,
            "done": done,
            "refused": len(outcomes) - done,
            "back": back,
        },
    )


@login_required
def view_save(request: HttpRequest) -> HttpResponse:
    """Save the current filters of a queue under a name (optionally shared with the department)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue_key = request.POST.get("queue", "")
    if queue_key not in selectors.QUEUE_LABELS:
        queue_key = "all"
    try:
        view = web_services.save_view(
            request.user,
            queue=queue_key,
            name=request.POST.get("name", ""),
            query=request.POST.get("query", ""),
            share=bool(request.POST.get("share")),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_queue_url(queue_key))
    messages.success(request, _("视图已保存：%(n)s") % {"n": view.name})
    return redirect(_queue_url(queue_key) + (f"?{view.query}" if view.query else ""))


@login_required
def view_delete(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue_key = request.POST.get("queue", "")
    if queue_key not in selectors.QUEUE_LABELS:
        queue_key = "all"
    try:
        web_services.delete_view(request.user, int(request.POST.get("id") or 0))
    except (DomainError, ValueError):
        messages.error(request, _("视图不存在"))
    else:
        messages.success(request, _("视图已删除"))
    return redirect(_queue_url(queue_key))


def _queue_url(key: str) -> str:
    return reverse("web:queue_all") if key == "all" else reverse(f"web:queue_{key}")


# --- the case page ----------------------------------------------------------------------------


def _timeline_rows(events, case=None) -> list[dict]:

    events = list(events)
    codes = {e.payload.get("department") for e in events if isinstance(e.payload, dict)} - {None, ""}
    dept_names = local_names(Department.objects.filter(code__in=codes)) if codes else {}
    criteria, invalidity = {}, {}
    if case is not None:
        try:
            rules = rules_for(case.policy_id)
            criteria = {k: v.get("name", k) for k, v in rules.closing_criteria.items()}
            invalidity = rules.invalidity_reasons
        except Exception:  # noqa: BLE001 - labels only
            criteria, invalidity = {}, {}
    methods = dict(action_forms.REPLY_METHODS)
    rows = []
    for e in events:
        details = []
        payload = e.payload if isinstance(e.payload, dict) else {}
        for key, label in PAYLOAD_LABELS.items():
            value = payload.get(key)
            if value in (None, "", [], {}):
                continue
            if key in ("level", "from_level", "to_level"):
                try:
                    value = Level(value).label
                except ValueError:
                    pass
            elif key in ("role", "next_role"):
                value = roles.ROLE_LABELS.get(value, value)
            elif key == "department":
                value = dept_names.get(value, value)
            elif key == "remedy_type":
                try:
                    value = RemedyType(value).label
                except ValueError:
                    pass
            elif key == "criterion":
                value = criteria.get(value, value)
            elif key == "reason" and e.action == "mark_invalid":
                value = invalidity.get(value, value)  # a policy code (`out_of_remit`): its name
            elif key == "method":
                value = methods.get(value, value)
            elif key == "material":
                value = dict(ArchiveMaterial.choices).get(value, value)
            elif key == "score" and payload.get("satisfied") is False:
                value = f"{value}（{_('不满意')}）"
            details.append((label, value))
        rows.append({"event": e, "label": action_label(e.action), "details": details})
    return rows


def _stage_deadlines(case, reads: selectors.CaseReads | None = None) -> list:
    """Deadlines per stage from the deadline engine (kesu.sla), when it offers them (`reads`: the page's
    rows, whose stage deadlines the extension form reads too)."""
    fn = getattr(sla_selectors, "case_timeliness", None)
    if fn is None:
        return []
    try:
        rows = list(fn(case) if reads is None else fn(case, stages=reads.stage_deadlines))
    except Exception:  # noqa: BLE001 - the case page never fails because of the deadline panel
        return []
    from kesu.web.templatetags.kesu_web import _fmt_working

    now = timezone.now()
    for row in rows:
        row["duration_text"] = duration_text(row.get("amount"), row.get("unit"))
        row["ref_text"] = stage_ref_text(row.get("ref") or "")
        row["left"] = None
        if row.get("state") == "open" and not row.get("met_at"):
            try:
                left = sla_selectors.working_time_remaining(row["due_at"], now, cal=_case_calendar(case))
            except Exception:  # noqa: BLE001
                left = None
            if left is not None:
                row["left"], row["left_css"], row["left_text"] = left, left.urgency, _fmt_working(left)
    return rows


def _criterion_name(case) -> str:
    """The policy's name of the criterion the case was closed on, not its key (`out_of_remit`)."""
    return _criterion_label(case.closing_criterion, case.policy_id)


def _criterion_label(code: str, policy_id) -> str:
    if not code:
        return ""
    # Closings the lifecycle writes itself, not criteria of the policy.
    builtin = {
        "invalid": Status.INVALID.label,
        "answered": Status.ANSWERED.label,
        "special": _("特殊结案"),
        "suspension_expired": _("暂结案期满结案"),
    }
    try:
        name = rules_for(policy_id).closing_criteria.get(code, {}).get("name")
    except Exception:  # noqa: BLE001 - a label only
        name = None
    if not name and code in Status.values:
        name = Status(code).label  # a finished case without a criterion: its status
    return str(name or builtin.get(code) or code)


def _case_calendar(case):
    return calendar_for_case(case, rules_for(case.policy_id))


def _customer(case, user) -> dict | None:
    return pii.present_customer(case.customer, user)


def _may_reveal(user) -> bool:

    return bool(set(user_roles(user)) & REVEAL_ROLES)


def _case_context(request, case, *, errors: dict | None = None) -> dict:
    user = request.user
    reads = selectors.CaseReads(case)  # each kind of row read once, for the panels and the forms
    forms = action_forms.forms_for(case, user, reads)
    errors = errors or {}
    for f in forms:
        if f.action == errors.get("action"):
            posted = errors.get("posted")
            for fld in f.fields:
                if posted is not None and fld.kind in ("multiselect", "members"):
                    fld.value = posted.getlist(fld.name)
                elif posted is not None and fld.kind not in ("file", "hidden"):
                    fld.value = posted.get(fld.name, fld.value)
    deadlines = _stage_deadlines(case, reads)
    return {
        "case": case,
        "open_action": _open_action(forms, errors, request.GET.get("act", "")),
        # The header deadline names its stage: the open stage whose deadline is the case's binding one.
        "current_stage": next(
            (
                d
                for d in deadlines
                if d.get("state") == "open" and not d.get("met_at") and d.get("due_at") == case.due_at
            ),
            None,
        ),
        "closing_criterion": _criterion_name(case),
        "archive_access": _approved_archive_access(user, case),
        "customer": _customer(case, user),
        "may_reveal": _may_reveal(user),  # a reveal form next to masked fields (kesu.web.trust_views)
        "timeline": _timeline_rows(case_selectors.timeline(case), case),
        "forms": forms,
        "errors": errors,
        "now": timezone.now(),
        "proposals": reads.proposals,
        "collaborations": reads.collaborations,
        "reviews": reads.reviews,
        "follow_ups": reads.follow_ups,
        "accountabilities": reads.accountabilities,
        "attachments": reads.attachments,
        "archive_materials": dict(ArchiveMaterial.choices),
        "emergency_plan": reads.emergency_plan,
        "typical": reads.typical,
        "submissions": reads.submissions,
        "deadlines": deadlines,
        "ApprovalStep": ApprovalStep,
        "reply_templates": _reply_templates(user, forms, reads),
        # 相似已结案件 is loaded after the page (case_similar): its cost grows with the history, the
        # page's own does not (issue 19: it was a third of the page's CPU at 100k cases).
        "similar_deferred": case.status not in FINISHED_STATUSES,
    }


def _similar_panel(case, user, may_reply: bool) -> list[dict] | None:
    """相似已结案件 for a case still being worked: the closest finished cases the viewer may see, how
    each ended, and (when the viewer may reply) each past reply as a draft filled in for this case.
    None on finished cases (nothing left to decide)."""
    if case.status in FINISHED_STATUSES:
        return None
    found = insight_selectors.similar_closed_cases(user, case)
    drafts = insight_selectors.reply_templates_of(found) if may_reply else {}
    values = replies.values_for(case, user) if drafts else {}
    return [
        {
            "s": s,
            "outcome": _criterion_label(s.outcome, case.policy_id),
            "draft": replies.fill(drafts[s.case_id], values) if s.case_id in drafts else "",
        }
        for s in found
    ]


def _open_action(forms, errors: dict, wanted: str) -> str:
    """The action form shown unfolded: the one just refused, else the one the link asked for (`?act=`,
    alternatives separated by commas: inbox and queue links name the recipient's move), else the usual
    next step."""
    offered = [f.action for f in forms]
    if errors.get("action") in offered:
        return errors["action"]
    for name in wanted.split(","):
        if name in offered:
            return name
    return forms[0].action if forms and forms[0].primary else ""


def _reply_templates(user, forms, reads: selectors.CaseReads) -> dict[str, list]:
    """The picker of the reply and first-contact answer forms: (group label, [(name, filled text)])."""
    if not any(f.action in REPLY_ACTIONS for f in forms):
        return {}
    groups = [
        (_("答复客户"), reads.reply_choices(user, ReplyTemplate.Purpose.REPLY)),
        (_("门户消息"), reads.reply_choices(user, ReplyTemplate.Purpose.PORTAL)),
    ]
    groups = [(label, items) for label, items in groups if items]
    return {action: groups for action in REPLY_ACTIONS} if groups else {}


REPLY_ACTIONS = ("reply", "answer_first_contact")


@login_required
@domain_errors
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    # `parts`: the case's statement also says which of its related sets have rows, so the page reads
    # only those (kesu.web.selectors.CaseReads); the page shows nothing of the policy's row itself.
    case = case_selectors.get_case(request.user, number=number, parts=True, policy_row=False)
    audit.record("case.read", request.user, case, {"via": "web"}, request=request)
    return render(request, "web/case.html", _case_context(request, case))


@login_required
@domain_errors
def case_similar(request: HttpRequest, number: str) -> HttpResponse:
    """The case page's 相似已结案件 panel, fetched by the page once it is shown (htmx, `load`). The
    same permission check as the page (a hidden case answers as missing); the candidates are filtered
    by what this viewer may see (kesu.insight.similar). Not audited again: it shows nothing of the case
    itself that the page, whose read is audited, did not."""
    user = request.user
    case = case_selectors.get_case(user, number=number)
    # "用作答复草稿" only for whoever the page offers the reply form (action_forms.forms_for builds
    # it whenever the action is allowed).
    may_reply = "reply" not in action_forms.HIDDEN_ACTIONS and "reply" in allowed_actions(case, user)
    return render(
        request,
        "web/_case_similar.html",
        {"case": case, "similar": _similar_panel(case, user, may_reply)},
    )


@login_required
@domain_errors
def case_acknowledgement(request: HttpRequest, number: str) -> HttpResponse:
    """受理回执: the printable acknowledgement handed or sent to the complainant, with the time limit
    (003 恒康天安 第五条(一), 000 第3篇) taken from the case's answer deadline."""
    case = case_selectors.get_case(request.user, number=number)
    return render(
        request,
        "web/acknowledgement.html",
        {"case": case, "promise": sla_selectors.answer_promise(case), "now": timezone.now()},
    )


# Actions sent without the page's version: they change no state, so a concurrent change cannot make
# them wrong (perform still takes the row lock and bumps the version).
VERSIONLESS_ACTIONS = {"add_note"}


# Actions whose form uploads a file (stored first, then recorded through perform by attach_file).
FILE_ACTIONS = ("attach", "add_archive_material")


@login_required
@domain_errors
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    case = case_selectors.get_case(request.user, number=number)
    try:
        expected = int(request.POST.get("expected_version", ""))
    except ValueError:
        expected = None
    if action in VERSIONLESS_ACTIONS:
        # A plain note changes no state: two colleagues noting at once must both succeed.
        expected = None
    try:
        if action in FILE_ACTIONS:
            upload = request.FILES.get("file")
            if upload is None:
                raise DomainError(_("请选择要上传的文件"), code="validation_error")
            extra = action_forms.collect(action, request.POST)
            extra.pop("note", None)
            attach_file(
                case,
                request.user,
                name=upload.name,
                content=upload,
                declared_size=upload.size,
                note=request.POST.get("note", ""),
                expected_version=expected,
                action=action,
                **extra,
            )
        elif action == "reply" and request.POST.get("close_criterion"):
            web_services.reply_and_close(
                case,
                request.user,
                expected_version=expected,
                reply=action_forms.collect(action, request.POST),
                criterion=request.POST["close_criterion"],
            )
        elif action == "accept" and request.POST.get("assign_handler"):
            web_services.accept_and_assign(
                case,
                request.user,
                expected_version=expected,
                accept=action_forms.collect(action, request.POST),
                handler=request.POST["assign_handler"],
            )
        elif action == "start_investigation" and request.POST.get("collab_department"):
            web_services.start_and_request_collaboration(
                case,
                request.user,
                expected_version=expected,
                start=action_forms.collect(action, request.POST),
                department=request.POST["collab_department"],
                question=request.POST.get("collab_question", ""),
            )
        else:
            perform(
                case,
                action,
                request.user,
                expected_version=expected,
                **action_forms.collect(action, request.POST),
            )
    except VersionConflict as exc:
        case.refresh_from_db()
        since = (exc.details or {}).get("expected_version") or expected or 0
        changes = _timeline_rows(case_selectors.timeline(case).filter(seq__gt=since), case)
        # The user's input is kept in the form they used (they re-check it against the changes above).
        ctx = _case_context(
            request,
            case,
            errors={
                "action": action,
                "message": _("您填写的内容已保留，请确认后重新提交。"),
                "posted": request.POST,
            },
        )
        ctx["conflict"] = {"message": exc.message, "changes": changes, "action": action_label(action)}
        return render(request, "web/case.html", ctx, status=409)
    except Forbidden as exc:
        if not case_selectors.permissions.can_view(request.user, case):
            raise
        case.refresh_from_db()
        ctx = _case_context(
            request, case, errors={"action": action, "message": exc.message, "posted": request.POST}
        )
        return render(request, "web/case.html", ctx, status=403)
    except DomainError as exc:
        case.refresh_from_db()
        ctx = _case_context(
            request,
            case,
            errors={"action": action, "message": exc.message, "details": exc.details, "posted": request.POST},
        )
        return render(request, "web/case.html", ctx, status=exc.status if 400 <= exc.status < 500 else 400)
    messages.success(request, _("已完成：%(a)s") % {"a": action_label(action)})
    return redirect("web:case", number=case.number)


@login_required
@domain_errors
def attachment_download(request: HttpRequest, number: str, attachment_id: int) -> HttpResponse:

    attachment, handle = open_attachment(request.user, number=number, attachment_id=attachment_id)
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.original_name, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- intake (受理登记) -----------------------------------------------------------------------------


def _may_register(user) -> bool:
    # The cases service's rule, the one register_case enforces for the API too.
    return case_permissions.may_register(user)


@login_required
def intake(request: HttpRequest) -> HttpResponse:
    if not _may_register(request.user):
        return forbidden_page(request)
    if request.method == "POST" and request.POST.get("apply_category"):
        # The suggestion applied without JavaScript: the same form, with the suggested category.
        data = request.POST.copy()
        data["category"] = request.POST["apply_category"]
        form = intake_logic.IntakeForm(data)
        form.is_valid()
        preview = intake_logic.preview(form.data, request.user)
        return render(request, "web/intake.html", {"nav_active": "intake", "form": form, "preview": preview})
    if request.method == "POST" and not request.POST.get("lookup"):
        result = intake_logic.submit(request)
        if result.case is not None:
            return redirect("web:case", number=result.case.number)
        form = result.form
    else:
        form = intake_logic.IntakeForm(request.POST or None, initial={"client_key": uuid.uuid4().hex})
        if request.method == "POST":
            form.is_valid()  # a lookup round-trip without JavaScript: show the preview, keep the input
    preview = intake_logic.preview(form.data if form.is_bound else {}, request.user)
    return render(request, "web/intake.html", {"nav_active": "intake", "form": form, "preview": preview})


@login_required
def intake_preview(request: HttpRequest) -> HttpResponse:
    if not _may_register(request.user):
        return forbidden_page(request)
    data = request.POST if request.method == "POST" else request.GET
    return render(request, "web/_intake_preview.html", {"preview": intake_logic.preview(data, request.user)})


@login_required
def intake_risk(request: HttpRequest) -> HttpResponse:
    """Escalation risk of the text being typed at intake (JSON for the form's script): the phrases with
    their positions, and the flags (and level) the policy's grading attaches to them, to be confirmed."""
    if not _may_register(request.user):
        return forbidden_page(request)
    data = request.POST if request.method == "POST" else request.GET
    result = insight_selectors.escalation_risk(data.get("text", "")[:20000])
    labels = dict(intake_logic.FLAG_CHOICES)
    result["flag_labels"] = {f: str(labels.get(f, f)) for f in result["proposed_flags"]}
    level = result.get("proposed_level")
    result["proposed_level_label"] = str(Level(level).label) if level in Level.values else ""
    return JsonResponse(result)


# --- supervisor board --------------------------------------------------------------------------

BOARD_ROLES = {roles.SUPERVISOR, roles.CS_MANAGER, roles.GENERAL_MANAGER, roles.DEPT_HEAD, roles.ADMIN}


@login_required
def board(request: HttpRequest) -> HttpResponse:
    if not (user_roles(request.user) & BOARD_ROLES):
        return forbidden_page(request)
    data = selectors.board(request.user)
    return render(request, "web/board.html", {"nav_active": "board", "now": timezone.now(), **data})


def not_found(request, exception=None):  # pragma: no cover - wired by the integrator if wanted
    raise Http404


# --- in-app inbox (站内通知, from the deadline engine) --------------------------------------------


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    items = list(sla_selectors.inbox(request.user, unread_only=unread_only, limit=100))
    return render(
        request,
        "web/inbox.html",
        {
            "nav_active": "inbox",
            "items": items,
            "groups": selectors.inbox_groups(request.user, items),
            "unread_only": unread_only,
            "unread": sla_selectors.unread_count(request.user),
        },
    )


@login_required
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark notifications read: the posted `id`s, or all of the user's with `all=1`."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])

    if request.POST.get("all"):
        ids = None
    else:
        ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()]
    n = mark_read(request.user, ids)
    if n:
        messages.success(request, _("已标为已读：%(n)d 条") % {"n": n})
    target = request.POST.get("next") or ""
    if target.startswith("/cases/"):
        return redirect(target)
    return redirect("web:inbox")


# --- notification settings (立即 / 每日汇总 per kind) ------------------------------------------------


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        modes = {k[len("mode:") :]: v for k, v in request.POST.items() if k.startswith("mode:")}
        set_preferences(request.user, modes)
        messages.success(request, _("通知方式已保存"))
        return redirect("web:notification_settings")
    return render(
        request,
        "web/notification_settings.html",
        {
            "nav_active": "inbox",
            "rows": preferences(request.user),
            "modes": NotificationPreference.Mode.choices,
        },
    )


# --- the typical-case library (典型案例) and the regulator submissions (监管报送) ------------------------


@login_required
@domain_errors
def typical_cases(request: HttpRequest) -> HttpResponse:
    """Staff search the library: only cases they may see, never reports, personal data masked."""
    text = request.GET.get("q", "")
    entries = [pii.typical_case_entry(item) for item in case_selectors.typical_cases(request.user, text=text)]
    return render(
        request,
        "web/typical_cases.html",
        {"nav_active": "typical_cases", "entries": entries, "q": text},
    )


@login_required
@domain_errors
def regulator_submissions(request: HttpRequest) -> HttpResponse:
    """The compliance register of archived files sent to regulators (risk/compliance, archive keeper)."""
    if not holds_any_role(request.user, {roles.RISK, roles.ARCHIVIST}):
        raise Forbidden(_("监管报送登记仅限风险合规人员和档案管理员查看"))
    return render(
        request,
        "web/regulator_submissions.html",
        {
            "nav_active": "regulator_submissions",
            "items": case_selectors.regulator_submissions(request.user),
        },
    )
