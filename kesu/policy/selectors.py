"""Reads of the policy. The active rules are cached per process and keyed by version."""

from __future__ import annotations

from kesu.org.i18n import localized
from kesu.policy.models import Category, Channel, Policy
from kesu.policy.rules import Rules

_cache: dict[int, Rules] = {}


class NoActivePolicy(RuntimeError):
    pass


def clear_cache() -> None:
    _cache.clear()


def active_policy() -> Policy:
    policy = Policy.objects.filter(is_active=True).only("id", "version").first()
    if policy is None:
        raise NoActivePolicy("no policy is active: run `kesu policy load general`")
    return policy


def rules_for(policy: Policy | int) -> Rules:
    policy_id = policy if isinstance(policy, int) else policy.pk
    rules = _cache.get(policy_id)
    if rules is None:
        obj = (
            policy
            if isinstance(policy, Policy) and "document" in policy.__dict__
            else Policy.objects.get(pk=policy_id)
        )
        rules = Rules(obj.document, obj.version)
        _cache[policy_id] = rules
    return rules


def active_rules() -> Rules:
    return rules_for(active_policy())


def category_by_code(code: str) -> Category | None:
    return Category.objects.filter(code=code, is_active=True).first()


def channel_by_code(code: str) -> Channel | None:
    return Channel.objects.filter(code=code, is_active=True).first()


def category_choices() -> list[tuple[str, str, int]]:
    """(code, name in the active language, depth) of the active categories in tree order (filters)."""
    rows = (
        Category.objects.filter(is_active=True)
        .order_by("path")
        .values_list("code", "name", "name_en", "depth")
    )
    return [(code, localized(name, name_en), depth) for code, name, name_en, depth in rows]
