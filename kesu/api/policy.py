"""API endpoints of kesu.policy (mounted under /api/v1/policy by kesu/api.py): read-only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from kesu.policy.models import Category, Channel, Policy
from kesu.policy.selectors import active_policy

router = Router(tags=["policy"])


class PolicyOut(Schema):
    code: str
    name: str
    version: int
    layers: list[Any]
    created_at: Any
    document: dict[str, Any]


class CategoryOut(Schema):
    code: str
    name: str
    name_en: str = Field("", description="英文名称（为空时显示中文名称）")
    parent: str | None
    depth: int
    path: str
    department_code: str
    is_leaf: bool


class ChannelOut(Schema):
    code: str
    name: str
    name_en: str = Field("", description="英文名称（为空时显示中文名称）")
    is_crisis: bool


@router.get("", response=PolicyOut, summary="当前生效的规则（含版本）", operation_id="get_policy")
def get_policy(request: HttpRequest):
    policy = Policy.objects.get(pk=active_policy().pk)
    return {
        "code": policy.code,
        "name": policy.name,
        "version": policy.version,
        "layers": policy.layers,
        "created_at": policy.created_at,
        "document": policy.document,
    }


@router.get(
    "/categories",
    response=list[CategoryOut],
    summary="投诉分类（树，按路径排序）",
    operation_id="list_categories",
)
def list_categories(request: HttpRequest):
    items = list(Category.objects.filter(is_active=True).select_related("parent").order_by("path"))
    parents = {c.parent_id for c in items if c.parent_id}
    return [
        {
            "code": c.code,
            "name": c.name,
            "name_en": c.name_en,
            "parent": c.parent.code if c.parent_id else None,
            "depth": c.depth,
            "path": c.path,
            "department_code": c.department_code,
            "is_leaf": c.pk not in parents,
        }
        for c in items
    ]


@router.get("/channels", response=list[ChannelOut], summary="投诉渠道", operation_id="list_channels")
def list_channels(request: HttpRequest):
    return list(Channel.objects.filter(is_active=True).order_by("code"))
