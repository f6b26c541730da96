"""Reads of the policy. The active rules are cached per process and keyed by version."""

from __future__ import annotations

from django.db import connection

from kesu.org.i18n import localized
from kesu.policy.models import Category, Channel, Policy
from kesu.policy.rules import Rules

_cache: dict[int, Rules] = {}
# The active policy as this process last saw it, keyed by (id, version): what `active_policy` returns
# while the database still names it active.
_active: dict[tuple[int, int], Policy] = {}


class NoActivePolicy(RuntimeError):
    pass


def clear_cache() -> None:
    _cache.clear()
    _active.clear()


def _active_key() -> tuple[int, int] | None:
    """(id, version) of the active policy: the validity check of the per-process cache.

    One indexed read of two integers (the partial unique index `one_active_policy`), sent without the
    ORM's query compilation: it runs on every registration and sees an activation made by any process
    (another worker, the CLI, a test's rollback) at once, which a per-process invalidation could not.
    """
    table = connection.ops.quote_name(Policy._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, version FROM {table} WHERE is_active = %s LIMIT 1", [True])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def active_policy() -> Policy:
    """The active policy version (a shared instance: read it, never change it)."""
    key = _active_key()
    if key is None:
        raise NoActivePolicy("no policy is active: run `kesu policy load general`")
    policy = _active.get(key)
    if policy is None:
        policy = Policy.objects.get(pk=key[0])
        _active.clear()  # one entry: the versions before it are no longer active
        _active[key] = policy
        _cache.setdefault(policy.pk, Rules(policy.document, policy.version))
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
