"""API endpoints of kesu.org (mounted under /api/v1/org by kesu/api.py): read-only."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema

from kesu.org.models import Department
from kesu.org.selectors import role_labels, staff_of, user_roles

router = Router(tags=["org"])


class DepartmentOut(Schema):
    code: str
    name: str
    name_en: str = Field("", description="英文名称（为空时显示中文名称）")
    kind: str
    parent: str | None
    path: str
    region: str


class RoleOut(Schema):
    code: str
    label: str


class MeOut(Schema):
    id: int
    username: str
    name: str
    email: str
    roles: list[RoleOut]
    department: DepartmentOut | None
    supervisor: str | None
    auth: str


def _department(d: Department) -> dict:
    return {
        "code": d.code,
        "name": d.name,
        "name_en": d.name_en,
        "kind": d.kind,
        "parent": d.parent.code if d.parent_id else None,
        "path": d.path,
        "region": d.region,
    }


@router.get(
    "/departments",
    response=list[DepartmentOut],
    summary="部门（树，按路径排序）",
    operation_id="list_departments",
)
def list_departments(request: HttpRequest):
    return [
        _department(d)
        for d in Department.objects.filter(is_active=True).select_related("parent").order_by("path")
    ]


@router.get("/me", response=MeOut, summary="当前用户、角色与部门", operation_id="get_me")
def me(request: HttpRequest):
    user = request.auth
    staff = staff_of(user)
    labels = role_labels()
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.get_full_name() or user.username,
        "email": user.email,
        "roles": [{"code": code, "label": labels.get(code, code)} for code in sorted(user_roles(user))],
        "department": _department(staff.department) if staff else None,
        "supervisor": staff.supervisor.user.username if staff and staff.supervisor_id else None,
        "auth": "token" if getattr(request, "api_token", None) else "session",
    }
