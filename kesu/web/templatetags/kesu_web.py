"""Template helpers of the workbench: navigation, roles, countdowns."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases.models import OPEN_STATUSES
from kesu.org.roles import ROLE_LABELS
from kesu.org.selectors import department_of, user_roles
from kesu.web import nav

register = template.Library()


@register.inclusion_tag("web/_nav.html", takes_context=True)
def kesu_nav(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    codes = user_roles(user) if user is not None else frozenset()
    items = nav.items_for(codes, is_staff=bool(getattr(user, "is_staff", False)))
    current = getattr(request, "path", "")
    return {"items": items, "current": current, "nav_active": context.get("nav_active", "")}


@register.simple_tag
def kesu_user_roles(user) -> str:
    return "、".join(str(ROLE_LABELS.get(c, c)) for c in sorted(user_roles(user)))


@register.simple_tag
def kesu_user_department(user):
    dept = department_of(user)
    return dept.name if dept else ""


# --- deadlines ----------------------------------------------------------------------------------


def _remaining_working(case, now):
    """Working time left from kesu.sla when it offers it (the deadline engine), else None."""
    try:
        from kesu.sla import selectors as sla_selectors  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(sla_selectors, "working_time_remaining", None)
    if fn is None:
        return None
    try:
        return fn(case, now=now)
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


@register.inclusion_tag("web/_due.html")
def due_badge(case, now=None) -> dict:
    """Deadline countdown coloured by urgency: overdue, due today (≤4h), soon (≤24h), fine."""
    now = now or timezone.now()
    due = getattr(case, "due_at", None)
    if due is None or case.status not in OPEN_STATUSES:
        return {"css": "due-none", "text": "—", "title": ""}
    working = _remaining_working(case, now)
    seconds = working.total_seconds() if isinstance(working, dt.timedelta) else (due - now).total_seconds()
    label = _("工作时间") if working is not None else ""
    if seconds < 0:
        css, text = "due-over", _("超时 %(t)s") % {"t": _fmt_span(seconds)}
    elif seconds <= 4 * 3600:
        css, text = "due-today", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    elif seconds <= 24 * 3600:
        css, text = "due-soon", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    else:
        css, text = "due-ok", _("剩 %(t)s") % {"t": _fmt_span(seconds)}
    local = timezone.localtime(due)
    return {"css": css, "text": text, "title": f"{label} {local:%Y-%m-%d %H:%M}".strip()}


@register.filter
def action_label(action: str) -> str:
    from kesu.web.labels import action_label as _label

    return _label(action)


@register.filter
def status_label(code: str) -> str:
    from kesu.cases.models import Status

    try:
        return str(Status(code).label)
    except ValueError:
        return code or ""


@register.filter
def level_label(code: str) -> str:
    from kesu.cases.models import Level

    try:
        return str(Level(code).label)
    except ValueError:
        return code or ""


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
