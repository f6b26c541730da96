"""Template helpers of the workbench: navigation, roles, countdowns."""

from __future__ import annotations

import re
import unicodedata
from html import escape as html_escape
from urllib.parse import quote as urlquote

from django import template
from django.template import defaulttags
from django.template.base import render_value_in_context
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kesu.cases.actions.after_closing import follow_up_from
from kesu.cases.grading import reason_text
from kesu.cases.models import OPEN_STATUSES, Level, Status
from kesu.org import roles
from kesu.org.i18n import display_name
from kesu.org.roles import ROLE_LABELS
from kesu.org.selectors import department_of, has_role, user_roles
from kesu.policy.selectors import rules_for
from kesu.sla.messages import accountability_reason_label
from kesu.sla.selectors import calendar_notices, unread_count, working_time_remaining
from kesu.sla.stages import stage_label
from kesu.web import nav

register = template.Library()


@register.simple_tag(takes_context=True)
def kesu_nav(context) -> SafeString:
    """The sidebar (web/_nav.html), rendered once per process per role set, language and highlighted
    entry (kesu.web.nav.render_for)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    codes = user_roles(user) if user is not None else frozenset()
    return nav.render_for(
        codes,
        bool(getattr(user, "is_staff", False)),
        current=getattr(request, "path", ""),
        nav_active=context.get("nav_active", "") or "",
    )


@register.simple_tag
def kesu_user_roles(user) -> str:
    return "、".join(str(ROLE_LABELS.get(c, c)) for c in sorted(user_roles(user)))


@register.simple_tag
def kesu_is_admin(user) -> bool:
    """True for system administrators (the TOTP enrolment link)."""
    if not getattr(user, "is_authenticated", False):
        return False

    return has_role(user, roles.ADMIN)


@register.simple_tag
def kesu_unread_count(user) -> int:
    """Unread in-app notifications of the user (the top bar's badge); 0 when the inbox is unavailable."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return unread_count(user)


@register.simple_tag
def kesu_calendar_notices() -> list[dict]:
    """The deadline engine's notices for administrators (kesu.sla.selectors.calendar_notices)."""
    try:
        return calendar_notices()
    except Exception:  # noqa: BLE001 - a notice never breaks a page
        return []


@register.simple_tag
def kesu_user_department(user):
    return display_name(department_of(user))


# --- deadlines ----------------------------------------------------------------------------------


def _remaining_working(case, now):
    """Working time left from the deadline engine (kesu.sla), or None when it cannot tell."""
    try:
        return working_time_remaining(case, now)
    except Exception:  # noqa: BLE001 - a countdown must never break a page
        return None


def _fmt_span(seconds: float) -> str:
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(d)d天%(h)d小时") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d小时%(m)d分") % {"h": hours, "m": minutes}
    return _("%(m)d分钟") % {"m": minutes}


def _fmt_working(left) -> str:
    days, hours, minutes = left.parts
    if days and hours:
        span = ngettext("%(d)d 个工作日 %(h)d 小时", "%(d)d 个工作日 %(h)d 小时", days) % {
            "d": days,
            "h": hours,
        }
    elif days:
        span = ngettext("%(d)d 个工作日", "%(d)d 个工作日", days) % {"d": days}
    elif hours:
        span = (
            _("%(h)d 小时 %(m)d 分") % {"h": hours, "m": minutes}
            if minutes
            else _("%(h)d 小时") % {"h": hours}
        )
    else:
        span = _("%(m)d 分钟") % {"m": minutes}
    if left.overdue:
        return _("已超时 %(t)s") % {"t": span}
    if left.seconds < 60:
        return _("%(t)s 到期（非工作时间）") % {"t": timezone.localtime(left.due_at).strftime("%H:%M")}
    return _("剩余 %(t)s") % {"t": span}


@register.inclusion_tag("web/_due.html")
def due_badge(case, now=None) -> dict:
    """Deadline countdown in working time (calendar + business hours), coloured by urgency:
    over (passed), today (≤ half a business day left), soon (≤ one business day), ok."""
    now = now or timezone.now()
    due = getattr(case, "due_at", None)
    if due is None or case.status not in OPEN_STATUSES:
        return {"css": "due-none", "text": "—", "title": ""}
    local = timezone.localtime(due)
    left = _remaining_working(case, now)
    if left is not None:
        title = _("期限 %(t)s（按工作日历和工作时间计算）") % {"t": f"{local:%Y-%m-%d %H:%M}"}
        if left.fallback:
            title += _("；该年度放假安排未录入，按法定节日估算")
        return {"css": f"due-{left.urgency}", "text": _fmt_working(left), "title": title}
    return _clock_badge(due, now)


@register.inclusion_tag("web/_due.html")
def queue_due_badge(due, now=None) -> dict:
    """A queue's own deadline (the follow-up or collaboration deadline of the row), in clock time."""
    if due is None:
        return {"css": "due-none", "text": "—", "title": ""}
    return _clock_badge(due, now or timezone.now())


def _clock_badge(due, now) -> dict:
    local = timezone.localtime(due)
    seconds = (due - now).total_seconds()
    if seconds < 0:
        css, text = "due-over", _("超时 %(t)s") % {"t": _fmt_span(seconds)}
    elif seconds <= 4 * 3600:
        css, text = "due-today", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    elif seconds <= 24 * 3600:
        css, text = "due-soon", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    else:
        css, text = "due-ok", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    return {"css": css, "text": text, "title": f"{local:%Y-%m-%d %H:%M}"}


@register.filter
def follow_up_due_from(case) -> str:
    """The follow-up queue's note: from when the visit may be made (001 篇9: day 5 after closing)."""
    start = follow_up_from(case, rules_for(case.policy_id)) if case.policy_id else None
    if start is None:
        return ""
    return _("%(date)s 起可回访") % {"date": f"{timezone.localtime(start):%Y-%m-%d}"}


@register.filter
def action_label(action: str) -> str:
    from kesu.web.labels import action_label as _label

    return _label(action)


# Labels by code (lazy, translated when str() is taken): the Enum lookup `Status(code)` per row of a
# list cost more than the translation itself.
_STATUS_LABELS = dict(Status.choices)
_LEVEL_LABELS = dict(Level.choices)


def _chars(text: str, length: int) -> str:
    """`Truncator(text).chars(length)`: a text already within `length` (and in NFC form, as Truncator
    normalises it) comes back as it is without Truncator's per-character walk."""
    text = str(text)
    if 0 < length and len(text) <= length and unicodedata.is_normalized("NFC", text):
        return text
    return Truncator(text).chars(length)


@register.filter
def case_status(case) -> str:
    """The status as the reader should understand it: once the reply has gone out, a case waiting for
    its closing is no longer "待答复" (the lifecycle keeps it in `responding` until it is closed)."""
    if case.status == Status.RESPONDING and getattr(case, "replied_at", None):
        return _("已答复，待结案")
    label = _STATUS_LABELS.get(case.status)
    return str(label) if label is not None else case.status


@register.filter
def status_label(code: str) -> str:

    try:
        return str(Status(code).label)
    except ValueError:
        return code or ""


def _level_display(code: str) -> str:
    """`case.get_level_display()` without the model's per-call choices dict (a row builder's loop)."""
    label = _LEVEL_LABELS.get(code)
    return str(label) if label is not None else code


@register.filter
def level_label(code: str) -> str:

    try:
        return str(Level(code).label)
    except ValueError:
        return code or ""


@register.filter
def grading_reason(reason: dict, case=None) -> str:
    """A grading reason in the reader's language (kesu.cases.grading.reason_text)."""
    return reason_text(reason, case, level_label) if isinstance(reason, dict) else str(reason)


@register.filter
def role_label(code: str) -> str:
    return str(ROLE_LABELS.get(code, code))


@register.simple_tag(takes_context=True)
def qs_replace(context, **kwargs) -> str:
    """The current query string with some parameters replaced (for sorting and paging links)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"


@register.filter
def get_item(mapping, key):
    """`mapping|get_item:key` (a dict looked up by a variable key); None when absent."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def accountability_reason(reason: str) -> str:
    return accountability_reason_label(reason or "")


@register.filter
def escalation_text(payload) -> str:
    """What an escalation event was about: the stage's name, not its key."""
    payload = payload if isinstance(payload, dict) else {}
    if payload.get("stage"):
        return str(stage_label(payload["stage"]))
    return str(payload.get("reason") or "")


# --- the queue's rows -----------------------------------------------------------------------------


def _badge_html(badge: dict) -> str:
    """web/_due.html, for the rows built below."""
    title = format_html(' title="{}"', badge["title"]) if badge["title"] else ""
    return format_html('<span class="due {}"{}>{}</span>\n', badge["css"], title, badge["text"])


@register.simple_tag(takes_context=True)
def queue_rows(context, cases) -> SafeString:
    """The rows of a queue page (web/_queue_table.html), built here rather than by a template loop:
    30 rows of 11 cells through the template engine (a variable lookup, filter and escape per cell)
    took about half of the page's CPU time (issue 19, profiled); the markup is the same."""
    queue = context.get("queue")
    now = context.get("now")
    queue_due_column = context.get("queue_due_column")
    # The link opens the form the recipient of this queue acts with (issue 16: fewer clicks).
    act = context.get("queue_act")
    act_query = f"?act={urlquote(str(act), safe='/')}" if act else ""  # as the |urlencode filter
    note_label = _("协办问题") if queue == "collab" else _("调阅理由")
    case_url = _case_url_maker()
    out: list[str] = []
    e = conditional_escape
    for c in cases:
        number = e(c.number)
        text = c.subject or c.description
        cell = e(_chars(text, 40))
        note = getattr(c, "queue_note", None)
        if note:
            cell += format_html(
                '<div class="small muted queue-note">{}：{}</div>', note_label, _chars(note, 80)
            )
        if queue == "followups":
            start = follow_up_due_from(c)
            if start:
                cell += format_html('<div class="small muted queue-note follow-up-from">{}</div>', start)
        handler = c.handler
        if handler is not None:
            who = e(handler.get_full_name() or handler.username)
        else:
            who = '<span class="muted">—</span>'
        if queue_due_column:
            badge = queue_due_badge(getattr(c, "queue_due", None), now)
        else:
            badge = due_badge(c, now)
        select_label = _("选择 %(n)s") % {"n": c.number}
        out.append(
            f'<tr data-case="{number}">\n'
            f'  <td class="sel"><input type="checkbox" name="case" value="{number}" form="bulk-form" '
            f'aria-label="{e(select_label)}"></td>\n'
            f'  <td><a href="{e(case_url(c.number) + act_query)}" class="case-link">{number}</a></td>\n'
            f'  <td class="small">{timezone.localtime(c.received_at):%m-%d %H:%M}</td>\n'
            f'  <td class="ellipsis" title="{e(_chars(c.description, 200))}">{cell}</td>\n'
            f"  <td>{e(display_name(c.category) or '—')}</td>\n"
            f"  <td>{e(display_name(c.channel))}</td>\n"
            f'  <td><span class="badge lvl-{e(c.level)}">{e(_level_display(c.level))}</span></td>\n'
            f'  <td><span class="badge st">{e(case_status(c))}</span></td>\n'
            f"  <td>{e(display_name(c.department) or '—')}</td>\n"
            f"  <td>{who}</td>\n"
            f"  <td>{_badge_html(badge)}</td>\n"
            "</tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


# --- the supervisor board's lists ------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[A-Za-z0-9_-]+")


def _case_url_maker():
    """`reverse("web:case", args=[number])` for many rows: one reverse, then each plain case number put
    in its place (nothing to quote); anything else still through reverse. The URL resolver's work per
    row was a tenth of the board's CPU time."""
    marker = "0kesu0case0number0"
    head, tail = reverse("web:case", args=[marker]).split(marker)

    def case_url(number: str) -> str:
        if _PLAIN_NUMBER.fullmatch(number):  # TS20261207000123: nothing to quote
            return head + number + tail
        return reverse("web:case", args=[number])

    return case_url


@register.simple_tag(takes_context=True)
def board_case_rows(context, rows) -> SafeString:
    """The rows of the board's crisis/major and group-complaint lists (web/_board_cases.html), built here
    rather than by a template loop: up to 100 rows with a link, filters and a countdown each were over
    half of the board's CPU time (issue 19, profiled); the markup is the same."""
    now = context.get("now")
    case_url = _case_url_maker()
    e = conditional_escape
    out: list[str] = []
    for c in rows:
        number = e(c.number)
        text = c.subject or c.description
        out.append(
            f'<tr><td><a href="{e(case_url(c.number))}">{number}</a></td>'
            f'<td class="ellipsis">{e(_chars(text, 40))}</td>'
            f'<td><span class="badge lvl-{e(c.level)}">{e(_level_display(c.level))}</span></td>'
            f'<td class="num">{e(c.people_count)}</td>'
            f"<td>{e(case_status(c))}</td>"
            f"<td>{e(display_name(c.department) or '—')}</td>"
            f"<td>{_badge_html(due_badge(c, now))}</td></tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag
def board_escalation_rows(events) -> SafeString:
    """The rows of the board's escalations of the last 7 days (web/board.html), built here like
    `board_case_rows`; the markup is the same."""
    case_url = _case_url_maker()
    e = conditional_escape
    out: list[str] = []
    for ev in events:
        case = ev.case
        out.append(
            f"<tr><td>{timezone.localtime(ev.created_at):%m-%d %H:%M}</td>"
            f'<td><a href="{e(case_url(case.number))}">{e(case.number)}</a></td>'
            f"<td>{e(display_name(case.department) or '—')}</td>"
            f'<td class="small">{e(escalation_text(ev.payload))}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


# --- the options of a select ----------------------------------------------------------------------

_NOTHING = object()


def _rendered(value, context) -> str:
    """`{{ value }}`: a plain str is only escaped (what rendering does to it: no localisation applies;
    `html.escape` is what django's `escape` calls, without its lazy-string wrapper: hundreds of options
    per case page)."""
    if type(value) is str:
        return html_escape(value)
    return render_value_in_context(value, context)


@register.simple_tag(takes_context=True)
def select_options(
    context, choices, selected=_NOTHING, *, indent: bool = False, as_text: bool = False
) -> SafeString:
    """`<option value="v"[ selected]>label</option>` for each (value, label) of `choices`, built here
    rather than by a template loop (the queue's filters and the case page's forms list hundreds of
    options: a loop, an `if` and two lookups each; issue 19, profiled). The same markup as the loops it
    replaces: values and labels rendered as `{{ }}` renders them; `selected` when the value equals
    `selected` (`as_text`: as text, like `v|stringformat:"s" == value|stringformat:"s"`); with
    `indent`, (value, label, depth) rows and a full-width space before the label of a nested row."""
    out: list[str] = []
    want = _as_text(selected) if (as_text and selected is not _NOTHING) else selected
    for row in choices:
        value, label = row[0], row[1]
        if selected is _NOTHING:
            mark = ""
        elif as_text:
            mark = " selected" if _as_text(value) == want else ""
        else:
            mark = " selected" if value == want else ""
        pad = "\u3000" if indent and row[2] else ""
        out.append(
            f'<option value="{_rendered(value, context)}"{mark}>{pad}{_rendered(label, context)}</option>'
        )
    return mark_safe("".join(out))  # noqa: S308 - rendered (escaped) as {{ }} renders


@register.simple_tag(takes_context=True)
def member_options(context, choices, selected) -> SafeString:
    """The people of a member picker: (user id, name, department code) rows, those `in selected` marked,
    with the department for the page's filter (the markup of the loop it replaces, see select_options)."""
    out = []
    for value, label, dept in choices:
        try:
            mark = " selected" if value in selected else ""
        except TypeError:  # as the template's `in`: no value, nothing selected
            mark = ""
        out.append(
            f'<option value="{_rendered(value, context)}" data-dept="{_rendered(dept, context)}"{mark}>'
            f"{_rendered(label, context)}</option>"
        )
    return mark_safe("".join(out))  # noqa: S308 - rendered (escaped) as {{ }} renders


def _as_text(value) -> str:
    """`value|stringformat:"s"`."""
    try:
        return "%s" % value  # noqa: UP031 - the filter's own formatting
    except (ValueError, TypeError):
        return ""


# --- the case page's action forms ---------------------------------------------------------------------

_PLAIN_ACTION = re.compile(r"[a-z_]+")


@register.simple_tag(takes_context=True)
def case_action_forms(context) -> SafeString:
    """The case page's action forms (`forms`: kesu.web.action_forms.ActionForm), each a `<details>` with
    its quick buttons, its form and its fields, built here from the forms' data rather than by nested
    template loops: ~20 forms of up to six fields with a dozen `if`s each were most of the page's
    rendering time (issue 19, profiled). The markup, whitespace included, is the loop's it replaces
    (tests/web/test_case_action_markup.py renders both); every value is rendered as `{{ }}` renders it."""
    forms = context.get("forms") or []
    if not forms:
        return format_html('<p class="muted">{}</p>', _("当前没有您可以执行的操作"))
    case = context["case"]
    r = _rendered
    version = r(case.version, context)
    csrf = defaulttags.CsrfTokenNode().render(context)
    open_action = context.get("open_action", "")
    errors = context.get("errors") or {}
    error_action = errors.get("action", "") if isinstance(errors, dict) else ""
    reply_templates = context.get("reply_templates") or {}
    base = reverse("web:case_action", args=[case.number, "_"])[:-2]
    out: list[str] = []
    for f in forms:
        action = f.action
        url = (
            base + action + "/"
            if _PLAIN_ACTION.fullmatch(action)
            else reverse("web:case_action", args=[case.number, action])
        )
        url = conditional_escape(url)
        a = r(action, context)
        label = r(f.label, context)
        out.append(
            f'\n    <details class="action" id="action-{a}"{" open" if action == open_action else ""}>\n'
            f"      <summary>{label}</summary>\n      "
        )
        if f.quick:
            out.append('<div class="quick-actions">')
            for n, (qlabel, qvalues, qdanger) in enumerate(f.quick, 1):
                hidden = "".join(
                    f'<input type="hidden" name="{r(k, context)}" value="{r(v, context)}">'
                    for k, v in qvalues.items()
                )
                css = " btn-danger" if qdanger else " btn-quick"
                out.append(
                    f'<form method="post" action="{url}" class="inline">{csrf}'
                    f'<input type="hidden" name="expected_version" value="{version}">{hidden}'
                    f'<button type="submit" class="btn btn-sm{css}" data-quick="{a}-{n}">{r(qlabel, context)}</button></form> '
                )
            out.append("</div>")
        enctype = "".join(' enctype="multipart/form-data"' for fld in f.fields if fld.kind == "file")
        out.append(
            f'\n      <form method="post" action="{url}"{enctype}>\n'
            f"        {csrf}\n"
            f'        <input type="hidden" name="expected_version" value="{version}">\n        '
        )
        if error_action == action:
            out.append(
                f'<div class="alert alert-error" role="alert">{r(errors.get("message", ""), context)}</div>'
            )
        out.append("\n        ")
        if f.hint:
            out.append(f'<div class="alert alert-info small">{r(f.hint, context)}</div>')
        out.append("\n        ")
        groups = reply_templates.get(action) if isinstance(reply_templates, dict) else None
        if groups:
            out.append(_reply_template_picker(context, a, action, groups))
        out.append("\n        ")
        for fld in f.fields:
            out.append("\n          ")
            out.append(_field_markup(context, a, fld))
            out.append("\n        ")
        out.append(
            f'\n        <button type="submit" class="btn{" btn-danger" if f.danger else ""}" data-action="{a}">{label}</button>\n'
            "      </form>\n"
            "    </details>\n    "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is rendered (escaped) as {{ }} renders


def _reply_template_picker(context, a: str, action: str, groups) -> str:
    r = _rendered
    target = "text" if action == "reply" else "answer"
    out = [
        f'<div class="field reply-templates"><label for="{a}-template">{escape(_("答复模板"))}</label>'
        f'<select id="{a}-template" data-fill-target="{a}-{target}">'
        f'<option value="">{escape(_("（选择模板填入答复内容）"))}</option>'
    ]
    for label, items in groups:
        out.append(f'<optgroup label="{r(label, context)}">')
        out.extend(
            f'<option value="{n}" data-text="{r(text, context)}">{r(name, context)}</option>'
            for n, (name, text) in enumerate(items, 1)
        )
        out.append("</optgroup>")
    out.append("</select></div>")
    return "".join(out)


def _field_markup(context, a: str, fld) -> str:
    """One field of an action form: its `<div class="field">` (or its hidden input), with the lines the
    template's `if` branches left."""
    r = _rendered
    name = r(fld.name, context)
    if fld.kind == "hidden":
        return f'<input type="hidden" name="{name}" value="{r(fld.value, context)}">\n          '
    ident = f"{a}-{name}"
    required = " required" if fld.required else ""
    if fld.kind == "checkbox":
        inner = (
            f'<label class="checks"><input type="checkbox" id="{ident}" name="{name}" value="1"'
            f"{' checked' if fld.value else ''}> {r(fld.label, context)}</label>\n            "
        )
        return f'\n          <div class="field">\n            {inner}\n          </div>\n          '
    req = ' class="req"' if fld.required else ""
    label = f'<label for="{ident}"{req}>{r(fld.label, context)}</label>'
    nl = "\n            "
    kind = fld.kind
    if kind == "textarea":
        widget = (
            f'<textarea id="{ident}" name="{name}" rows="3"{required}>{r(fld.value, context)}</textarea>{nl}'
        )
    elif kind == "select":
        options = select_options(context, fld.choices, fld.value, as_text=True)
        widget = f'<select id="{ident}" name="{name}"{required}>{options}</select>{nl}'
    elif kind == "multiselect":
        widget = f'<select id="{ident}" name="{name}" multiple size="6"{required}>{select_options(context, fld.choices)}</select>{nl}'
    elif kind == "members":
        widget = (
            f'<div class="member-filter" data-member-filter="{ident}"><label for="{ident}-dept" class="sr-only">'
            f'{escape(_("按部门筛选"))}</label><select id="{ident}-dept"><option value="">{escape(_("全部部门"))}</option>'
            f"{select_options(context, fld.groups)}</select>"
            f'<label for="{ident}-q" class="sr-only">{escape(_("搜索姓名"))}</label>'
            f'<input type="search" id="{ident}-q" placeholder="{escape(_("搜索姓名"))}"></div>{nl}'
            f'<select id="{ident}" name="{name}" multiple size="8"{required}>'
            f"{member_options(context, fld.choices, fld.value)}</select>{nl}"
        )
    elif kind == "datetime":
        widget = f'<input type="datetime-local" id="{ident}" name="{name}" value="{r(fld.value, context)}"{required}>{nl}'
    elif kind == "number":
        widget = (
            f'<input type="number" step="0.01" min="0" id="{ident}" name="{name}" value="{r(fld.value, context)}"'
            f"{required}>{nl}"
        )
    elif kind == "file":
        widget = f'<input type="file" id="{ident}" name="{name}"{required}>{nl}'
    else:
        widget = f'<input type="text" id="{ident}" name="{name}" value="{r(fld.value, context)}"{required}>'
    return f'\n          <div class="field">\n            {nl}{label}{nl}{widget}{nl}\n          </div>\n          '
