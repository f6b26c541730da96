"""Template helpers of the workbench: navigation, roles, countdowns."""

from __future__ import annotations

from django import template

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
