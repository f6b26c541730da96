"""Reads of the policy. The active rules are cached per process and keyed by version."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connection

from kesu.org import roles
from kesu.org.i18n import localized
from kesu.org.selectors import org_stamp_sql
from kesu.org.stamps import read_token, stamp_sql
from kesu.policy.models import Category, Channel, Policy, TaxonomyStamp
from kesu.policy.rules import Rules

_cache: dict[int, Rules] = {}
# The active policy as this process last saw it, keyed by (id, version): what `active_policy` returns
# while the database still names it active.
_active: dict[tuple[int, int], Policy] = {}
# Every role a whistle-blowing report may have been routed to, as of the active policy's (id, version).
_recipients: dict[tuple[int, int], frozenset[str]] = {}


class NoActivePolicy(RuntimeError):
    pass


def clear_cache() -> None:
    _cache.clear()
    _active.clear()
    _recipients.clear()
    with _taxonomy_lock:
        _taxonomy.clear()


def _active_row() -> tuple[int, int, int | None] | None:
    """(id, version) of the active policy and the taxonomy's token: the validity checks of the
    per-process caches (the policy, `taxonomy`).

    One indexed read of three integers (the partial unique index `one_active_policy`, the stamp's
    primary key), sent without the ORM's query compilation: it runs on every registration and sees an
    activation or a taxonomy edit made by any process (another worker, the CLI, the admin, a test's
    rollback) at once, which a per-process invalidation could not.
    """
    table = connection.ops.quote_name(Policy._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, version, {taxonomy_stamp_sql()} FROM {table} WHERE is_active = %s LIMIT 1", [True]
        )
        row = cursor.fetchone()
    return (row[0], row[1], row[2]) if row else None


def _policy_for(row: tuple[int, int, int | None] | None) -> Policy:
    if row is None:
        raise NoActivePolicy("no policy is active: run `kesu policy load general`")
    key = (row[0], row[1])
    policy = _active.get(key)
    if policy is None:
        policy = Policy.objects.get(pk=key[0])
        _active.clear()  # one entry: the versions before it are no longer active
        _active[key] = policy
        _cache.setdefault(policy.pk, Rules(policy.document, policy.version))
    return policy


def active_policy() -> Policy:
    """The active policy version (a shared instance: read it, never change it)."""
    return _policy_for(_active_row())


def active_policy_and_taxonomy() -> tuple[Policy, Taxonomy]:
    """The active policy and the active categories and channels, checked by one read (registration)."""
    row = _active_row()
    policy = _policy_for(row)
    return policy, taxonomy(row[2] if row else None)


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


def report_recipient_roles() -> frozenset[str]:
    """Every role a whistle-blowing report about senior management may have been routed to: the
    chairman (the rules' default) and the recipient each policy version names. A routed report keeps its
    role when a later version names another, and that role's holders still read it
    (`kesu.cases.permissions`), so the current version's recipient alone is not enough.

    Cached per process by the active policy's (id, version): reports are routed under the active policy
    only, so any version that routed one was active before the present one, whose activation changed
    the key. One small read of a JSON key per activation.
    """
    policy = active_policy()
    key = (policy.pk, policy.version)
    found = _recipients.get(key)
    if found is None:
        named = Policy.objects.values_list("document__whistleblowing__senior_management_recipient", flat=True)
        found = frozenset({roles.CHAIRMAN, *(r for r in named if isinstance(r, str) and r)})
        _recipients.clear()
        _recipients[key] = found
    return found


@dataclass(frozen=True)
class Taxonomy:
    """The active categories and channels by code, as of one stamp token (shared: read, never change)."""

    token: int
    categories: dict[str, Category]
    channels: dict[str, Channel]


_taxonomy: dict[str, Taxonomy] = {}
_taxonomy_lock = threading.Lock()


def taxonomy_stamp_sql() -> str:
    """The scalar subquery of the taxonomy's token, for a caller that folds it into its own raw read."""
    return stamp_sql(TaxonomyStamp)


def taxonomy_token() -> int | None:
    """The taxonomy's current token: one primary-key read of one integer (None without the stamp row)."""
    return read_token(TaxonomyStamp)


def stamps() -> tuple[int | None, int | None]:
    """(taxonomy token, organisation token) in one round trip: a page that needs both (the queue: its
    filters' taxonomy and its bulk bar's pickers, kesu.org.models.OrgStamp) reads them together."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {taxonomy_stamp_sql()}, {org_stamp_sql()}")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, None)


_UNREAD = -1


def taxonomy(token: int | None = _UNREAD) -> Taxonomy:
    """The active categories and channels, cached per process while the stamp's token is unchanged.

    Every writer of a category or a channel changes the token (kesu.policy.services.bump_taxonomy, also on
    the model's post_save/post_delete, which the admin goes through), so another process's edit is seen
    at the next call. `token`: the caller's read of it (`taxonomy_stamp_sql` in its own query; None:
    no stamp row).
    """
    token = taxonomy_token() if token == _UNREAD else token
    if token is None:  # no stamp row (a flushed test database): nothing to key a cache on
        return _read_taxonomy(0)
    with _taxonomy_lock:
        hit = _taxonomy.get("active")
    if hit is not None and hit.token == token:
        return hit
    fresh = _read_taxonomy(token)
    with _taxonomy_lock:
        _taxonomy["active"] = fresh
    return fresh


def _read_taxonomy(token: int) -> Taxonomy:
    return Taxonomy(
        token=token,
        categories={c.code: c for c in Category.objects.filter(is_active=True)},
        channels={c.code: c for c in Channel.objects.filter(is_active=True)},
    )


def category_by_code(code: str) -> Category | None:
    """An active category (a shared cached instance: read it, never change it)."""
    return taxonomy().categories.get(code)


def channel_by_code(code: str) -> Channel | None:
    """An active channel (a shared cached instance: read it, never change it)."""
    return taxonomy().channels.get(code)


def category_choices(tax: Taxonomy | None = None) -> list[tuple[str, str, int]]:
    """(code, name in the active language, depth) of the active categories in tree order (filters).

    From the per-process `taxonomy` (one read of its token; `tax`: the caller's), not a query of the
    table on every page."""
    categories = sorted((tax or taxonomy()).categories.values(), key=lambda c: c.path)
    return [(c.code, localized(c.name, c.name_en), c.depth) for c in categories]


def channel_choices(tax: Taxonomy | None = None) -> list[tuple[str, str]]:
    """(code, name in the active language) of the active channels by code (filters), from `taxonomy`."""
    channels = sorted((tax or taxonomy()).channels.items())
    return [(c.code, localized(c.name, c.name_en)) for _code, c in channels]
