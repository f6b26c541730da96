"""The left navigation of the workbench.

Every entry is registered here, the analytics pages' included (web sits above the apps whose pages it
links; no app below imports web)::

    register_nav_item("analytics", _("统计分析"), "analytics:dashboard", roles={"analyst", "supervisor"})

Templates extending ``web/base.html`` may also fill ``{% block nav_extra %}``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django.template.loader import get_template
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from kesu.intake.services import INTAKE_ROLES
from kesu.org import roles as R


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url_name: str
    roles: frozenset[str] = field(default_factory=frozenset)  # empty = every signed-in user
    section: str = "main"  # "main" (work) or "more" (tools, reports, admin)
    order: int = 100


_ITEMS: dict[str, NavItem] = {}

# The rendered navigation per (roles, staff flag, language, URL prefix and conf, highlighted entry): it
# depends on nothing else (no organisation or taxonomy data: the entries are code, the user's roles come
# with the request), so a process renders each combination once. Bounded: the highlighted entry is one of
# the registered keys or URLs, or nothing. Cleared when an entry is registered.
_rendered: dict[tuple, SafeString] = {}
_paths: dict[tuple, frozenset[str]] = {}  # per (roles, staff, language, prefix, conf): the entries' URLs
_rendered_lock = threading.Lock()


def register_nav_item(
    key: str,
    label,
    url_name: str,
    *,
    roles: set[str] | frozenset[str] | None = None,
    section: str = "more",
    order: int = 100,
) -> None:
    """Add (or replace) a navigation entry. `url_name` is reversed lazily (no args)."""
    _ITEMS[key] = NavItem(key, label, url_name, frozenset(roles or ()), section, order)
    with _rendered_lock:
        _rendered.clear()
        _paths.clear()


def items_for(user_roles: frozenset[str], is_staff: bool = False) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"main": [], "more": []}
    for item in sorted(_ITEMS.values(), key=lambda i: (i.order, i.key)):
        if item.roles and not (item.roles & user_roles) and not (is_staff and "admin" in item.roles):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        out.setdefault(item.section, []).append({"key": item.key, "label": item.label, "url": url})
    return out


# The workbench's own entries.
register_nav_item("home", _("工作台"), "web:home", section="main", order=10)
register_nav_item("intake", _("受理登记"), "web:intake", roles={R.INTAKE, R.ADMIN}, section="main", order=20)
register_nav_item("queue_mine", _("我的案件"), "web:queue_mine", section="main", order=30)
register_nav_item("queue_dept", _("本部门案件"), "web:queue_dept", section="main", order=31)
register_nav_item(
    "queue_unassigned",
    _("待分派"),
    "web:queue_unassigned",
    roles={R.DEPT_HEAD, R.SUPERVISOR, R.INTAKE, R.ADMIN, R.CS_MANAGER},
    section="main",
    order=32,
)
register_nav_item(
    "queue_approvals",
    _("待我审批"),
    "web:queue_approvals",
    roles={R.DEPT_HEAD, R.SUPERVISOR, R.CS_MANAGER, R.GENERAL_MANAGER, R.ADMIN},
    section="main",
    order=33,
)
register_nav_item("queue_collab", _("协办请求"), "web:queue_collab", section="main", order=34)
register_nav_item(
    "queue_followups",
    _("待回访"),
    "web:queue_followups",
    roles={R.FOLLOWUP, R.ADMIN},
    section="main",
    order=35,
)
register_nav_item("queue_panels", _("我的合议"), "web:queue_panels", section="main", order=36)
register_nav_item(
    "queue_to_archive",
    _("待归档"),
    "web:queue_to_archive",
    roles={R.ARCHIVIST, R.ADMIN},
    section="main",
    order=37,
)
register_nav_item(
    "queue_access", _("调阅申请"), "web:queue_access", roles={R.ARCHIVIST, R.ADMIN}, section="main", order=38
)
register_nav_item("queue_all", _("案件查询"), "web:queue_all", section="main", order=40)
register_nav_item("typical_cases", _("典型案例库"), "web:typical_cases", section="more", order=45)
register_nav_item(
    "regulator_submissions",
    _("监管报送登记"),
    "web:regulator_submissions",
    roles={R.RISK, R.ARCHIVIST},
    section="more",
    order=46,
)
register_nav_item(
    "board",
    _("督办看板"),
    "web:board",
    roles={R.SUPERVISOR, R.CS_MANAGER, R.GENERAL_MANAGER, R.DEPT_HEAD, R.ADMIN},
    section="more",
    order=50,
)
register_nav_item(
    "imports",
    _("数据导入"),
    "web:imports",
    roles=INTAKE_ROLES,  # who may import (the import API's roles)
    section="more",
    order=55,
)
# The analytics pages (kesu.analytics.urls, mounted at /analytics/).
_ANALYSTS = {R.ANALYST, R.SUPERVISOR, R.CS_MANAGER, R.GENERAL_MANAGER, R.DEPT_HEAD, R.ADMIN}
register_nav_item("analytics", _("统计分析"), "analytics:dashboard", roles=_ANALYSTS, order=60)
register_nav_item("analytics_kpis", _("考核指标"), "analytics:kpis", roles=_ANALYSTS, order=61)
register_nav_item("analytics_hotspots", _("热点分析"), "analytics:hotspots", roles=_ANALYSTS, order=62)
register_nav_item("analytics_measures", _("整改措施"), "analytics:measures", roles=_ANALYSTS, order=63)
register_nav_item("analytics_reports", _("分析报告"), "analytics:reports", roles=_ANALYSTS, order=64)
register_nav_item("admin", _("系统管理"), "admin:index", roles={R.ADMIN}, section="more", order=900)


def render_for(
    user_roles: frozenset[str], is_staff: bool = False, *, current: str = "", nav_active: str = ""
) -> SafeString:
    """The sidebar's HTML (web/_nav.html) for a user with these roles on the page at `current`,
    rendered once per process per combination (see `_rendered`)."""
    base = (user_roles, is_staff, get_language(), get_script_prefix(), get_urlconf())
    with _rendered_lock:
        urls = _paths.get(base)
    if urls is None:
        # Only these paths highlight an entry; any other renders as "no entry highlighted by path".
        urls = frozenset(it["url"] for section in items_for(user_roles, is_staff).values() for it in section)
        with _rendered_lock:
            _paths[base] = urls
    key = (*base, current if current in urls else "", nav_active)
    with _rendered_lock:
        hit = _rendered.get(key)
    if hit is not None:
        return hit
    html = get_template("web/_nav.html").render(
        {"items": items_for(user_roles, is_staff), "current": current, "nav_active": nav_active}
    )
    html = mark_safe(html)  # noqa: S308 - the template's own output, escaped by it
    with _rendered_lock:
        _rendered[key] = html
    return html
